"""config/methods.yaml - the MLP beside every reference method (BDT and a sweep over its depth, random forest,
Fisher, likelihood, k-NN) on the physics toy and iris - through the real Snakemake and the real DVC (each with its
warm worker, tracking online into each project's own store): every method trains and evaluates in both, to the
same bytes; its MLflow run holds the model in the sklearn flavour (skops) with a signature; each dataset's page
says which method is best with error bars. test_dag_equality proves both engines build the same graph."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from mlbasics.core.files import read_csv
from mlbasics.methods import registry as method_rules
from mlbasics.params import config
from mlbasics.pipeline import declarations as stages
from tests.helpers import ROOT, VENV_BIN, copy_project, deep_merge, git_init, load_default_params, run

pytestmark = pytest.mark.engine
DVC = [str(VENV_BIN / "python"), "-m", "mlbasics", "worker", "--", str(VENV_BIN / "dvc"), "repro"]
TINY = {  # small and quick: the point is that every method runs, not how well
    "datasets": {
        "hep": {"options": {"n_events": 600}, "model": {"epochs": 3}},
        "iris": {"model": {"hidden_layers": [8], "epochs": 3}},
    },
    "variants": {"bdt-depth": {"sweep": {"bdt.max_depth": [2, 6]}}},
    "gates": {
        "hep": {"roc_auc": {"min": 0.0}, "sig_eff_at_bkg_0p10": {"min": 0.0}},
        "iris": {"accuracy": {"min": 0.0}},
    },
}
for _name in ("hep", "iris"):
    TINY["datasets"][_name]["model"].update(bdt={"max_iter": 15}, random_forest={"n_estimators": 20})


def methods_params() -> dict:
    methods = yaml.safe_load((ROOT / "config" / "methods.yaml").read_text())
    params = deep_merge(deep_merge(load_default_params(), methods), TINY)
    params["apply"] = {}  # applying is tested on its own (test_apply, test_snakemake, test_dvc): not twice more here
    return params


@pytest.fixture(scope="module")
def engines(tmp_path_factory) -> tuple[Path, Path]:
    params = methods_params()
    snakemake = copy_project(tmp_path_factory.mktemp("methods-snakemake") / "project", params)
    run([sys.executable, "-m", "snakemake", "--cores", "2"], cwd=snakemake, timeout=900)
    dvc = git_init(copy_project(tmp_path_factory.mktemp("methods-dvc") / "project", params))
    run(DVC, cwd=dvc, timeout=900)
    return snakemake, dvc


def test_the_methods_config_runs_every_method_on_both_datasets():
    params = config.validate_params(methods_params())
    grid = config.grid(params)
    assert {config.model_spec(params, d, v)["method"] for d, v in grid} == set(method_rules.METHODS)
    assert {d for d, _ in grid} == {"hep", "iris"} and len(grid) == 2 * 9


def test_every_method_trains_and_evaluates_in_both_engines_to_the_same_bytes(engines):
    snakemake, dvc = engines
    params = config.load_params(snakemake / "params.yaml")
    for d, v in config.grid(params):
        method = config.model_spec(params, d, v)["method"]
        for template in (stages.HISTORY, stages.PREDICTIONS, stages.IMPORTANCE, stages.CONFUSION):
            rel = template.format(dataset=d, variant=v)
            assert (snakemake / rel).read_bytes() == (dvc / rel).read_bytes(), rel
        rel = stages.METRICS.format(dataset=d, variant=v)
        numbers = [
            {k: x for k, x in json.loads((root / rel).read_text()).items() if isinstance(x, float)}
            for root in (snakemake, dvc)
        ]
        headline = "roc_auc" if d == "hep" else "accuracy"  # the bootstrap's first number, with its interval
        assert numbers[0] == numbers[1] and {headline, f"{headline}_ci_lo", f"{headline}_ci_hi"} <= set(numbers[0])
        model = Path(stages.MODEL.format(dataset=d, variant=v))
        if method != "mlp":  # the reference methods' files are canonical: the same bytes
            assert (snakemake / model / "model.skops").read_bytes() == (dvc / model / "model.skops").read_bytes()
        history = read_csv(snakemake / stages.HISTORY.format(dataset=d, variant=v))
        assert len(history) == {"mlp": 3, "bdt": 15}.get(method, 1), (d, v)  # a row per epoch / boosting iteration
        importance = read_csv(snakemake / rel.replace("metrics.json", "importance.csv"))
        assert bool(importance) == (method in ("bdt", "random_forest", "fisher")), (d, v)


def test_mlflow_holds_every_method_as_a_model_of_raw_inputs_giving_its_scores(engines):
    """Every method's run holds a pyfunc model that takes the raw inputs - the test events read again from the
    hep toy's ntuples by (file, entry) - and gives the scores the evaluation used (a classifier's scores, not
    labels); the method's own file travels inside it."""
    import mlflow
    import pandas as pd
    import uproot
    from mlflow import MlflowClient

    from mlbasics.data import preprocess, root_files

    snakemake, _ = engines
    params = config.load_params(snakemake / "params.yaml")
    uri = f"sqlite:///{snakemake / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(params["tracking"]["experiment"]).experiment_id
    runs = {
        (r.data.tags["dataset"], r.data.tags["variant"]): r
        for r in client.search_runs([experiment])
        if r.data.tags.get("mlbasics.role") == "variant"
    }
    assert set(runs) == set(config.grid(params))
    mlflow.set_tracking_uri(uri)
    split = preprocess.load(snakemake / stages.PROCESSED.format(dataset="hep"))
    trees = {}
    for name in split.origin_files:
        read = uproot.open(snakemake / name)["events"].arrays(["var1", "var2", "var3", "var4", "jet_pt"], library="np")
        trees[name] = root_files.input_columns(read, split.feature_names, name)
    raw = np.array([trees[name][entry] for name, entry in split.origin("test")])
    for variant in ("bdt", "fisher", "knn", "likelihood", "random_forest", "baseline"):
        info = mlflow.models.get_model_info(f"runs:/{runs[('hep', variant)].info.run_id}/model")
        assert "python_function" in info.flavors and info.signature.inputs.input_names() == split.feature_names
        served = mlflow.pyfunc.load_model(info.model_uri)
        predicted = served.predict(pd.DataFrame(raw, columns=split.feature_names))
        with np.load(snakemake / stages.SCORES.format(dataset="hep", variant=variant)) as scores:
            np.testing.assert_allclose(predicted.to_numpy(), scores["test"], rtol=0, atol=1e-6, err_msg=variant)


def test_each_page_says_which_method_is_best_with_error_bars(engines):
    snakemake, _ = engines
    for dataset, headline in (("hep", "ROC AUC"), ("iris", "accuracy")):
        verdicts = json.loads((snakemake / stages.VERDICTS.format(dataset=dataset)).read_text())
        ranked = verdicts["methods"]["ranking"]
        assert {m["method"] for m in ranked} == set(method_rules.METHODS)
        assert all(None not in m[f"{h}_ci"] for m in ranked for h in verdicts["methods"]["headlines"])
        page = (snakemake / stages.DATASET_PAGE.format(dataset=dataset)).read_text()
        assert "Methods compared: is the network better than a BDT?" in page
        assert (
            verdicts["methods"]["sentence"].startswith(f"Best method: {ranked[0]['name']}")
            and headline in verdicts["methods"]["sentence"]
        )
        assert (
            "<th>bdt: split gain (TMVA's BDT ranking)</th>" in page
            and "<th>fisher: Fisher coefficient x input spread" in page
        )
        assert "Fitted in one step, without a learning curve: " in page
        # the comparison states what each method ran with (the BDT's TMVA-like keys), and every verdict its reason
        trees = next(m for m in ranked if m["method"] == "bdt")
        assert trees["settings"].startswith("max_iter 15, learning_rate 0.1, max_depth ")
        assert f'<td class="settings">{trees["settings"]}</td>' in page
        assert all(bool(j["reason"]) == (j["verdict"] != "ok") for j in verdicts["verdicts"].values())
    index = (snakemake / stages.INDEX).read_text()
    assert index.count("Best method: ") == 2
