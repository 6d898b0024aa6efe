"""The regression task end to end through the real stage code: the generated toy (float targets) gets a
linear output and MSE, regression metrics, a predicted-vs-true figure, and report pages that say so."""

from __future__ import annotations

import json

import pytest

from mlbasics.cli import run_stage
from mlbasics.core import tasks
from mlbasics.data.loaders import embedded
from mlbasics.params import config
from tests.helpers import ROOT, settings_for


def test_the_regression_toy_learns_and_is_reported(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    raw = config.load_params(ROOT / "params.yaml")
    raw["datasets"]["wave"] = {
        "loader": "regression_toy",
        "options": {"n_samples": 1500, "seed": 1},
        "preprocess": {"scaler": "standard"},
        "model": {"hidden_layers": [32, 32], "epochs": 30, "learning_rate": 0.01},
    }
    raw["run"] = {"datasets": ["wave"], "variants": ["baseline"]}
    raw["tracking"] = {"uri": f"sqlite:///{tmp_path}/mlflow.db", "experiment": "regression"}
    params = config.validate_params(raw)
    for stage in ("download", "dataset", "preprocess", "train", "evaluate", "report"):
        run_stage(stage, settings_for(params, stage, "wave", "baseline" if stage in ("train", "evaluate") else None))
    run_stage("summary", settings_for(params, "summary"))

    header = (tmp_path / "models/wave/baseline/history.csv").read_text().splitlines()[0]
    assert header == "epoch,loss,mae,val_loss,val_mae"
    metrics = json.loads((tmp_path / "reports/wave/baseline/metrics.json").read_text())
    assert {"mse", "mae", "r2", "n_test", "mae_gap_final", "overfitting", "underfitting"} <= set(metrics), metrics
    assert metrics["r2"] > 0.9
    assert (tmp_path / "reports/wave/baseline/confusion.png").is_file()  # predicted vs true
    assert (tmp_path / "reports/wave/baseline/confusion.csv").read_text().startswith("true_from,true_to,count")
    assert "lowest test MSE" in (tmp_path / "reports/index.html").read_text()
    assert "val mae" in (tmp_path / "reports/wave/index.html").read_text()


def test_regression_needs_float_targets():
    with pytest.raises(ValueError, match="task: 'regression' does not fit the data, which is binary"):
        tasks.task_for(2, "regression")
    assert tasks.task_for(0) == "regression" and embedded.regression_toy(10).class_names == []
