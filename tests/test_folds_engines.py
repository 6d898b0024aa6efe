"""k-fold training through the real engines: the hep toy (folds by its eventNumber branch) and an own table like
MAGIC's gamma telescope data (folds by its event column), each with its own `split: {folds: 5, fold_by: ...}`;
Snakemake and DVC (each with its warm worker, tracking into the project's own
store) build the same graph and write the same bytes; every event gets exactly one out-of-fold score; the pooled
numbers, their spread over folds and the KS check per fold are in metrics.json, MLflow and the page; apply by
fold gives every simulated event the out-of-fold score the evaluation used."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import uproot
from mlflow import MlflowClient

from mlbasics.data import arrays as raw_data
from tests.helpers import VENV_BIN, copy_project, deep_merge, git_init, load_default_params, run
from tests.test_dag_equality import dvc_jobs, snakemake_jobs

pytestmark = pytest.mark.engine
DVC = [str(VENV_BIN / "python"), "-m", "mlbasics", "worker", "--", str(VENV_BIN / "dvc"), "repro"]
FOLDED = ("hep", "magic")


def write_magic_like(path: Path, n: int = 600, seed: int = 3) -> None:
    """A table in the MAGIC gamma telescope's layout: shower-image features, class g (gamma) or h (hadron), and
    an event number."""
    rng = np.random.default_rng(seed)
    gamma = rng.random(n) < 0.6
    length = np.where(gamma, rng.gamma(3.0, 12.0, n), rng.gamma(3.0, 20.0, n))
    width = np.where(gamma, rng.gamma(2.0, 6.0, n), rng.gamma(2.0, 11.0, n))
    alpha = np.where(gamma, np.abs(rng.normal(0, 15, n)), rng.uniform(0, 90, n))
    table = pd.DataFrame({"fLength": length, "fWidth": width, "fAlpha": alpha, "fSize": rng.normal(2.8, 0.5, n)})
    table["class"] = np.where(gamma, "g", "h")
    table["event"] = rng.permutation(np.arange(10_000, 10_000 + n))
    table.to_csv(path, index=False)


def folds_params() -> dict:
    params = deep_merge(
        load_default_params(),
        {
            "run": {"datasets": ["hep", "magic"], "variants": ["baseline"]},  # hep's an MLP, the table's a BDT
            "datasets": {
                "hep": {
                    "options": {"n_events": 600},
                    "model": {"hidden_layers": [8], "epochs": 4, "bdt": {"max_iter": 15}},
                    "split": {"folds": 5, "fold_by": "eventNumber"},
                },
            },
            "tracking": {"mode": "offline"},
        },
    )
    params["datasets"]["magic"] = {
        "loader": "table",
        "options": {"path": "magic.csv", "label": "class"},
        "preprocess": {"scaler": "standard"},
        "model": {"method": "bdt", "bdt": {"max_iter": 15}},
        "split": {"folds": 5, "fold_by": "event"},
    }
    params["gates"] = {}
    params["variants"] = {"baseline": {}}  # every variant defined must suit every dataset: the table's is a BDT
    params["apply"] = {
        "simulated": {
            "dataset": "hep",
            "variants": ["baseline"],
            "files": ["data/raw/hep/signal.root", "data/raw/hep/background.root"],
            "folds": "by_fold",
        }
    }
    return params


def project(folder: Path) -> Path:
    made = copy_project(folder, folds_params())
    write_magic_like(made / "magic.csv")
    return git_init(made)


@pytest.fixture(scope="module")
def engines(tmp_path_factory) -> tuple[Path, Path]:
    snakemake = project(tmp_path_factory.mktemp("folds-snakemake") / "project")
    dvc = project(tmp_path_factory.mktemp("folds-dvc") / "project")
    assert snakemake_jobs(snakemake) == dvc_jobs(dvc)  # the same graph, the per-fold jobs included
    run([sys.executable, "-m", "snakemake", "--cores", "2"], cwd=snakemake, timeout=900)
    run(DVC, cwd=dvc, timeout=900)
    return snakemake, dvc


def test_one_training_job_per_fold_and_the_same_bytes_in_both_engines(engines):
    snakemake, dvc = engines
    for d in FOLDED:
        for v in ("baseline",):
            for i in range(5):
                assert (snakemake / f"logs/train/{d}/{v}/fold-{i}.log").is_file()
                assert sorted(p.name for p in (dvc / f"models/{d}/{v}/model").iterdir())[i] == f"fold-{i}"
            for rel in (
                f"reports/{d}/{v}/metrics.json",
                f"reports/{d}/{v}/predictions.csv",
                f"models/{d}/{v}/history.csv",
            ):
                assert (snakemake / rel).read_bytes() == (dvc / rel).read_bytes(), rel
            for i in (0, 4):
                rel = f"models/{d}/{v}/fold-{i}/scores.npz"
                assert (snakemake / rel).read_bytes() == (dvc / rel).read_bytes(), rel


def test_every_event_has_exactly_one_out_of_fold_score(engines):
    snakemake, _ = engines
    raw = raw_data.load(snakemake / "data/raw/hep.npz")
    for v in ("baseline",):
        predictions = pd.read_csv(snakemake / f"reports/hep/{v}/predictions.csv")
        events = set(zip(predictions.file, predictions.entry, strict=True))
        assert len(predictions) == len(events) == len(raw.y)  # every event once
    magic = pd.read_csv(snakemake / "reports/magic/baseline/predictions.csv")
    assert len(magic) == len(pd.read_csv(snakemake / "magic.csv"))


def test_pooled_numbers_their_fold_spread_and_the_ks_per_fold_in_metrics_mlflow_and_the_page(engines):
    snakemake, _ = engines
    client = MlflowClient(f"sqlite:///{snakemake / 'mlflow.db'}")
    runs = {r.info.run_name: r for r in client.search_runs([client.get_experiment_by_name("mlbasics").experiment_id])}
    for d in FOLDED:
        metrics = json.loads((snakemake / f"reports/{d}/baseline/metrics.json").read_text())
        assert metrics["n_folds"] == 5 and metrics["roc_auc_fold_std"] > 0
        assert abs(metrics["roc_auc_fold_mean"] - metrics["roc_auc"]) < 0.05  # the pooled AUC and the folds' mean
        classes = ("background", "signal") if d == "hep" else ("g", "h")
        assert all(0 <= metrics[f"ks_p_{c}_fold_{i}"] <= 1 for c in classes for i in range(5))
        logged = runs[f"{d}/baseline"].data.metrics
        assert logged["test/roc_auc_fold_std"] == pytest.approx(metrics["roc_auc_fold_std"])  # test/: its metrics
        page = (snakemake / f"reports/{d}/index.html").read_text()
        assert "Overtraining check per fold" in page and "over 5 folds" in page and "fold 4, KS p" in page


def test_apply_by_fold_gives_each_simulated_event_its_out_of_fold_score(engines):
    snakemake, _ = engines
    for v in ("baseline",):
        predictions = pd.read_csv(snakemake / f"reports/hep/{v}/predictions.csv")
        for name in ("signal.root", "background.root"):
            friend = uproot.open(snakemake / f"data/applied/simulated/{name}")["events"].arrays(library="np")
            mine = predictions[predictions.file.str.endswith(name)]
            scores = friend[f"score_{v}"][mine.entry.to_numpy()]
            np.testing.assert_allclose(scores, mine.response.to_numpy(), rtol=0, atol=1e-6, err_msg=f"{v} {name}")
