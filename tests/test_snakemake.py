"""The real Snakemake on a tiny copy of the project: every output, the MLflow runs, no-op reruns,
precise reruns after a params change, and bad params refused before any job starts."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from mlflow import MlflowClient

from mlbasics.data import preprocess
from mlbasics.params import config
from mlbasics.pipeline import applying
from mlbasics.pipeline import declarations as stages
from mlbasics.pipeline import graph as pipeline
from tests.helpers import copy_project, copy_run, grid_outputs, rerun_after_learning_rate_change, run, tiny_params

pytestmark = pytest.mark.engine
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


@pytest.fixture(scope="module")
def finished(snakemake_run) -> Path:
    """The session's run, read by other modules too: tests here only read it, or restore what they touch."""
    return snakemake_run


@pytest.fixture(scope="module")
def changed(finished, tmp_path_factory) -> Path:
    """A copy of the session's run for the tests that change its params and rerun."""
    return copy_run(finished, tmp_path_factory.mktemp("changed") / "project")


def test_every_output_is_written(finished):
    params = config.load_params(finished / "params.yaml")
    missing = [f for f in grid_outputs(params) if not (finished / f).exists()]
    assert not missing
    leftovers = [p for p in finished.rglob("*.tmp*") if ".snakemake" not in p.parts]
    assert not leftovers, "no temporary files left behind"
    summary = (finished / stages.SUMMARY).read_text().splitlines()
    assert len(summary) == 1 + len(config.grid(params))
    metrics = json.loads((finished / stages.METRICS.format(dataset="gaussians", variant="baseline")).read_text())
    assert metrics["accuracy"] > 0.8, "even the tiny run separates the Gaussians"
    assert set(metrics) >= {"accuracy", "precision_macro", "recall_macro", "f1_macro", "f1_class_0", "f1_class_1"}


def test_tensorboard_reads_every_mlp_trainings_curves_and_graph(finished):
    """`tensorboard --logdir logs/tensorboard`: every MLP run's epochs, training and validation, and its graph,
    read with TensorBoard's own reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    params = config.load_params(finished / "params.yaml")
    for dataset, variant in config.grid(params):
        spec = config.model_spec(params, dataset, variant)
        if spec["method"] != "mlp":
            continue
        for part in ("train", "validation"):
            events = EventAccumulator(str(finished / "logs/tensorboard" / dataset / variant / part))
            events.Reload()
            steps = [e.step for e in events.Tensors("epoch_loss")]
            assert steps == list(range(1, spec["epochs"] + 1)), (dataset, variant, part)
        assert events.Tags()["tensors"] == ["epoch_loss", "epoch_accuracy"] or "epoch_mae" in events.Tags()["tensors"]


def test_job_logs_hold_what_a_user_wants_and_the_console_one_line_per_run(finished):
    """No TensorFlow C++ start-up lines and no progress-bar escape codes in any job log; a training's log starts
    with its settings, has a line per epoch, says where its ONNX model went, and ends with the result; Snakemake's
    console showed each run's test result once."""
    from mlbasics.core.runtime import NATIVE_NOISE

    logs = sorted((finished / "logs").rglob("*.log"))
    assert len(logs) > 10
    for log in logs:
        for line in log.read_bytes().splitlines(keepends=True):
            assert not NATIVE_NOISE.match(line) and b"\x1b[" not in line, (log, line)
    params = config.load_params(finished / "params.yaml")
    for dataset, variant in config.grid(params):
        lines = (finished / f"logs/train/{dataset}/{variant}.log").read_text().splitlines()
        dropped = [line for line in lines if line.startswith("event_weights.negative ignore: ")]
        # the ROOT dataset's background has negative weights: training and validation say how much they dropped
        assert len(dropped) == (2 if dataset == "events" else 0), (dataset, dropped)
        lines = [line for line in lines if line not in dropped]
        epochs = config.model_spec(params, dataset, variant)["epochs"]
        assert lines[0].startswith(f"{dataset}/{variant}: settings {{") and len(lines) == epochs + 3, lines
        assert lines[-2].startswith(f"{dataset}/{variant}: ONNX model models/{dataset}/{variant}/model/model.onnx")
        assert lines[-1].startswith(f"{dataset}/{variant}: trained, {epochs} epoch(s)"), lines[-1]
        result = (finished / f"logs/evaluate/{dataset}/{variant}.log").read_text().splitlines()[-1]
        assert result.startswith(f"{dataset}/{variant}: test accuracy ")
        assert (finished.parent / "snakemake.out").read_text().count(result) == 1, result


def test_root_ntuples_run_through_snakemake_into_the_tmva_report(finished):
    """The user's signal/background ROOT pair (tests/helpers.write_root_pair): read with its selection, jagged
    element and weights; evaluated with KS p-values and the efficiency table; reported with input variables."""
    import uproot

    split = preprocess.load(finished / stages.PROCESSED.format(dataset="events"))
    assert split.feature_names == ["x1", "x2", "x3", "jet_pt[0]"] and split.class_names == ["background", "signal"]
    cache = config.load_params(finished / "params.yaml")["download"]["cache_dir"]
    selected = sum(
        int((uproot.open(finished / cache / "events" / name)["events"]["njet"].array(library="np") >= 1).sum())
        for name in ("sig.root", "bkg.root", "bkg2.root")
    )
    assert sum(len(split.arrays[f"y_{p}"]) for p in ("train", "val", "test")) == selected, "the selection applied"
    weights = np.concatenate([split.weights(p) for p in ("train", "val", "test")])
    assert (weights < 0).any(), "negative weights are kept for evaluation"
    metrics = json.loads((finished / stages.METRICS.format(dataset="events", variant="baseline")).read_text())
    assert {
        "ks_p_signal",
        "ks_p_background",
        "ks_p_min",
        "sig_eff_at_bkg_0p10",
        "train_sig_eff_at_bkg_0p10",
        "roc_auc",
    } <= set(metrics)
    assert all(isinstance(v, int | float) for k, v in metrics.items() if k.startswith(("ks_p", "sig_eff")))
    # the best cut for the expected yields: chosen on the validation scores alone, reported on the test sample
    from mlbasics.core.files import read_arrays
    from mlbasics.evaluation import response

    scores = read_arrays(finished / stages.SCORES.format(dataset="events", variant="baseline"))
    validation = (split.arrays["y_val"], scores["val"][:, 0], split.weights("val"))
    assert metrics["best_cut"] == response.best_cut(validation, validation, 20, 500)["best_cut"]
    kept = (validation[0] == 0) & (validation[1] >= metrics["best_cut"])
    assert kept.sum() >= min(10, (validation[0] == 0).sum()), "the cut keeps the minimum of background events"
    page = (finished / stages.DATASET_PAGE.format(dataset="events")).read_text()
    assert "KS p, signal" in page and "@B = 0.01" in page and "<td>jet_pt[0]</td>" in page
    # the processes' yields: ttbar's 900 generated events had sumw 900 and xsec x lumi 900, so weights x 1
    assert "Processes: yields after the selection" in page and "<td>wjets</td><td>background</td>" in page
    for figure in ("inputs.png", "inputs_scaled.png", "correlations.png", "baseline/response.png"):
        assert f'src="{figure}"' in page and (finished / "reports" / "events" / figure).is_file()


PROVENANCE = {
    "git_commit",
    "git_dirty",
    "params_sha256",
    "data_sha256",
    "fingerprint",
    "host",
    "device",
    "python_version",
    "tensorflow_version",
    "keras_version",
    "mlflow_version",
    "engine",
    "dataset",
    "variant",
    "verdict",
    "mlflow.user",
    "mlflow.source.name",
    "mlflow.source.type",
}


def _runs(project: Path, role: str):
    params = config.load_params(project / "params.yaml")
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(params["tracking"]["experiment"])
    return client, client.search_runs([experiment.experiment_id], filter_string=f"tags.`mlbasics.role` = '{role}'")


def test_one_parent_run_and_one_complete_child_per_variant(finished):
    params = config.load_params(finished / "params.yaml")
    client, runs = _runs(finished, "variant")
    _, parents = _runs(finished, "pipeline")
    assert len(parents) == 1 and parents[0].data.tags["engine"] == "snakemake"
    assert sorted((r.data.tags["dataset"], r.data.tags["variant"]) for r in runs) == sorted(config.grid(params))
    for r in runs:
        dataset, variant = r.data.tags["dataset"], r.data.tags["variant"]
        assert r.info.run_name == f"{dataset}/{variant}"  # dataset-qualified: one name per run in the UI
        # the run lasts from its training's start to its evaluation's end; each epoch at its own time
        assert r.info.end_time - r.info.start_time > 500 and r.data.tags["mlflow.source.name"] == "Snakefile"
        stamps = [m.timestamp for m in client.get_metric_history(r.info.run_id, "val/loss")]
        assert stamps == sorted(stamps) and len(set(stamps)) > 1 and r.info.start_time <= stamps[0]
        assert [(d.dataset.name, d.dataset.digest) for d in r.inputs.dataset_inputs] == [
            (dataset, r.data.tags["data_sha256"][:16])
        ]
        spec = config.model_spec(params, dataset, variant)
        assert r.info.status == "FINISHED"
        assert r.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert set(r.data.tags) >= PROVENANCE, PROVENANCE - set(r.data.tags)
        assert r.data.params["epochs"] == str(spec["epochs"]) and r.data.params["dropout"] == str(spec["dropout"])
        assert len(client.get_metric_history(r.info.run_id, "val/loss")) == spec["epochs"]
        metrics = json.loads((finished / stages.METRICS.format(dataset=dataset, variant=variant)).read_text())
        assert r.data.metrics["test/accuracy"] == pytest.approx(metrics["accuracy"])
        provenance = json.loads((finished / stages.PROVENANCE.format(dataset=dataset, variant=variant)).read_text())
        assert r.data.tags["fingerprint"] == provenance["fingerprint"], "the same fingerprint in provenance.json"
        assert all(isinstance(x, (int, float)) for x in metrics.values()), "metrics.json: numbers only"
        assert r.data.tags["data_sha256"] == provenance["data_sha256"]
        artifacts = {a.path for a in client.list_artifacts(r.info.run_id)}
        assert {"history.csv", "metrics.json", "curves.png", "confusion.png", "diagnostics.png"} <= artifacts
    tracked = json.loads((finished / stages.TRACKED).read_text())
    assert tracked["runs"] == len(runs)
    assert f"{len(runs)} runs in" in (finished / "logs/track.log").read_text()
    assert "0 imported now" in (finished / "logs/track.log").read_text(), "online: every job logged its own run"
    # each dataset's best run by its headline number is the registered model's champion
    experiment = params["tracking"]["experiment"]
    for dataset in params["run"]["datasets"]:
        ours = [r for r in runs if r.data.tags["dataset"] == dataset]
        headline = "test/roc_auc" if ours[0].data.tags["task"] == "binary" else "test/accuracy"
        best = max(ours, key=lambda r: r.data.metrics[headline])
        holder = client.get_model_version_by_alias(f"{experiment}-{dataset}", "champion")
        assert client.get_run(holder.run_id).data.metrics[headline] == best.data.metrics[headline], dataset
        assert f"{experiment}-{dataset}@champion" in (finished / "logs/track.log").read_text()
        # the pipeline's parent run names each dataset's best with its number
        parent = client.get_run(parents[0].info.run_id)
        assert parent.data.metrics[f"best/{dataset}/{headline.split('/')[1]}"] == best.data.metrics[headline]
    assert {"index.html", "summary.csv"} <= {a.path for a in client.list_artifacts(parents[0].info.run_id)}


def _test_events_raw(project: Path, dataset: str) -> tuple[np.ndarray, list[tuple[str, int]] | None]:
    """The test events' raw inputs, as a user has them before any scaling: read again from their ROOT files by
    (file, entry) where the rows came from files, else the raw dataset's rows the split put in the test part."""
    from mlbasics.data import arrays as raw_arrays
    from mlbasics.data import root_files

    split = preprocess.load(project / stages.PROCESSED.format(dataset=dataset))
    origin = split.origin("test")
    if origin is None:
        raw = raw_arrays.load(project / stages.RAW.format(dataset=dataset))
        params = config.load_params(project / "params.yaml")
        test = preprocess.split_indices(raw.y, params["split"], params["seed"])["test"]
        return raw.x[test].astype(np.float64), None
    import uproot

    cache = project / config.load_params(project / "params.yaml")["download"]["cache_dir"] / dataset
    rows = []
    for name, entry in origin:
        tree = uproot.open(cache / name)["events"]
        read = tree.arrays(["x1", "x2", "x3", "jet_pt"], entry_start=entry, entry_stop=entry + 1, library="np")
        rows.append(root_files.input_columns(read, split.feature_names, name)[0])
    return np.array(rows), origin


@pytest.mark.parametrize("dataset", ["iris", "events"])
def test_a_logged_model_takes_raw_inputs_and_gives_the_training_scores(finished, dataset):
    """`mlflow.pyfunc.load_model("runs:/<id>/model").predict(raw inputs)`: the scaler travels inside, the
    signature names the raw inputs (branches, jet_pt[0]), the outputs are the scores, and the ONNX model is
    logged beside it."""
    import mlflow.pyfunc
    import pandas as pd

    client, runs = _runs(finished, "variant")
    run = next(r for r in runs if r.info.run_name == f"{dataset}/baseline")
    mlflow.set_tracking_uri(f"sqlite:///{finished / 'mlflow.db'}")
    model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    split = preprocess.load(finished / stages.PROCESSED.format(dataset=dataset))
    names = model.metadata.get_input_schema().input_names()
    assert names == (split.feature_names or [f"x{i}" for i in range(split.arrays["x_test"].shape[1])])
    raw, _ = _test_events_raw(finished, dataset)
    predicted = model.predict(pd.DataFrame(raw, columns=names))
    with np.load(finished / stages.SCORES.format(dataset=dataset, variant="baseline")) as scores:
        np.testing.assert_allclose(predicted.to_numpy(), scores["test"], atol=1e-5)
    assert list(predicted.columns) == (["signal"] if dataset == "events" else split.class_names)
    assert "onnx/model.onnx" in [a.path for a in client.list_artifacts(run.info.run_id, "onnx")]


def test_the_apply_set_scores_every_test_event_as_the_evaluation_did(finished):
    """The pipeline's apply job (params' apply block): a friend file per input, entry-aligned with its tree;
    each test event, found by predictions.csv's (file, entry), has the evaluation's score."""
    import csv

    import uproot

    with open(finished / stages.PREDICTIONS.format(dataset="events", variant="baseline")) as fh:
        predictions = list(csv.DictReader(fh))
    assert {row["file"] for row in predictions} == {"sig.root", "bkg.root", "bkg2.root"}
    cache = finished / config.load_params(finished / "params.yaml")["download"]["cache_dir"] / "events"
    friends = {}
    for name in ("sig.root", "bkg.root", "bkg2.root"):
        friend = uproot.open(finished / "data" / "applied" / "events_mc" / name)["events"]
        assert friend.num_entries == uproot.open(cache / name)["events"].num_entries
        friends[name] = friend.arrays(["score_baseline", "pass_selection"], library="np")
    for row in predictions:
        found = friends[row["file"]]
        entry = int(row["entry"])
        assert found["pass_selection"][entry]
        assert abs(found["score_baseline"][entry] - float(row["response"])) < 1e-6
    failing = np.concatenate([~f["pass_selection"] for f in friends.values()])
    scores = np.concatenate([f["score_baseline"] for f in friends.values()])
    assert failing.any() and (scores[failing] == -999).all(), "njet >= 1 fails some entries: the sentinel"


def test_compare_prints_and_writes_the_leaderboard_from_mlflow(finished, tmp_path):
    params = config.load_params(finished / "params.yaml")
    result = run([sys.executable, "-m", "mlbasics", "compare", "--csv", str(tmp_path / "board.csv")], cwd=finished)
    lines = result.stdout.splitlines()
    # the headline numbers first (ROC AUC for the two-class datasets, accuracy), then the ranked one's interval
    assert lines[0].split()[:6] == ["dataset", "variant", "method", "roc_auc", "accuracy", "interval"]
    assert len(lines) == 1 + len(config.grid(params)) + 1  # header, runs, "wrote ..."
    assert "<NA>" not in result.stdout and "NaN" not in result.stdout
    board = (tmp_path / "board.csv").read_text().splitlines()
    assert len(board) == 1 + len(config.grid(params)) and "verdict" in board[0] and "train_wall_s" in board[0]


def test_second_run_does_nothing(finished):
    start = time.perf_counter()
    result = run([*SNAKEMAKE, "--cores", "2"], cwd=finished)
    elapsed = time.perf_counter() - start
    assert "Nothing to be done" in result.stdout + result.stderr
    print(f"no-op snakemake: {elapsed:.2f} s")


# helper modules and the stages that import them (directly or not); the rest must not rerun
HELPERS = ["methods/checkpoint", "core/plots"]


def stages_importing(helper: str) -> set[str]:
    # the project trains no dataset in folds: its stages without jobs there (train_fold, folds) left out
    kinds = [*(name for name, stage in stages.STAGES.items() if stage.pairs != "folded"), *applying.JOBS]
    return {stage for stage in kinds if f"src/mlbasics/{helper}.py" in pipeline.code(stage)}


@pytest.mark.parametrize("helper", HELPERS)
def test_editing_a_helper_module_reruns_exactly_the_stages_that_import_it(finished, helper):
    path = finished / "src" / "mlbasics" / f"{helper}.py"
    text, before = path.read_text(), path.stat()
    path.write_text(text + "\n# edited\n")  # a real edit: Snakemake ignores a newer file whose content is the same
    try:
        dry = run([*SNAKEMAKE, "-n", "--rerun-triggers", "mtime"], cwd=finished).stdout
    finally:
        path.write_text(text)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    jobs = re.findall(r"^(?:local)?rule (\w+):\n(.*?)(?=^\S|\Z)", dry, flags=re.M | re.S)
    file = f"src/mlbasics/{helper}.py"
    # every job that reads the helper reruns; Snakemake names the edit as the reason for the first of them
    # (a job whose upstream reruns anyway is listed with that reason instead)
    reading = {rule for rule, body in jobs if re.search(rf"^\s+input: .*{re.escape(file)}", body, flags=re.M)}
    direct = {rule for rule, body in jobs if re.search(rf"reason: Updated input files: .*{re.escape(file)}", body)}
    assert reading == stages_importing(helper), dry[-3000:]
    assert direct and direct <= reading, dry[-3000:]


def test_snakemake_report_shows_every_figure_with_its_caption(finished):
    run([*SNAKEMAKE, "--report", "report.html"], cwd=finished)
    html = (finished / "report.html").read_text()
    params = config.load_params(finished / "params.yaml")
    for d, v in config.grid(params):  # every run's figures, labelled with its dataset and variant
        assert f'"labels": {{"dataset": "{d}", "variant": "{v}", "figure": "diagnostics"}}' in html, (d, v)
    for name in (
        "curves.png",
        "confusion.png",
        "diagnostics.png",
        "metrics.json",
        "comparison.png",
        "preview.png",
        "summary.csv",
        "activations.png",
        "checks.json",
        "response.png",
        "inputs.png",
        "inputs_scaled.png",
        "correlations.png",
    ):
        assert f'"name": "{name}"' in html, name
    assert "overtraining" in html and "decision boundary" in html, "captions are rendered"
    assert html.count("data:image/png;") >= len(config.grid(params)) * 3, "figures embedded: one file to mail"


def test_changing_one_learning_rate_reruns_only_that_variant_and_the_aggregates(changed):
    reran, expected = rerun_after_learning_rate_change(
        changed, "dropout", lambda: run([*SNAKEMAKE, "--cores", "2"], cwd=changed, timeout=600)
    )
    assert reran == expected
    # MLflow: the rerun is a second invocation - a new parent holding the rerun variant's runs, each linked
    # to the run it replaces; the leaderboard shows only the current runs
    _, runs = _runs(changed, "variant")
    _, parents = _runs(changed, "pipeline")
    assert len(parents) == 2
    newest = max(parents, key=lambda r: r.info.start_time).info.run_id
    rerun = [r for r in runs if r.data.tags["mlflow.parentRunId"] == newest]
    datasets = config.load_params(changed / "params.yaml")["run"]["datasets"]
    assert sorted(r.info.run_name for r in rerun) == [f"{d}/dropout" for d in sorted(datasets)]
    by_id = {r.info.run_id: r for r in runs}
    for r in rerun:
        old = by_id[r.data.tags["mlbasics.replaces"]]
        assert old.data.tags["mlbasics.replaced_by"] == r.info.run_id and old.info.run_name == r.info.run_name


def test_a_gate_that_cannot_be_met_fails_the_run_with_one_line_per_violation(changed):
    """Raising a threshold reruns only the check; it fails, names each run that misses it, and leaves no
    reports/checks.json behind. Put back, the check passes again."""
    original = (changed / "params.yaml").read_text()
    raw = yaml.safe_load(original)
    raw["gates"]["iris"] = {"accuracy": {"min": 1.01}}
    (changed / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    try:
        result = run([*SNAKEMAKE, "--cores", "2"], cwd=changed, check=False)
        output = result.stdout + result.stderr
        assert result.returncode != 0
        violations = sorted({line.strip() for line in output.splitlines() if line.strip().startswith("gate failed")})
        assert len(violations) == len(raw["run"]["variants"]), output
        for variant, line in zip(sorted(raw["run"]["variants"]), violations, strict=True):
            assert line.startswith(f"gate failed: dataset iris, variant {variant}: accuracy = ")
            assert line.endswith("below the minimum 1.01")
        assert "rule train" not in output and "rule evaluate" not in output, "only the check reran"
        assert not (changed / stages.CHECKS).exists()
    finally:
        (changed / "params.yaml").write_text(original)
    run([*SNAKEMAKE, "--cores", "2"], cwd=changed)
    checks = json.loads((changed / stages.CHECKS).read_text())
    assert checks["passed"] == checks["gates"] == len(config.grid(raw)), "one gate per dataset, on every run"


BAD_PARAMS = [
    (lambda p: p["run"]["datasets"].append("cifar100"), "run.datasets[2]: unknown dataset 'cifar100'"),
    (
        lambda p: p["variants"]["baseline"].update(activation="relux"),
        "variants.baseline.activation: 'relux' is not one of",
    ),
    (
        lambda p: p["datasets"]["iris"]["model"].update(optimizer="adamw2"),
        "datasets.iris.model.optimizer: 'adamw2' is not one of",
    ),
    (lambda p: p["split"].update(test=0.3), "split: fractions must sum to 1, got 1.1"),
    (
        lambda p: p["variants"]["dropout"].update(learning_rate=-0.1),
        "variants.dropout.learning_rate: -0.1 is less than or equal to the minimum of 0",
    ),
    (lambda p: p.pop("seed"), "seed: required key is missing"),
    (
        lambda p: p["gates"]["iris"].update(mse={"max": 1}),
        "gates.iris.mse: not a classification metric (gates take: accuracy,",
    ),
    (lambda p: p["gates"].update(cifar100={"accuracy": {"min": 0.5}}), "gates.cifar100: unknown dataset 'cifar100'"),
]


@pytest.mark.parametrize("break_params, message", BAD_PARAMS, ids=[m.split(":")[0] for _, m in BAD_PARAMS])
def test_bad_params_stop_snakemake_before_any_job(tmp_path, break_params, message):
    params = tiny_params()
    break_params(params)
    project = copy_project(tmp_path / "project")
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    result = run([*SNAKEMAKE, "--cores", "1"], cwd=project, check=False)
    assert result.returncode != 0
    # located at the key's line in params.yaml, unless the key is missing altogether
    where = "" if message.startswith("seed: required") else r"params\.yaml:\d+: "
    pattern = re.compile(rf"invalid params: {where}{re.escape(message)}")
    assert any(pattern.match(line) for line in result.stderr.splitlines()), result.stderr
    assert not (project / "data").exists() and not (project / "logs").exists(), "no job started"
