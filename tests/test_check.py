"""Quality gates: the judgement on metrics, the one-line messages, the CLI's exit status, and params errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from mlbasics.core.files import write_json
from mlbasics.params import config
from mlbasics.pipeline import declarations as stages
from mlbasics.report import gates as check
from tests.helpers import copy_project, tiny_params

RUNS = {
    ("iris", "baseline"): {"accuracy": 0.93, "loss_gap_final": 0.05},
    ("iris", "sigmoid"): {"accuracy": 0.71, "loss_gap_final": 0.40},
    ("gaussians", "baseline"): {"accuracy": 0.92, "loss_gap_final": 0.01},
}


def test_judge_applies_each_bound_to_every_run_of_its_dataset():
    gates = {"iris": {"accuracy": {"min": 0.8}, "loss_gap_final": {"max": 0.3}}}
    rows = check.judge(gates, RUNS)
    assert len(rows) == 4, "two gates x two iris runs; gaussians has none"
    failed = [(r["variant"], r["metric"]) for r in rows if not r["passed"]]
    assert failed == [("sigmoid", "accuracy"), ("sigmoid", "loss_gap_final")]
    lines = [check.describe(r) for r in rows if not r["passed"]]
    assert lines == [
        "gate failed: dataset iris, variant sigmoid: accuracy = 0.71, below the minimum 0.8",
        "gate failed: dataset iris, variant sigmoid: loss_gap_final = 0.4, above the maximum 0.3",
    ]


def test_a_metric_missing_from_a_run_fails_its_gate():
    rows = check.judge({"gaussians": {"roc_auc": {"min": 0.5}}}, RUNS)
    assert [r["passed"] for r in rows] == [False]
    assert check.describe(rows[0]).endswith("roc_auc = missing, below the minimum 0.5")


def _metrics_tree(root, runs):
    for (d, v), metrics in runs.items():
        write_json(root / stages.METRICS.format(dataset=d, variant=v), metrics)


@pytest.mark.parametrize("threshold, status", [(0.7, 0), (0.92, 1)])
def test_the_check_command_exits_1_with_one_line_per_violation_and_writes_nothing(tmp_path, threshold, status):
    params = tiny_params()
    params["gates"] = {"iris": {"accuracy": {"min": threshold}}}
    project = copy_project(tmp_path / "project", params)
    grid = config.grid(config.validate_params(params))
    runs = {pair: {"accuracy": 0.8 + 0.05 * i} for i, pair in enumerate(grid)}
    _metrics_tree(project, runs)
    result = subprocess.run(
        [sys.executable, "-m", "mlbasics", "check", "--params", "params.yaml"],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert result.returncode == status, result.stderr
    if status:
        # iris runs score 0.9 and 0.95 (the grid's 3rd and 4th pairs): only the first misses 0.92
        assert result.stderr.splitlines() == [
            "gate failed: dataset iris, variant baseline: accuracy = 0.9, below the minimum 0.92"
        ]
        assert not (project / stages.CHECKS).exists()
    else:
        assert "check: 2 gates passed over 4 runs" in result.stdout
        assert (project / stages.CHECKS).is_file()


@pytest.mark.parametrize(
    "gates, message",
    [
        ({"iris": {"mse": {"max": 1}}}, "gates.iris.mse: not a classification metric"),
        ({"iris": {"accuracy": {"min": 0.9, "max": 0.5}}}, "gates.iris.accuracy: min 0.9 is above max 0.5"),
        ({"nope": {"accuracy": {"min": 0.5}}}, "gates.nope: unknown dataset 'nope'"),
        ({"iris": {"accuracy": {}}}, "gates.iris.accuracy"),
        ({"iris": {"accuracy": {"minimum": 0.5}}}, "gates.iris.accuracy"),
    ],
)
def test_bad_gates_are_refused_with_the_key(gates, message):
    params = yaml.safe_load(yaml.safe_dump(tiny_params()))
    params["gates"] = gates
    with pytest.raises(config.ParamsError, match=message.replace(".", r"\.")):
        config.validate_params(params)


def test_regression_gates_take_regression_metrics():
    params = tiny_params()
    params["datasets"]["wave"] = {"loader": "regression_toy", "options": {}, "preprocess": {}, "model": {}}
    params["gates"] = {"wave": {"r2": {"min": 0.5}, "mae_gap_final": {"max": 0.2}}}
    config.validate_params(params)
    params["gates"] = {"wave": {"accuracy": {"min": 0.5}}}
    with pytest.raises(config.ParamsError, match=r"gates\.wave\.accuracy: not a regression metric"):
        config.validate_params(params)
