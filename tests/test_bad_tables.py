"""A user's own table that cannot be trained on is stopped at the dataset or preprocess stage, before any
training, with one line naming the file and the column or class; the corrected table then runs. Float labels
with `task: regression` train a regression (the engine test at the end runs both through Snakemake)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import yaml

from mlbasics import cli
from tests.helpers import copy_project, load_default_params, run

GOOD = "a,b,kind\n" + "".join(f"{i % 7},{i * 0.5},{'sig' if i % 2 else 'bkg'}\n" for i in range(40))


def rows(labels: list[str]) -> str:
    return "a,b,kind\n" + "".join(f"{i},{i % 3},{label}\n" for i, label in enumerate(labels))


def replace_cell(table: str, row: int, column: int, value: str) -> str:
    lines = table.splitlines()
    cells = lines[row + 1].split(",")
    cells[column] = value
    lines[row + 1] = ",".join(cells)
    return "\n".join(lines) + "\n"


# (case, table, options beyond path and label, what the one line must name)
CASES = [
    ("inf", replace_cell(GOOD, 37, 1, "inf"), {}, ["column 'b'", "data row 38", "infinite"]),
    ("overflow", replace_cell(GOOD, 3, 0, "1e300"), {}, ["column 'a'", "data row 4", "overflows float32"]),
    ("five rows", rows(["sig", "bkg", "sig", "bkg", "sig"]), {}, ["class 'bkg' has 2 rows", "at least 5"]),
    ("rare class", rows(["sig", "bkg"] * 20 + ["odd"]), {}, ["class 'odd' has 1 row", "at least 5"]),
    (
        "many classes",
        rows([f"c{k:03d}" for k in range(150)] * 4),
        {},
        ["has 4 rows (149 more classes have fewer than 5)"],
    ),
    ("unique labels", rows([f"event{k}" for k in range(60)]), {}, ["has 1 row (59 more classes"]),
    ("single class", rows(["sig"] * 30), {}, ["label column 'kind'", "rows is class 'sig'", "at least two classes"]),
    ("header only", "a,b,kind\n", {}, ["no data rows"]),
    ("label in features", GOOD, {"features": ["a", "kind"]}, ["label column 'kind' is also listed in features"]),
    ("duplicate label", "a,kind,kind\n1,x,y\n", {}, ["column 'kind' appears 2 times (columns 2, 3)"]),
    (
        "one number spelt twice",
        rows(["1", "1.0", "bkg"] * 10),
        {},
        ["label column 'kind'", "'1' and '1.0' are the same number, which would be two classes"],
    ),
]


@pytest.fixture
def project(tmp_path, monkeypatch):
    params = load_default_params()
    params["run"] = {"datasets": ["events"], "variants": ["baseline"]}
    params["apply"] = {}  # the default set scores the hep toy, which this project does not have
    params["datasets"] = {
        "events": {
            "loader": "table",
            "options": {"path": "events.csv", "label": "kind"},
            "preprocess": {},
            "model": {"hidden_layers": [4], "epochs": 1},
        }
    }
    params["gates"], params["expected_yields"] = {}, {}
    monkeypatch.chdir(tmp_path)
    return tmp_path, params


def stages(params: dict, capsys) -> tuple[int, str, str]:
    """download, dataset and preprocess of the table through the CLI, as DVC calls them; (status, stderr,
    stdout)."""
    with open("params.yaml", "w") as fh:
        yaml.safe_dump(params, fh, sort_keys=False)
    status = 0
    for stage in ("download", "dataset", "preprocess"):
        status = cli.main([stage, "--params", "params.yaml", "--dataset", "events"])
        if status:
            break
    captured = capsys.readouterr()
    return status, captured.err, captured.out


@pytest.mark.parametrize("case, table, options, named", CASES, ids=[c[0] for c in CASES])
def test_a_table_no_model_can_learn_from_stops_in_one_line_naming_what_is_wrong(
    project, capsys, case, table, options, named
):
    folder, params = project
    params["datasets"]["events"]["options"].update(options)
    (folder / "events.csv").write_text(table)
    status, err, _ = stages(params, capsys)
    assert status == 1 and err.count("\n") == 1 and err.startswith("error: events.csv"), err
    assert "Traceback" not in err and all(part in err for part in named), err
    assert not (folder / "data/processed/events/data.npz").exists() and not (folder / "models").exists()

    params["datasets"]["events"]["options"] = {"path": "events.csv", "label": "kind"}
    (folder / "events.csv").write_text(GOOD)  # corrected: the same stages now run through
    assert stages(params, capsys)[0] == 0 and (folder / "data/processed/events/data.npz").is_file()


def test_drop_invalid_drops_bad_rows_and_says_how_many(project, capsys):
    folder, params = project
    params["datasets"]["events"]["options"]["drop_invalid"] = True
    table = replace_cell(replace_cell(replace_cell(GOOD, 1, 0, "inf"), 2, 1, "1e300"), 3, 0, "")
    (folder / "events.csv").write_text(table)
    status, _, out = stages(params, capsys)
    assert status == 0 and "events.csv: dropped 3 of 40 rows" in out
    from mlbasics.data import arrays as data

    kept = data.load("data/raw/events.npz")
    assert len(kept.y) == 37 and np.isfinite(kept.x).all()


def test_float_labels_are_float_targets_and_integer_floats_are_classes(tmp_path):
    from mlbasics.core import formats

    path = tmp_path / "t.csv"
    path.write_text("a,y\n" + "".join(f"{i},{i * 0.25}\n" for i in range(8)))
    _, y, names, _, _, _ = formats.read_table(path, "y")
    assert names == [] and y.dtype == np.float32 and y[1] == 0.25
    path.write_text("a,y\n" + "".join(f"{i},{float(i % 2)}\n" for i in range(8)))
    _, y, names, _, _, _ = formats.read_table(path, "y")
    assert names == ["0", "1"] and y.dtype == np.int64


def test_a_task_the_data_cannot_have_is_a_params_error_before_training(project, capsys):
    folder, params = project
    (folder / "events.csv").write_text(GOOD)
    params["datasets"]["events"]["model"]["task"] = "regression"
    assert stages(params, capsys)[0] == 0
    status = cli.main(["train", "--params", "params.yaml", "--dataset", "events", "--variant", "baseline"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1, err
    assert "datasets.events.model.task" in err and "binary" in err
    assert not (folder / "models/events/baseline/model").exists()


def test_a_float_label_column_with_task_regression_trains_a_regression(project, capsys):
    """Through the stages as DVC calls them (train and evaluate in this process): mse, mae and r2 come out."""
    folder, params = project
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    (folder / "events.csv").write_text(
        "e1,e2,energy\n" + "".join(f"{a:.5f},{b:.5f},{2 * a - b + 0.1 * rng.normal():.5f}\n" for a, b in x)
    )
    params["datasets"]["events"]["options"]["label"] = "energy"
    params["datasets"]["events"]["model"].update(task="regression", epochs=3)
    params["tracking"]["mode"] = "offline"
    assert stages(params, capsys)[0] == 0
    for stage in ("train", "evaluate"):
        assert cli.main([stage, "--params", "params.yaml", "--dataset", "events", "--variant", "baseline"]) == 0
    metrics = json.loads((folder / "reports/events/baseline/metrics.json").read_text())
    assert {"mse", "mae", "r2"} <= set(metrics) and "accuracy" not in metrics
    assert (folder / "models/events/baseline/history.csv").read_text().startswith("epoch,loss,mae,")


@pytest.mark.engine
def test_snakemake_stops_a_bad_table_before_training_then_trains_it_fixed(tmp_path):
    params = load_default_params()
    params["run"] = {"datasets": ["events"], "variants": ["baseline"]}
    params["apply"] = {}  # the default set scores the hep toy, which this project does not have
    params["datasets"] = {
        "events": {
            "loader": "table",
            "options": {"path": "events.csv", "label": "kind"},
            "preprocess": {},
            "model": {"hidden_layers": [8], "epochs": 3},
        }
    }
    params["gates"], params["expected_yields"] = {}, {}
    project = copy_project(tmp_path / "project", params)
    (project / "events.csv").write_text(replace_cell(GOOD, 37, 1, "inf"))
    failed = run([sys.executable, "-m", "snakemake", "--cores", "2"], cwd=project, check=False)
    assert failed.returncode != 0
    log = (project / "logs/dataset/events.log").read_text()
    assert log.strip().splitlines() == [
        "error: events.csv: column 'b', data row 38, line 39: inf is infinite "
        "(or set options.drop_invalid: true to drop such rows)"
    ], log
    assert not (project / "models").exists() and not (project / "data/processed").exists()

    (project / "events.csv").write_text(GOOD)  # corrected: the same command now trains
    model = "models/events/baseline/model"
    run([sys.executable, "-m", "snakemake", "--cores", "2", model], cwd=project)
    assert (project / model / "model.keras").is_file()
