"""config/model-space.yaml names every option of the model space (activations, optimizers, schedules,
initialisers, dropout per layer, L2, early stopping, scalers, regression, sweeps, warm start, the NumPy
backend); it runs through the real Snakemake and the real DVC (tiny epochs, shortened sweeps). Every variant runs
through each engine; the datasets are shared out (Snakemake: the binary one with PCA whitening, DVC: the
regression one with log scaling) - jobs cost a TensorFlow import each - and test_dag_equality proves the two
engines build the same graph for the whole config."""

from __future__ import annotations

import json
import sys

import pytest
import yaml

from mlbasics.params import config
from mlbasics.pipeline import declarations as stages
from tests.helpers import ROOT as REPO
from tests.helpers import VENV_BIN, copy_project, deep_merge, git_init, load_default_params, run

pytestmark = pytest.mark.engine
MODEL_SPACE = yaml.safe_load((REPO / "config" / "model-space.yaml").read_text())
TINY = {
    "datasets": {
        name: {"model": {"hidden_layers": [8, 8], "epochs": 2, "batch_size": 64}}
        for name in ("gaussians", "iris", "wave")
    },
    "variants": {  # sgd, rmsprop, adam and the plain activations are covered by the other variants
        "activations": {"sweep": {"activation": ["linear", "leaky_relu", "swish", "elu"]}},
        "optimizers": {"sweep": {"optimizer": ["adagrad", "adadelta", "ftrl"]}},
    },
    # two epochs do not reach the config's gates; the check stage still runs every gate (and passes)
    "gates": {
        "gaussians": {"accuracy": {"min": 0.0}},
        "iris": {"accuracy": {"min": 0.0}},
        "wave": {"r2": {"min": -1e9}},
    },
}


def model_space(datasets: list[str]) -> dict:
    params = deep_merge(deep_merge(load_default_params(), MODEL_SPACE), TINY)
    params["run"]["datasets"] = datasets
    params["datasets"]["wave"]["options"]["n_samples"] = 400
    # the jobs only record their runs and the track stage imports them in one process: logging a model costs
    # seconds the first time in a process, and tracking is tested on its own (test_tracking*, test_dvc)
    params["tracking"]["mode"] = "offline"
    return params


def test_the_model_space_config_names_every_option():
    params = config.validate_params(deep_merge(load_default_params(), MODEL_SPACE))
    specs = [config.model_spec(params, d, v) for d, v in config.grid(params)]
    named = {key: {json.dumps(s[key], sort_keys=True) for s in specs} for key in specs[0]}
    assert {"linear", "sigmoid", "tanh", "relu", "leaky_relu", "swish", "elu"} <= {
        json.loads(a) for a in named["activation"]
    }
    assert {json.loads(o) for o in named["optimizer"]} == {"sgd", "adagrad", "rmsprop", "adam", "adadelta", "ftrl"}
    assert {json.loads(i) for i in named["initializer"]} == {
        "glorot_uniform",
        "glorot_normal",
        "he_normal",
        "random_normal",
        "random_uniform",
    } | {"glorot_uniform"}
    assert {json.loads(s)["kind"] for s in named["lr_schedule"] if s != "null"} == {"exponential", "cosine", "step"}
    assert any(json.loads(d) and isinstance(json.loads(d), list) for d in named["dropout"])
    assert "true" in named["nesterov"] and any(s != "null" for s in named["early_stopping"])
    assert '"numpy"' in named["backend"] and '"baseline"' in named["warm_start"]
    scalers = {params["datasets"][d]["preprocess"]["scaler"] for d in params["run"]["datasets"]}
    assert {"pca_whiten", "robust", "log_standard"} <= scalers
    assert "activations-leaky_relu" in config.run_variants(params)


def test_the_model_space_runs_through_snakemake(tmp_path):
    params = model_space(["gaussians"])
    project = copy_project(tmp_path / "project", params)
    run([sys.executable, "-m", "snakemake", "--cores", "2"], cwd=project, timeout=1200)
    validated = config.validate_params(params)
    for d, v in config.grid(validated):
        metrics = json.loads((project / stages.METRICS.format(dataset=d, variant=v)).read_text())
        assert "accuracy" in metrics and "roc_auc" in metrics, (d, v)
    stats = json.loads((project / stages.RUN_STATS.format(dataset="gaussians", variant="baseline")).read_text())
    assert stats["epochs_run"] == 2 and stats["samples_per_s"] > 0


def test_the_model_space_runs_through_dvc(tmp_path):
    project = git_init(copy_project(tmp_path / "project", model_space(["wave"])))
    # with a warm worker around it (DVC has no start hook); its jobs' bytes are compared elsewhere (test_dvc)
    run(
        [str(VENV_BIN / "python"), "-m", "mlbasics", "worker", "--", str(VENV_BIN / "dvc"), "repro"],
        cwd=project,
        timeout=1200,
    )
    status = run([str(VENV_BIN / "dvc"), "status", "--json"], cwd=project)
    assert json.loads(status.stdout) == {}
    grid = config.grid(config.validate_params(model_space(["wave"])))
    stats = [json.loads((project / stages.RUN_STATS.format(dataset=d, variant=v)).read_text()) for d, v in grid]
    assert any(s.get("warm_worker") for s in stats), "the wrapper's worker ran the training jobs"
    for d, v in grid:
        assert "mse" in json.loads((project / stages.METRICS.format(dataset=d, variant=v)).read_text()), (d, v)
