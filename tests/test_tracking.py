import contextlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from mlflow import MlflowClient

from mlbasics.core import provenance
from mlbasics.core.files import write_json
from mlbasics.stages.settings import TrainSettings, select
from mlbasics.tracking import compare
from mlbasics.tracking import runs as tracking
from tests.helpers import engine_env

HISTORY = [{"epoch": str(e), "loss": str(1 / e), "val_loss": str(1.1 / e)} for e in range(1, 6)]


def test_env_uri_wins_over_params(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking.resolve_uri("sqlite:///mlflow.db") == "sqlite:///mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking.resolve_uri("sqlite:///mlflow.db") == "http://127.0.0.1:5000"


def log_run(
    uri: str,
    experiment: str,
    run_name: str,
    *,
    tags: dict,
    params: dict,
    history: list[dict],
    metrics: dict,
    artifacts: list,
) -> str:
    """One run logged at once, as an evaluation does: a record, imported."""
    record = tracking.make_record(
        run_name=run_name, tags=tags, params=params, history=history, metrics=metrics, stats=None, artifacts=artifacts
    )
    return tracking.import_record(uri, experiment, record)[0]


def test_log_run_records_params_curves_metrics_artifacts(tmp_path):
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    artifact = tmp_path / "metrics.json"
    artifact.write_text('{"accuracy": 0.9}')
    run_id = log_run(
        uri,
        "exp",
        "baseline",
        tags={"dataset": "iris", "variant": "baseline"},
        params={"epochs": 5, "activation": "relu"},
        history=HISTORY,
        metrics={"accuracy": 0.9},
        artifacts=[artifact],
    )
    client = MlflowClient(uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "baseline"
    assert run.data.params == {"epochs": "5", "activation": "relu"}
    assert run.data.tags["dataset"] == "iris"
    assert run.data.metrics["test/accuracy"] == 0.9
    curve = client.get_metric_history(run_id, "val/loss")
    assert sorted(m.step for m in curve) == [1, 2, 3, 4, 5]
    assert [a.path for a in client.list_artifacts(run_id)] == ["metrics.json"]
    parent = client.get_run(run.data.tags["mlflow.parentRunId"])
    assert parent.data.tags["mlbasics.role"] == "pipeline" and parent.info.status == "FINISHED"


def parallel_writers(uri: str, invocation: str, jobs: int = 8) -> None:
    """`jobs` processes of one invocation, each logging a run of 10 epochs to `uri` at the same moment, as the
    jobs of `snakemake --cores 8` do (also used against a real server in test_tracking_server.py)."""
    env = engine_env(MLBASICS_INVOCATION=invocation, MLBASICS_ENGINE="snakemake")
    script = textwrap.dedent(f"""
        import sys
        from mlbasics.tracking import runs as tracking
        history = [{{"epoch": e, "loss": 1.0 / e, "val_loss": 1.2 / e}} for e in range(1, 11)]
        record = tracking.make_record(run_name="job" + sys.argv[1], tags={{"job": sys.argv[1]}},
                                      params={{"job": sys.argv[1]}}, history=history, metrics={{"accuracy": 0.5}},
                                      stats=None, artifacts=[])
        tracking.import_record({uri!r}, "parallel", record)
    """)
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(i)], env=env, stderr=subprocess.PIPE, text=True)
        for i in range(jobs)
    ]
    failures = [p.stderr.read()[-2000:] for p in procs if p.wait(timeout=300) != 0]
    assert not failures, failures[0]


@pytest.mark.engine  # eight job processes at once
def test_eight_parallel_jobs_on_a_fresh_store_all_log(tmp_path):
    """The measured failure: 8 processes creating a new sqlite store at once. The lock must prevent it."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    parallel_writers(uri, "snakemake-test-1")
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("parallel")
    runs = client.search_runs([experiment.experiment_id], filter_string="tags.`mlbasics.role` = 'variant'")
    assert sorted(r.info.run_name for r in runs) == [f"job{i}" for i in range(8)]
    parents = client.search_runs([experiment.experiment_id], filter_string="tags.`mlbasics.role` = 'pipeline'")
    assert len(parents) == 1, "one invocation, one parent, even when 8 jobs race to create it"
    assert {r.data.tags["mlflow.parentRunId"] for r in runs} == {parents[0].info.run_id}
    for r in runs:
        assert r.info.status == "FINISHED"
        assert len(client.get_metric_history(r.info.run_id, "train/loss")) == 10


def _record(dataset: str = "iris", variant: str = "baseline", invocation: str = "dvc-1-1") -> dict:
    record = tracking.make_record(
        run_name=variant,
        tags={"dataset": dataset, "variant": variant, "verdict": "ok"},
        params={"epochs": 5},
        history=HISTORY,
        metrics={"accuracy": 0.9},
        stats={"train_wall_s": 1.5},
        artifacts=[],
    )
    record["invocation"] = {"id": invocation, "engine": "dvc"}
    return record


def test_importing_a_record_twice_creates_one_run(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    record = _record()
    first, new = tracking.import_record(uri, "exp", record)
    again, new_again = tracking.import_record(uri, "exp", record)
    assert (first, new, new_again) == (again, True, False)
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("exp").experiment_id])
    assert len(runs) == 2, "the child and its parent"


def test_a_half_logged_run_is_replaced_on_retry(tmp_path):
    """An attempt that died mid-way leaves a run that is not FINISHED; the next attempt deletes it and logs
    the record again, so no run misses metrics."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    record = _record()
    client = MlflowClient(uri)
    experiment_id = tracking.ensure_experiment(uri, "exp")
    broken = client.create_run(experiment_id, run_name="baseline", tags={"mlbasics.uid": record["uid"]})
    run_id, new = tracking.import_record(uri, "exp", record)
    assert new and run_id != broken.info.run_id
    assert client.get_run(broken.info.run_id).info.lifecycle_stage == "deleted"
    assert len(client.get_metric_history(run_id, "val/loss")) == 5


def test_a_rerun_attaches_to_a_new_parent_and_links_the_run_it_replaces(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    old, _ = tracking.import_record(uri, "exp", _record(invocation="dvc-1-1"))
    other, _ = tracking.import_record(uri, "exp", _record(variant="dropout", invocation="dvc-1-1"))
    new, _ = tracking.import_record(uri, "exp", _record(invocation="dvc-2-2"))
    client = MlflowClient(uri)
    old_run, new_run = client.get_run(old), client.get_run(new)
    assert new_run.data.tags["mlbasics.replaces"] == old and old_run.data.tags["mlbasics.replaced_by"] == new
    assert new_run.data.tags["mlflow.parentRunId"] != old_run.data.tags["mlflow.parentRunId"]
    assert "mlbasics.replaces" not in client.get_run(other).data.tags
    rows = compare.leaderboard(uri, "exp")
    assert sorted(r["run_id"] for r in rows) == sorted([new, other]), "replaced runs are left out"
    assert len(compare.leaderboard(uri, "exp", include_replaced=True)) == 3


def test_the_leaderboard_ranks_two_class_runs_by_roc_auc_not_accuracy(tmp_path):
    """An unbalanced BDT that calls everything background is accurate and useless: AUC ranks it below the MLP."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    for variant, accuracy, auc in (("bdt", 0.92, 0.616), ("mlp", 0.80, 0.79)):
        record = tracking.make_record(
            run_name=variant,
            tags={"dataset": "higgs", "variant": variant, "verdict": "ok", "task": "binary"},
            params={},
            history=HISTORY,
            metrics={"accuracy": accuracy, "roc_auc": auc, "roc_auc_ci_lo": auc - 0.01, "roc_auc_ci_hi": auc + 0.01},
            stats={},
            artifacts=[],
        )
        record["invocation"] = {"id": "dvc-1-1", "engine": "dvc"}
        tracking.import_record(uri, "exp", record)
    rows = compare.leaderboard(uri, "exp")
    assert [r["variant"] for r in rows] == ["mlp", "bdt"] and rows[0]["interval"] == "[0.7800, 0.8000]"
    text = compare.write_leaderboard(rows, None)
    assert text.splitlines()[0].split()[:6] == ["dataset", "variant", "method", "roc_auc", "accuracy", "interval"]
    assert "<NA>" not in text  # a run that never overfitted: a blank, not pandas' missing value


@pytest.mark.engine  # a job's retries against a server that does not answer
def test_an_unreachable_store_keeps_the_run_and_says_how_it_gets_imported(tmp_path, capsys):
    from tests.loopback import dead_url

    record = _record()
    path = tmp_path / "mlflow_run.json"
    write_json(path, record)
    assert tracking.log_online(dead_url(), "exp", record, path, retries=1, backoff=0.1) is None
    message = capsys.readouterr().out
    assert "could not log to MLflow" in message and str(path) in message and "track" in message
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"  # the store is back (here: another one): the track stage logs it
    summary = tracking.sync(uri, "exp", [path], tmp_path / "runs.json")
    assert summary["imported_now"] == 1
    assert tracking.sync(uri, "exp", [path], tmp_path / "runs.json")["imported_now"] == 0


def test_preflight_names_the_server_and_the_ways_out():
    from tests.loopback import dead_url

    tracking.preflight("sqlite:///anything.db")  # local stores need no server
    with pytest.raises(tracking.TrackingError, match="unreachable") as caught:
        tracking.preflight(dead_url(), timeout=2)
    assert "python -m mlbasics server" in str(caught.value) and "tracking.mode: offline" in str(caught.value)


def test_fingerprint_depends_on_what_decides_the_result_only():
    git = {"git_commit": "abc", "git_dirty": "false"}
    software = {"tensorflow_version": "2.21.0"}
    a = provenance.run_fingerprint({"seed": 1}, "d" * 64, git, software)
    assert a == provenance.run_fingerprint({"seed": 1}, "d" * 64, {**git, "git_dirty": "true"}, software)
    assert a["fingerprint"] != provenance.run_fingerprint({"seed": 2}, "d" * 64, git, software)["fingerprint"]
    assert a["fingerprint"] != provenance.run_fingerprint({"seed": 1}, "e" * 64, git, software)["fingerprint"]
    tags = provenance.provenance_tags(a, git, software)
    assert {"host", "device", "git_dirty", "data_sha256", "params_sha256"} <= set(tags)
    assert json.dumps(tags)  # plain strings


def test_a_store_no_retry_can_fix_is_named_with_its_remedy_and_not_retried(tmp_path, capsys):
    import time

    corrupt = tmp_path / "mlflow.db"
    corrupt.write_bytes(b"not a database, just bytes" * 100)
    for uri, named in (
        (f"sqlite:///{corrupt}", [str(corrupt), "not a usable SQLite database", "move it away"]),
        ("postgresql://user:secret@127.0.0.1:1/runs", ["'psycopg2'", "pip install psycopg2-binary"]),
    ):
        with pytest.raises(tracking.TrackingError) as caught:
            tracking.preflight(uri, reach=False)
        assert all(part in str(caught.value) for part in named) and "secret" not in str(caught.value)
        record_path = tmp_path / "mlflow_run.json"
        write_json(record_path, _record())
        began = time.monotonic()
        assert tracking.log_online(uri, "exp", _record(), record_path, retries=4, backoff=2.0) is None
        assert time.monotonic() - began < 2, "no backoff for an error that retrying cannot fix"
        out = capsys.readouterr().out
        assert "no retry will help" in out and "retrying" not in out and str(record_path) in out
    tracking.preflight(f"sqlite:///{tmp_path / 'new.db'}", reach=False)  # a store that does not exist yet is fine


def test_a_run_left_running_by_a_dead_writer_is_deleted_by_the_next_import(tmp_path):
    """A killed evaluation leaves its run RUNNING; the rerun's import deletes it, so exactly one active run of
    that (dataset, variant) remains. A run whose writer is alive (a parallel import) is left alone."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment_id = tracking.ensure_experiment(uri, "exp")
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = f"{tracking.socket.gethostname()}:{done.stdout.strip()}:1"
    tags = {"dataset": "iris", "variant": "baseline", "mlbasics.role": "variant"}
    zombie = client.create_run(experiment_id, run_name="baseline", tags={**tags, "mlbasics.writer": dead})
    busy = client.create_run(
        experiment_id, run_name="dropout", tags={**tags, "variant": "dropout", "mlbasics.writer": tracking._writer()}
    )
    run_id, _ = tracking.import_record(uri, "exp", _record())
    tracking.import_record(uri, "exp", _record(variant="dropout"))
    assert client.get_run(zombie.info.run_id).info.lifecycle_stage == "deleted"
    assert client.get_run(busy.info.run_id).info.lifecycle_stage == "active"
    active = client.search_runs([experiment_id], "tags.variant = 'baseline' and tags.`mlbasics.role` = 'variant'")
    assert [r.info.run_id for r in active] == [run_id] and active[0].info.status == "FINISHED"


# Evaluate, SIGKILLed as it starts logging its run's metrics (after the run was created)
KILLED_WHILE_LOGGING = """
import os, signal, sys
from mlflow import MlflowClient
from mlbasics import cli
def log_batch(self, run_id, metrics=(), **kwargs):
    if metrics:
        os.kill(os.getpid(), signal.SIGKILL)
MlflowClient.log_batch = log_batch
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.engine
def test_a_sigkilled_evaluation_rerun_leaves_one_active_finished_run(tmp_path):
    from tests.test_resume import SETTINGS, prepare

    folder = prepare(tmp_path)
    short = {**SETTINGS, "model": {**SETTINGS["model"], "epochs": 3, "batch_size": 64}}  # what is logged matters
    subprocess.run(
        [sys.executable, "-m", "mlbasics", "train", "--settings", json.dumps(select("train", short)), "--threads", "1"],
        cwd=folder,
        env=engine_env(),
        check=True,
        capture_output=True,
    )
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    settings = json.dumps(
        select("evaluate", {**short, "tracking": {"uri": uri, "experiment": "kill", "mode": "online"}})
    )
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_WHILE_LOGGING, "evaluate", "--settings", settings],
        cwd=folder,
        env=engine_env(),
        capture_output=True,
        text=True,
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    client = MlflowClient(uri)
    experiment_id = client.get_experiment_by_name("kill").experiment_id
    query = "tags.dataset = 'toy' and tags.variant = 'v'"
    assert [r.info.status for r in client.search_runs([experiment_id], query)] == ["RUNNING"]

    subprocess.run(
        [sys.executable, "-m", "mlbasics", "evaluate", "--settings", settings],
        cwd=folder,
        env=engine_env(),
        check=True,
        capture_output=True,
    )
    active = client.search_runs([experiment_id], query)
    assert [r.info.status for r in active] == ["FINISHED"], "exactly one active run, and it is complete"
    assert len(client.get_metric_history(active[0].info.run_id, "val/loss")) == 3
    assert [r["variant"] for r in compare.leaderboard(uri, "kill", include_replaced=True)] == ["v"]


@pytest.mark.engine
def test_a_corrupt_store_stops_either_engine_before_any_job(tmp_path):
    from tests.helpers import copy_project, run, tiny_params

    project = copy_project(tmp_path / "project", tiny_params())
    (project / "mlflow.db").write_bytes(b"\x00garbage" * 512)
    for command in (
        [sys.executable, "-m", "snakemake", "--cores", "2"],
        [sys.executable, "-m", "mlbasics", "download", "--params", "params.yaml", "--dataset", "iris"],
    ):
        result = run(command, cwd=project, check=False)
        output = result.stdout + result.stderr
        assert result.returncode != 0 and "mlflow.db is not a usable SQLite database" in output, output[-3000:]
        assert "move it away" in output and "Traceback" not in output
        assert not (project / "data").exists() and not (project / "logs").exists()


def test_log_models_false_logs_the_run_without_its_model(tmp_path):
    """params' tracking.log_models (a large sweep: false): the run keeps everything but the MLflow model."""
    import numpy as np

    from mlbasics.data import preprocess
    from mlbasics.params import config
    from mlbasics.stages import train

    rng = np.random.default_rng(0)
    arrays = {
        f"{xy}_{part}": rng.normal(size=(40, 3)) if xy == "x" else np.arange(40) % 2
        for xy in "xy"
        for part in ("train", "val", "test")
    }
    data = tmp_path / "data.npz"
    preprocess.save(arrays, ["a", "b"], data, preprocess.fit_scaler("none", arrays["x_train"]), tmp_path / "s.json")
    spec = {**config.model_defaults(), "method": "fisher"}
    out = {
        "model": tmp_path / "model",
        "history": tmp_path / "history.csv",
        "stats": tmp_path / "stats.json",
        "scores": tmp_path / "scores.npz",
        "bundle": tmp_path / "bundle.json",
    }
    train.run(TrainSettings("toy", "fisher", 0, spec), {"data": data, "scaler": tmp_path / "s.json"}, out)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    runs = {}
    for log_models in (True, False):
        record = _record("toy", f"fisher-{log_models}")
        record["model"] = {"path": str(out["model"]), "data": str(data), "spec": spec}
        record["dataset"] = {"name": "toy", "digest": "0123456789abcdef", "source": str(data)}
        runs[log_models] = tracking.import_record(uri, "exp", record, log_models=log_models)[0]
    client = MlflowClient(uri)
    logged = client.search_logged_models([client.get_experiment_by_name("exp").experiment_id])
    assert [m.source_run_id for m in logged] == [runs[True]]
    assert client.get_run(runs[False]).data.metrics["test/accuracy"] == 0.9
    for run_id in runs.values():  # the training dataset either way (logged through the client, no active run)
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED"
        assert [
            (d.dataset.name, d.dataset.digest, {t.key: t.value for t in d.tags}) for d in run.inputs.dataset_inputs
        ] == [("toy", "0123456789abcdef", {"mlflow.data.context": "training"})]


def test_a_keras_model_is_logged_from_its_saved_file_as_mlflow_would_log_it(tmp_path):
    """The MLP's MLflow model is written from the .keras file its training saved (no load and save again): the
    same folder, flavours and signature as mlflow.tensorflow.log_model of the loaded model, custom layers
    included, and it serves the scores the training wrote."""
    import mlflow
    import mlflow.pyfunc
    import mlflow.tensorflow
    import numpy as np
    import yaml
    from mlflow.models import Model, infer_signature

    from mlbasics.data import preprocess
    from mlbasics.methods import training as methods
    from mlbasics.params import config
    from mlbasics.stages import train

    rng = np.random.default_rng(0)
    arrays = {
        f"{xy}_{part}": rng.normal(size=(60, 3)) if xy == "x" else np.arange(60) % 3
        for xy in "xy"
        for part in ("train", "val", "test")
    }
    data = tmp_path / "data.npz"
    preprocess.save(
        arrays, ["a", "b", "c"], data, preprocess.fit_scaler("none", arrays["x_train"]), tmp_path / "s.json"
    )
    spec = {**config.model_defaults(), "hidden_layers": [4], "epochs": 2, "activation": "swish"}
    out = {
        "model": tmp_path / "model",
        "history": tmp_path / "history.csv",
        "stats": tmp_path / "stats.json",
        "scores": tmp_path / "scores.npz",
        "bundle": tmp_path / "bundle.json",
    }
    train.run(TrainSettings("toy", "swish", 0, spec), {"data": data, "scaler": tmp_path / "s.json"}, out)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    record = _record("toy", "swish")
    record["model"] = {"path": str(out["model"]), "data": str(data), "spec": spec, "scores": str(out["scores"])}
    run_id = tracking.import_record(uri, "exp", record)[0]
    mlflow.set_tracking_uri(uri)
    logged = mlflow.artifacts.download_artifacts(f"runs:/{run_id}/model", dst_path=str(tmp_path / "logged"))
    example = np.asarray(arrays["x_test"][:5], dtype=np.float32)
    loaded = methods.load(spec, out["model"])
    mlflow.tensorflow.save_model(
        loaded.model,
        tmp_path / "reference",
        pip_requirements=["tensorflow"],
        signature=infer_signature(example, loaded.predict(example)),
    )
    files = {str(p.relative_to(tmp_path / "reference")) for p in (tmp_path / "reference").rglob("*")}
    assert {str(p.relative_to(logged)) for p in Path(logged).rglob("*")} - {"registered_model_meta"} == files
    assert "data/global_custom_objects.cloudpickle" in files, "the custom layer travels with the model"
    ours, theirs = (
        yaml.safe_load((Path(folder) / "MLmodel").read_text()) for folder in (logged, tmp_path / "reference")
    )
    assert ours["flavors"] == theirs["flavors"] and ours["signature"] == theirs["signature"]
    assert (
        Model.load(logged).model_id
        == MlflowClient(uri)
        .search_logged_models([MlflowClient(uri).get_experiment_by_name("exp").experiment_id])[0]
        .model_id
    )
    served = mlflow.pyfunc.load_model(f"runs:/{run_id}/model").predict(arrays["x_test"].astype(np.float32))
    np.testing.assert_allclose(np.asarray(served), np.load(out["scores"])["test"], rtol=1e-5, atol=1e-6)


def _immutable(path) -> bool:
    """chattr +i: a file or folder even root cannot write (the tests run as root, for whom chmod is no bar)."""
    import subprocess

    return subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0


def test_a_read_only_or_locked_sqlite_store_is_refused_at_the_start_in_one_line(tmp_path):
    """A store that cannot be written (the file, or its folder for a new one) or that another process keeps locked
    is refused by the start-up check, naming it and the remedy - not after a run's retries, nor as an SQLAlchemy
    traceback from the track stage."""
    import sqlite3
    import subprocess

    store = tmp_path / "mlflow.db"
    with contextlib.closing(sqlite3.connect(store)) as db:
        db.execute("create table t (x)")
    assert tracking.store_problem(f"sqlite:///{store}") is None
    if not _immutable(store):
        pytest.skip("chattr +i is not available here")
    try:
        problem = tracking.store_problem(f"sqlite:///{store}")
        assert problem.startswith(f"MLflow store {store} is read-only (attempt to write a readonly database)")
        assert tracking.store_problem(f"sqlite:///{store}", write=False) is None, "offline jobs only read it"
        with pytest.raises(tracking.TrackingError, match="is read-only"):
            tracking.preflight(f"sqlite:///{store}")
    finally:
        subprocess.run(["chattr", "-i", str(store)], check=True)
    folder = tmp_path / "frozen"
    folder.mkdir()
    assert _immutable(folder)
    try:
        problem = tracking.store_problem(f"sqlite:///{folder / 'new.db'}")
        assert problem.startswith(f"MLflow store {folder / 'new.db'} cannot be made, its folder is not writable")
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    with contextlib.closing(sqlite3.connect(store, isolation_level=None)) as other:
        other.execute("BEGIN EXCLUSIVE")
        assert tracking._unwritable(store, wait=0.2).startswith(
            f"MLflow store {store} has been locked by another process for 0.2 s: let it finish"
        )
