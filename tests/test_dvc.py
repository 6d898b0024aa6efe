"""The real DVC on a tiny copy of the project (fresh `git init`; the copy carries .dvc/): `dvc repro`,
metrics and plots, and precise reruns after a params change."""

from __future__ import annotations

import json
import re
import subprocess

import numpy as np
import pytest

from mlbasics.params import config
from mlbasics.pipeline import applying
from mlbasics.pipeline import declarations as stages
from mlbasics.pipeline import graph as pipeline
from tests.helpers import (
    VENV_BIN,
    copy_project,
    copy_run,
    engine_env,
    git_init,
    grid_outputs,
    rerun_after_learning_rate_change,
    run,
    tiny_params,
    with_root_pair,
)

pytestmark = pytest.mark.engine
DVC = [str(VENV_BIN / "dvc")]
WITH_WORKER = [str(VENV_BIN / "python"), "-m", "mlbasics", "worker", "--"]  # DVC has no start hook: the wrapper


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory):
    """The tiny pipeline through `dvc repro`, tracking offline: the jobs only record their runs and the
    final track stage imports them."""
    params = with_root_pair(tiny_params())  # the ROOT pair too: user ntuples through DVC
    params["tracking"]["mode"] = "offline"
    project = git_init(copy_project(tmp_path_factory.mktemp("dvc") / "project", params))
    result = run([*WITH_WORKER, *DVC, "repro"], cwd=project, timeout=900)
    (project.parent / "repro.out").write_text(result.stdout + result.stderr)
    return project


@pytest.fixture(scope="module")
def changed(reproduced, tmp_path_factory):
    """A copy of the DVC run for the test that changes its params and reruns: the run stays as the others read it."""
    return copy_run(reproduced, tmp_path_factory.mktemp("dvc-changed") / "project")


def test_offline_runs_are_imported_once_under_one_dvc_parent(reproduced):
    from mlflow import MlflowClient

    params = config.load_params(reproduced / "params.yaml")
    tracked = json.loads((reproduced / stages.TRACKED).read_text())
    output = (reproduced.parent / "repro.out").read_text()
    assert output.count("run recorded offline in reports/") == len(config.grid(params)), "the jobs logged nothing"
    n = tracked["runs"]
    assert f"track: {n} runs in sqlite:///mlflow.db (experiment mlbasics), {n} imported now" in output
    for _ in range(2):  # importing again, by hand, changes nothing
        again = run([str(VENV_BIN / "python"), "-m", "mlbasics", "track", "--params", "params.yaml"], cwd=reproduced)
        assert f"{len(config.grid(params))} runs in sqlite:///mlflow.db" in again.stdout
        assert "0 imported now" in again.stdout
    client = MlflowClient(f"sqlite:///{reproduced / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(params["tracking"]["experiment"]).experiment_id
    runs = client.search_runs([experiment])
    parents = [r for r in runs if r.data.tags["mlbasics.role"] == "pipeline"]
    children = [r for r in runs if r.data.tags["mlbasics.role"] == "variant"]
    assert len(parents) == 1 and parents[0].data.tags["engine"] == "dvc"
    assert sorted((r.data.tags["dataset"], r.data.tags["variant"]) for r in children) == sorted(config.grid(params))
    assert all(r.info.run_name == f"{r.data.tags['dataset']}/{r.data.tags['variant']}" for r in children)
    assert all(r.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for r in children)
    assert all(r.data.tags["engine"] == "dvc" and len(r.data.tags["git_commit"]) == 40 for r in children)


def test_repro_writes_every_output_and_is_then_up_to_date(reproduced):
    params = config.load_params(reproduced / "params.yaml")
    assert not [f for f in grid_outputs(params) if not (reproduced / f).exists()]
    status = run([*DVC, "status", "--json"], cwd=reproduced)
    assert json.loads(status.stdout) == {}


def test_metrics_show_lists_every_run_headline_numbers_only(reproduced):
    """DVC compares one file: every run's headline numbers (no hashes, no strings); each run's metrics.json holds
    numbers only, its provenance is in provenance.json."""
    params = config.load_params(reproduced / "params.yaml")
    shown = json.loads(run([*DVC, "metrics", "show", "--json"], cwd=reproduced).stdout)
    files = shown[""]["data"]
    assert list(files) == [stages.HEADLINES]
    headlines = files[stages.HEADLINES]["data"]
    for d, v in config.grid(params):
        numbers = headlines[d][v]
        assert set(numbers) in ({"roc_auc", "sig_eff_at_bkg_0p10"}, {"accuracy"}), numbers
        assert all(isinstance(x, float) and 0.2 < x <= 1.0 for x in numbers.values()), (d, v, numbers)  # 5 epochs
        everything = json.loads((reproduced / stages.METRICS.format(dataset=d, variant=v)).read_text())
        assert all(isinstance(x, (int, float)) for x in everything.values()), "metrics.json: numbers only"
        provenance = json.loads((reproduced / stages.PROVENANCE.format(dataset=d, variant=v)).read_text())
        assert set(provenance) == {"fingerprint", "params_sha256", "data_sha256", "git_commit"}


def test_plots_show_renders(reproduced, tmp_path):
    run([*DVC, "plots", "show", "-o", str(tmp_path / "plots")], cwd=reproduced)
    html = (tmp_path / "plots" / "index.html").read_text()
    params = config.load_params(reproduced / "params.yaml")
    for d in params["run"]["datasets"]:
        assert f"loss-{d}" in html and f"confusion-{d}" in html
        assert f"reports/{d}/baseline/diagnostics.png" in html, "the figures are shown as images"
        assert f"reports/{d}/baseline/response.png" in html
    images = list((tmp_path / "plots" / "static").glob("*.png"))
    assert len(images) == 3 * len(config.grid(params)), images


def test_dvc_gives_the_bytes_snakemake_gave(reproduced, snakemake_outputs):
    """The same tiny params through both engines (each with its warm worker; test_worker compares the worker
    with lone processes): histories, test predictions, weights and metrics agree to the byte. Snakemake's side
    is its run as written (a copy), so the order in which test files run does not matter."""
    import keras

    from mlbasics.methods.mlp import register_custom_layers

    register_custom_layers()
    params = config.load_params(reproduced / "params.yaml")
    for root in (snakemake_outputs, reproduced):  # jobs started while the worker imported waited for it
        assert all(
            json.loads((root / stages.RUN_STATS.format(dataset=d, variant=v)).read_text()).get("warm_worker")
            for d, v in config.grid(params)
        ), root
    for d, v in config.grid(params):
        for path in (stages.HISTORY, stages.PREDICTIONS):
            rel = path.format(dataset=d, variant=v)
            assert (snakemake_outputs / rel).read_bytes() == (reproduced / rel).read_bytes(), rel
        rel = stages.METRICS.format(dataset=d, variant=v)
        numbers = [
            {k: x for k, x in json.loads((root / rel).read_text()).items() if isinstance(x, float)}
            for root in (snakemake_outputs, reproduced)
        ]
        assert numbers[0] == numbers[1] and len(numbers[0]) > 10, rel
        model = stages.MODEL.format(dataset=d, variant=v) + "/model.keras"  # the MLP's file in the model folder
        weights = [
            [w.tobytes() for w in keras.saving.load_model(root / model).get_weights()]
            for root in (snakemake_outputs, reproduced)
        ]
        assert weights[0] == weights[1], (d, v)
    # the apply set's friend files: the same scores entry by entry (a ROOT file's bytes hold its writing time)
    import uproot

    for name in ("sig.root", "bkg.root", "bkg2.root"):
        rel = f"data/applied/events_mc/{name}"
        found = [uproot.open(root / rel)["events"].arrays(library="np") for root in (snakemake_outputs, reproduced)]
        assert list(found[0]) == list(found[1]) == ["score_baseline", "pass_selection"], rel
        assert all(np.array_equal(found[0][k], found[1][k]) for k in found[0]), rel


def test_changing_one_learning_rate_reruns_only_that_variant_and_the_aggregates(changed):
    params = config.load_params(changed / "params.yaml")
    datasets = params["run"]["datasets"]
    jobs = {(stage, d) for stage in stages.PER_VARIANT for d, v in stages.stage_pairs(params, stage) if v == "dropout"}

    def rerun():
        stale = json.loads(run([*DVC, "status", "--json"], cwd=changed).stdout)
        # the reports, the check and the track read the variant definitions too (sweep ids come from them)
        assert set(stale) == {f"{stage}@{d}-dropout" for stage, d in jobs} | {f"report-{d}" for d in datasets} | {
            "summary",
            "check",
            "track",
        }
        run([*WITH_WORKER, *DVC, "repro"], cwd=changed, timeout=600)

    reran, expected = rerun_after_learning_rate_change(changed, "dropout", rerun)
    assert reran == expected


@pytest.mark.parametrize("helper", ["methods/checkpoint", "core/plots"])
def test_editing_a_helper_module_makes_exactly_the_stages_that_import_it_stale(reproduced, helper):
    path = reproduced / "src" / "mlbasics" / f"{helper}.py"
    text = path.read_text()
    path.write_text(text + "\n# edited\n")
    try:
        status = json.loads(run([*DVC, "status", "--json"], cwd=reproduced).stdout)
    finally:
        path.write_text(text)

    def stage(name: str) -> str:  # train@iris-dropout: train; report-iris, apply-<set>-<file>: report, apply
        return re.sub(r"^(report|apply_report|apply_fetch|apply)-.*", r"\1", name.split("@")[0])

    stale = {
        stage(name)
        for name, changes in status.items()
        if any(f"src/mlbasics/{helper}.py" in str(change) for change in changes)
    }
    # the project trains no dataset in folds: its stages without jobs there (train_fold, folds) left out
    kinds = [*(name for name, stage in stages.STAGES.items() if stage.pairs != "folded"), *applying.JOBS]
    expected = {name for name in kinds if f"src/mlbasics/{helper}.py" in pipeline.code(name)}
    assert stale == expected and stale, status
    assert {stage(name) for name in status} == expected, "nothing else is stale"


@pytest.fixture(scope="module")
def queued(tmp_path_factory):
    """A one-dataset project, reproduced and committed; then two experiments queued (`dvc exp run --queue`) and run
    by two DVC queue workers (`dvc queue start -j 2`), each in a temporary copy of the repository."""
    import time

    params = tiny_params()
    params["run"]["datasets"] = ["gaussians"]
    project = git_init(copy_project(tmp_path_factory.mktemp("dvc-queue") / "project", params))
    run([*WITH_WORKER, *DVC, "repro"], cwd=project, timeout=600)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    run(["git", "add", "-A"], cwd=project)
    run([*git, "commit", "-qm", "reproduced"], cwd=project)
    for rate in ("0.3", "0.4"):
        run([*DVC, "exp", "run", "--queue", "-S", f"variants.dropout.dropout={rate}"], cwd=project)
    # the queue's workers outlive `queue start` and may hold its standard streams: to a file, not to pipes that
    # would keep run() waiting for their end (seen once: the setup hung for its 600 s timeout)
    log = project.parent / "queue-start.log"
    with log.open("w") as out:
        started = subprocess.run(
            [*DVC, "queue", "start", "-j", "2"],
            cwd=project,
            env=engine_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=120,
        )
    assert started.returncode == 0, log.read_text()
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        status = run([*DVC, "queue", "status"], cwd=project).stdout
        if not any(word in status for word in ("Queued", "Running")):
            break
        time.sleep(5)
    logs = "\n".join(
        run([*DVC, "queue", "logs", line.split()[0]], cwd=project, check=False).stdout[-3000:]
        for line in status.splitlines()
        if "Failed" in line
    )
    assert "Failed" not in status and "Success" in status, status + logs
    return project


def test_queued_experiments_log_to_the_repository_store(queued):
    """The experiments ran in temporary copies (.dvc/tmp/exps/...), which DVC deletes: their runs are in the
    repository's mlflow.db all the same, each under its DVC invocation's parent run."""
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{queued / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("mlbasics")
    runs = client.search_runs([experiment.experiment_id], filter_string="tags.variant = 'dropout'")
    assert sorted(r.data.params["dropout"] for r in runs) == ["0.3", "0.4", "0.5"], "the workspace's and both queued"
    parents = {
        r.info.run_id: r
        for r in client.search_runs([experiment.experiment_id], filter_string="tags.`mlbasics.role` = 'pipeline'")
    }
    for r in runs:
        assert r.info.status == "FINISHED" and parents[r.data.tags["mlflow.parentRunId"]].data.tags["engine"] == "dvc"
    # each queued experiment's run names it and the commit it started from; the workspace's run is no experiment
    head = run(["git", "rev-parse", "HEAD"], cwd=queued).stdout.strip()
    named = {r.data.params["dropout"]: r.data.tags.get("dvc.exp_name") for r in runs}
    assert named["0.5"] is None and named["0.3"] and named["0.4"] and named["0.3"] != named["0.4"], named
    shown = run([*DVC, "exp", "show", "--csv"], cwd=queued).stdout
    assert named["0.3"] in shown and named["0.4"] in shown  # the names `dvc exp show` lists
    assert {r.data.tags.get("dvc.exp_baseline_rev") for r in runs if r.data.params["dropout"] != "0.5"} == {head}
    assert experiment.artifact_location == (queued / "mlruns").as_uri(), "artifacts beside the store, not in a copy"
    assert not list((queued / ".dvc" / "tmp").rglob("mlflow.db")), "no store in a temporary copy"
