"""MLflow tracking: one parent run per pipeline invocation, one child run per (dataset, variant), provenance
tags on every run, and nothing lost when the store is busy, unreachable or far away.

Every evaluate job first writes its run as a record, reports/<d>/<v>/mlflow_run.json: tags, params, per-epoch
and test metrics, artifacts, and a unique id. Online (`tracking.mode: online`, the default) the job then logs
the record to the store at once, retrying with backoff; if the store stays away the record is kept and the job
goes on. Offline (`tracking.mode: offline`, for compute nodes with no route to the server) the job only writes
the record. The last stage, `track` (a local rule), logs every record not yet in the store: importing is
idempotent (a record's uid is a tag of its run), so runs written offline or during an outage land there,
exactly once.

A new sqlite store crashes in schema migration when several processes create it at once (measured: 8 fresh
writers, 0-1 survive), while an existing store takes parallel writers fine. So the store, the experiment and
each invocation's parent run are created under a file lock.

Over 350 lines: the store checks (preflight), the run tree and the idempotent import with its clean-up of
half-logged runs belong together, since each relies on what the others tag; the leaderboard (compare.py) and
provenance (provenance.py) live apart.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlparse

from filelock import FileLock

from mlbasics.core import provenance
from mlbasics.core.files import read_json, write_json

MAX_BATCH = 1000  # MLflow's limit on metrics per log_batch call
LOCK = Path(".mlbasics") / "tracking.lock"  # for stores that are not a local file (servers)
ENV_INVOCATION, ENV_ENGINE, ENV_TRACKING = "MLBASICS_INVOCATION", "MLBASICS_ENGINE", "MLBASICS_TRACKING"


class TrackingError(RuntimeError):
    """The tracking store cannot be reached or written; the message says what to do."""


# MLflow's client retries a refused connection 7 times with backoff up to 2 minutes each, per request, and
# times out after 120 s. Our own retries (log_online) redo the whole, idempotent import instead, so keep
# MLflow's short (the environment can still override these).
MLFLOW_HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}


def use_short_http_retries() -> None:
    """Set MLFLOW_HTTP_DEFAULTS where the environment has not: before any MLflow client talks to a store."""
    for key, value in MLFLOW_HTTP_DEFAULTS.items():
        os.environ.setdefault(key, value)


def resolve_uri(configured: str) -> str:
    """MLFLOW_TRACKING_URI, when set, wins over the URI in params.yaml. A relative SQLite path is the repository's:
    a queued or temporary DVC experiment runs in a copy of it (.dvc/tmp/exps/...), which DVC deletes afterwards,
    and names the repository in DVC_ROOT - its runs must land in the repository's store, not the copy's."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or configured
    root = os.environ.get("DVC_ROOT")
    if (
        uri.startswith("sqlite:///")
        and not uri.startswith("sqlite:////")
        and root
        and Path(root).resolve() != Path.cwd().resolve()
    ):
        return f"sqlite:///{Path(root).resolve() / uri.removeprefix('sqlite:///')}"
    return uri


def is_server(uri: str) -> bool:
    return urlparse(uri).scheme in ("http", "https")


def local_store(uri: str) -> Path | None:
    """The file a local store lives in (sqlite file or file-store folder); None for servers."""
    parsed = urlparse(uri)
    if parsed.scheme == "sqlite":
        return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None
    if parsed.scheme in ("", "file"):
        return Path(parsed.path)
    return None


def _lock(uri: str) -> FileLock:
    store = local_store(uri)
    path = Path(str(store) + ".lock") if store else LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path))


# A database URI's driver module -> the pip package that provides it
DRIVERS = {
    "psycopg2": "psycopg2-binary",
    "psycopg": "psycopg[binary]",
    "MySQLdb": "mysqlclient",
    "pymysql": "PyMySQL",
    "pyodbc": "pyodbc",
    "pymssql": "pymssql",
}


def store_problem(uri: str, write: bool = True) -> str | None:
    """What makes a store unusable in a way that no retry fixes, with the remedy: a database driver that is
    not installed, a local SQLite store that is not a database (corrupt, or some other file), or - where it will
    be `write`n - one that cannot be written (read-only, or locked)."""
    scheme = urlparse(uri).scheme
    if scheme.split("+")[0] in ("postgresql", "mysql", "mssql"):
        from sqlalchemy.engine import make_url

        try:
            make_url(uri).get_dialect().import_dbapi()
        except ImportError as exc:
            module = exc.name or str(exc)
            return (
                f"MLflow store {uri.split('@')[-1]}: its database driver {module!r} is not installed: "
                f"`.venv/bin/pip install {DRIVERS.get(module, module)}` (and pin it in requirements.lock)"
            )
    if scheme == "sqlite":
        path = local_store(uri)
        if path is not None and path.is_file() and path.stat().st_size > 0:
            import sqlite3

            try:
                with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
                    db.execute("PRAGMA schema_version").fetchone()
            except sqlite3.DatabaseError as exc:
                return (
                    f"MLflow store {path} is not a usable SQLite database ({exc}): move it away (MLflow "
                    "makes a new one), restore a backup, or point tracking.uri / MLFLOW_TRACKING_URI elsewhere"
                )
        if path is not None and write:
            return _unwritable(path)
    return None


def _unwritable(path: Path, wait: float = 10.0) -> str | None:
    """Whether a local SQLite store can be written now: a write transaction is begun and rolled back (a read-only
    file or folder, or a lock held longer than `wait` seconds, fails it); a store not made yet needs its folder."""
    import sqlite3

    remedy = "or point tracking.uri / MLFLOW_TRACKING_URI elsewhere (every mode writes it: offline, the track stage)"
    if not path.is_file():
        folder = path.parent if str(path.parent) else Path(".")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tempfile.TemporaryFile(dir=folder).close()
        except OSError as exc:
            why = exc.strerror or exc
            return f"MLflow store {path} cannot be made, its folder is not writable ({why}): make it so {remedy}"
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=wait)) as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            db.execute("BEGIN IMMEDIATE")
            db.execute(f"PRAGMA user_version = {int(version)}")  # a write, which needs the journal beside it
            db.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc):
            return f"MLflow store {path} has been locked by another process for {wait:g} s: let it finish {remedy}"
        return f"MLflow store {path} is read-only ({exc}): make the file and its folder writable {remedy}"
    return None


def permanent(exc: BaseException) -> bool:
    """An error that retrying cannot fix (a missing driver, a corrupt store)."""
    text = str(exc)
    return isinstance(exc, ImportError) or "file is not a database" in text or "malformed" in text


def preflight(uri: str, timeout: float = 5.0, reach: bool = True, write: bool = True) -> None:
    """Fail early, with what to do, when the store cannot work (a missing driver, a corrupt file; where it will
    be `write`n, a read-only or locked one) or, with `reach`, when a tracking server does not answer its health
    check."""
    problem = store_problem(uri, write)
    if problem:
        raise TrackingError(problem)
    if not is_server(uri) or not reach:
        return
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as response:
            if response.status == 200:
                return
            problem = f"HTTP {response.status}"
    except (urllib.error.URLError, OSError) as exc:
        problem = str(getattr(exc, "reason", exc))
    raise TrackingError(
        f"MLflow tracking server {uri} is unreachable ({problem}): start it (python -m mlbasics server), "
        "point tracking.uri or MLFLOW_TRACKING_URI elsewhere, or set tracking.mode: offline to log later"
    )


def ensure_experiment(uri: str, name: str) -> str:
    """Create the store (if local and new) and the experiment once, safely under parallel jobs."""
    from mlflow import MlflowClient

    use_short_http_retries()
    with _lock(uri):
        client = MlflowClient(uri)
        experiment = client.get_experiment_by_name(name)
        if experiment is None:  # the UI opens an experiment of this kind on its runs (not on a GenAI overview)
            # a local store keeps its artifacts beside it (MLflow's default is the working directory's mlruns/,
            # which for a DVC experiment in a temporary copy would be deleted with it)
            store = local_store(uri) if uri.startswith("sqlite:///") else None
            location = (store.resolve().parent / "mlruns").as_uri() if store is not None else None
            return client.create_experiment(
                name, artifact_location=location, tags={EXPERIMENT_KIND: "custom_model_development"}
            )
        if EXPERIMENT_KIND not in experiment.tags:
            client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND, "custom_model_development")
        return experiment.experiment_id


# --- who is running: the invocation (one parent run each) ---------------------------------------------------


def invocation() -> dict:
    """This job's pipeline invocation: set by the Snakefile for every job it starts (MLBASICS_INVOCATION);
    under DVC the `dvc` process this job descends from; otherwise this process alone."""
    if os.environ.get(ENV_INVOCATION):
        return {"id": os.environ[ENV_INVOCATION], "engine": os.environ.get(ENV_ENGINE, "snakemake")}
    import psutil

    # in the warm worker (worker.py), the job's process is the client that handed the stage over
    job = int(os.environ.get("MLBASICS_WORKER_JOB") or os.getpid())
    for parent in psutil.Process(job).parents():
        try:  # `dvc repro`, `python -m dvc exp run`, `.venv/bin/python .venv/bin/dvc ...`
            is_dvc = parent.name() == "dvc" or "dvc" in [Path(c).name for c in parent.cmdline()[:3]]
            if is_dvc:
                return {"id": f"dvc-{parent.pid}-{int(parent.create_time())}", "engine": "dvc"}
        except psutil.Error:
            continue
    return {"id": f"cli-{os.getpid()}-{uuid.uuid4().hex[:8]}", "engine": "cli"}


def new_invocation_id(engine: str) -> str:
    return f"{engine}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"


# --- records: a run as data ---------------------------------------------------------------------------------

EXPERIMENT_KIND = "mlflow.experimentKind"
SOURCES = {"snakemake": "Snakefile", "dvc": "dvc.yaml"}  # what ran the job, as MLflow's Source column names it


# Metric names in MLflow, grouped by what they were measured on (the UI groups charts by the part before "/"):
# train/ (the training sample, or the training history), val/, test/, run/ (how it ran: time, memory, threads)
FROM_HISTORY = {
    "best_epoch",
    "overfitting_since",
    "loss_gap_final",
    "loss_gap_best",
    "accuracy_gap_final",
    "mae_gap_final",
}
DVC_EXPERIMENT = {"dvc.exp_name": "DVC_EXP_NAME", "dvc.exp_baseline_rev": "DVC_EXP_BASELINE_REV"}


def curve_name(key: str) -> str:
    """A history column's metric name: loss -> train/loss, val_accuracy -> val/accuracy."""
    return f"val/{key[4:]}" if key.startswith("val_") else f"train/{key}"


def metric_name(key: str) -> str:
    """An evaluation number's metric name: test/<key> for the test sample's, train/ for numbers of the training
    sample or its history (train_sig_eff_at_bkg_0p10, best_epoch, loss_gap_final), val/ for the validation
    sample's (validation_roc_auc)."""
    if key.startswith("train_"):
        return f"train/{key[6:]}"
    if key.startswith("validation_"):
        return f"val/{key[11:]}"
    return f"train/{key}" if key in FROM_HISTORY else f"test/{key}"


def make_record(
    *,
    run_name: str,
    tags: dict[str, str],
    params: dict,
    history: list[dict],
    metrics: dict[str, float],
    stats: dict[str, float] | None,
    artifacts: list[str | Path],
    model: dict | None = None,
    started: float | None = None,
    stamps: dict[int, int] | None = None,
    dataset: dict | None = None,
) -> dict:
    """Everything one MLflow run will hold, as JSON: the per-epoch curves (train/<name>, val/<name>; step = epoch,
    timestamped with the epoch's end where `stamps` has it, Unix ms), the evaluation's numbers (metric_name:
    test/, train/, val/), run statistics (run/), the DVC experiment it ran in (tags), artifact paths, the model
    to log with its signature (`model`: its folder and the data whose first test rows give the signature), the
    dataset it was trained on (MLflow's dataset input: name, digest, source), MLflow's standard tags (user,
    source, git commit), and its real start (the training's) and end (now)."""
    import getpass

    now = int(time.time() * 1000)
    start = int((started or time.time()) * 1000)
    stamps = stamps or {}
    curves = [
        [curve_name(key), float(row[key]), int(float(row["epoch"])), stamps.get(int(float(row["epoch"])), start)]
        for row in history
        for key in row
        if key != "epoch"
    ]
    final = [[metric_name(k), float(v), 0, now] for k, v in metrics.items()]
    final += [[f"run/{k}", float(v), 0, now] for k, v in (stats or {}).items()]
    where = invocation()
    standard = {
        "mlflow.user": getpass.getuser(),
        "mlflow.source.type": "JOB",
        "mlflow.source.name": SOURCES.get(where["engine"], "python -m mlbasics"),
        **({"mlflow.source.git.commit": tags["git_commit"]} if tags.get("git_commit", "unknown") != "unknown" else {}),
    }
    experiment = {  # run by `dvc exp run`: the experiment's name and the commit it started from
        tag: os.environ[name] for tag, name in DVC_EXPERIMENT.items() if os.environ.get(name)
    }
    return {
        "uid": uuid.uuid4().hex,
        "run_name": run_name,
        "invocation": where,
        "start_time": start,
        "end_time": now,
        "tags": {**standard, **experiment, **{k: str(v) for k, v in tags.items()}},
        "params": {k: str(v) for k, v in params.items()},
        "metrics": curves + final,
        "artifacts": [str(p) for p in artifacts],
        "model": model,
        "dataset": dataset,
    }


def _find_uid(client, experiment_id: str, uid: str):
    runs = client.search_runs([experiment_id], filter_string=f"tags.`mlbasics.uid` = '{uid}'", max_results=5)
    return runs[0] if runs else None


def parent_run(client, uri: str, experiment_id: str, inv: dict) -> str:
    """The invocation's parent run, created by whichever of its jobs comes first."""
    with _lock(uri):
        found = client.search_runs(
            [experiment_id],
            max_results=1,
            filter_string=f"tags.`mlbasics.invocation` = '{inv['id']}' and tags.`mlbasics.role` = 'pipeline'",
        )
        if found:
            return found[0].info.run_id
        name = f"{inv['engine']} {time.strftime('%Y-%m-%d %H:%M:%S')}"
        run = client.create_run(
            experiment_id,
            run_name=name,
            tags={
                "mlbasics.role": "pipeline",
                "mlbasics.invocation": inv["id"],
                "engine": inv["engine"],
                "host": socket.gethostname(),
                **provenance.git_state(),
            },
        )
        client.set_terminated(run.info.run_id, status="FINISHED")
        return run.info.run_id


def _writer() -> str:
    """Who is logging a run (a tag): host, pid and the process's start, to tell a dead writer from a live one."""
    import psutil

    return f"{socket.gethostname()}:{os.getpid()}:{int(psutil.Process().create_time())}"


def _writer_gone(tag: str | None) -> bool:
    """Whether the process that began logging a run is dead. Runs begun on another host count as alive:
    their own host's next import cleans them up."""
    import psutil

    if not tag:
        return True  # written before writers were recorded
    host, pid, started = tag.rsplit(":", 2)
    if host != socket.gethostname():
        return False
    try:
        return int(psutil.Process(int(pid)).create_time()) != int(started)
    except psutil.Error:
        return True


def _previous(client, experiment_id: str, tags: dict) -> str | None:
    """The latest finished run of the same dataset and variant that nothing has replaced yet. Half-logged
    runs of it - an import that failed, or one whose process was killed (still RUNNING, its writer gone) -
    are deleted on the way: a killed evaluation leaves no active run with missing metrics behind."""
    query = (
        f"tags.dataset = '{tags['dataset']}' and tags.variant = '{tags['variant']}' "
        "and tags.`mlbasics.role` = 'variant'"
    )
    found = None
    for run in client.search_runs(
        [experiment_id], filter_string=query, order_by=["attributes.start_time DESC"], max_results=50
    ):
        status = run.info.status
        if status == "FAILED" or (status == "RUNNING" and _writer_gone(run.data.tags.get("mlbasics.writer"))):
            client.delete_run(run.info.run_id)
        elif found is None and status == "FINISHED" and "mlbasics.replaced_by" not in run.data.tags:
            found = run.info.run_id
    return found


def import_record(
    uri: str, experiment: str, record: dict, log_models: bool = True, new: bool = False
) -> tuple[str, bool]:
    """Log a record as a child of its invocation's parent run, unless a finished run holds it already; its model
    too where `log_models` (params' tracking.log_models). Returns (run id, whether it was logged now). A
    half-logged run (an earlier attempt that died) is deleted and logged again, so a retry never leaves a run
    with missing metrics. `new`: the record was made by this process and not logged yet (no run to look for)."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    experiment_id = ensure_experiment(uri, experiment)
    client = MlflowClient(uri)
    existing = None if new else _find_uid(client, experiment_id, record["uid"])
    if existing is not None and existing.info.status == "FINISHED":
        return existing.info.run_id, False
    if existing is not None:
        client.delete_run(existing.info.run_id)
    parent = parent_run(client, uri, experiment_id, record["invocation"])
    replaces = _previous(client, experiment_id, record["tags"]) if "dataset" in record["tags"] else None
    tags = {
        **record["tags"],
        "mlflow.parentRunId": parent,
        "mlbasics.uid": record["uid"],
        "mlbasics.role": "variant",
        "mlbasics.invocation": record["invocation"]["id"],
        "engine": record["invocation"]["engine"],
        "mlbasics.writer": _writer(),
        **({"mlbasics.replaces": replaces} if replaces else {}),
    }
    run = client.create_run(experiment_id, run_name=record["run_name"], start_time=record["start_time"], tags=tags)
    run_id = run.info.run_id
    try:
        client.log_batch(
            run_id,
            params=[Param(k, v) for k, v in record["params"].items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
        if record.get("dataset"):
            client.log_inputs(run_id, datasets=[dataset_input(record["dataset"])])
        model = record.get("model") if log_models else None
        with _active(uri, run_id, bool(model)):
            # the model before the metrics: MLflow would otherwise read every metric back, one query each
            # (~0.1 s), to link the final ones (step 0) to the model - linked here as they are logged
            model_id = log_model(model)
            # [key, value, step, timestamp]; records written before timestamps: the run's end
            metrics = [
                Metric(k, v, (rest or [record["end_time"]])[0], step, model_id=model_id if step == 0 else None)
                for k, v, step, *rest in record["metrics"]
            ]
            for start in range(0, len(metrics), MAX_BATCH):
                client.log_batch(run_id, metrics=metrics[start : start + MAX_BATCH])
            for path in record["artifacts"]:
                client.log_artifact(run_id, path)
    except BaseException:
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id, status="FINISHED", end_time=record["end_time"])
    if replaces:
        client.set_tag(replaces, "mlbasics.replaced_by", run_id)
    client.set_terminated(parent, status="FINISHED")  # the parent ends with its latest child
    return run_id, True


@contextlib.contextmanager
def _active(uri: str, run_id: str, needed: bool):
    """The run as MLflow's active run (what logging a model needs), if `needed`. Leaving it ends the run (FAILED
    on an exception): everything is logged inside."""
    if not needed:
        yield
        return
    import mlflow

    with global_uri(uri), mlflow.start_run(run_id=run_id):
        yield


@contextlib.contextmanager
def global_uri(uri: str):
    """MLflow's process-wide tracking URI set to `uri` inside (what its fluent API and parts of its registry read),
    then as it was. MLflow also writes the URI to MLFLOW_TRACKING_URI, which would win over params in this process
    afterwards (a warm worker's next job): the environment is put back too."""
    import mlflow

    before = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(before)  # None: MLflow's own default again
        if before is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)


def dataset_input(dataset: dict):
    """The processed data as the run's training dataset (MLflow's Dataset column: name, digest, source), for
    the client's log_inputs (no active run needed: mlflow.log_input would start one)."""
    import warnings

    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.entities import Dataset, DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    with warnings.catch_warnings():  # "can be interpreted in multiple ways": a local file, either way
        warnings.simplefilter("ignore", UserWarning)
        source = resolve_dataset_source(str(Path(dataset["source"]).resolve()))
    meta = MetaDataset(source, name=dataset["name"], digest=dataset["digest"])
    return DatasetInput(dataset=Dataset(**meta.to_dict()), tags=[InputTag(MLFLOW_DATASET_CONTEXT, "training")])


def log_model(model: dict | None) -> str | None:
    """Into the active run: the model, with a signature, so `mlflow.pyfunc.load_model(f"runs:/{run_id}/model")`
    serves it - where its bundle is known and its inputs are not images, a pyfunc model taking the raw inputs
    (raw_model.py), with its ONNX file beside it (artifact onnx/); else the method's MLflow flavour on the
    preprocessed inputs. The model's id (None: no model)."""
    if not model:
        return None
    import numpy as np

    from mlbasics.data import preprocess
    from mlbasics.methods import training as methods

    split = preprocess.load(model["data"])
    # records before the scores file compute them; records before the seam (no spec) are Keras
    outputs = None
    if model.get("scores"):
        with np.load(model["scores"]) as scores:  # the test scores only, and the file closed again
            outputs = scores["test"][:5]
    if model.get("bundle") and not split.image_shape and outputs is not None:
        from mlbasics.tracking import raw_model

        # the signature's types and names: any raw row will do (its values are not logged)
        example = np.zeros((len(outputs), split.arrays["x_test"].shape[1]))
        return raw_model.log(model["path"], model["bundle"], example, outputs)
    example = np.asarray(split.arrays["x_test"][:5], dtype=np.float32)
    folder = Path(model["path"])
    if split.folds > 1:  # a k-fold variant on scaled inputs (images): the flavour takes one model, fold 0's
        folder = folder / "fold-0"
    return methods.log_model(model.get("spec", {}), str(folder), example, outputs)


def log_online(
    uri: str,
    experiment: str,
    record: dict,
    record_path: str | Path,
    retries: int = 4,
    backoff: float = 2.0,
    log_models: bool = True,
) -> str | None:
    """Log a record this process has just made now (the first attempt looks for no earlier run of it), retrying
    with exponential backoff; None (and a message saying where the run is kept and how it gets imported) if the
    store stays unreachable."""
    for attempt in range(retries + 1):
        try:
            return import_record(uri, experiment, record, log_models, new=attempt == 0)[0]
        except Exception as exc:
            if permanent(exc):
                print(
                    f"warning: MLflow at {uri} cannot work, no retry will help: "
                    f"{store_problem(uri) or str(exc).splitlines()[0][:300]}. The run is kept in {record_path}; "
                    "once the store is fixed the pipeline's track stage imports it"
                )
                return None
            if attempt == retries:
                print(
                    f"warning: could not log to MLflow at {uri} after {retries + 1} attempts "
                    f"({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}); the run is kept "
                    f"in {record_path} and the pipeline's track stage imports it "
                    "(or: python -m mlbasics track --params params.yaml)"
                )
                return None
            wait = backoff * 2**attempt
            print(
                f"MLflow at {uri} failed ({type(exc).__name__}), attempt {attempt + 1} of {retries + 1}: "
                f"retrying in {wait:g} s",
                flush=True,
            )
            time.sleep(wait)
    return None


def sync(
    uri: str, experiment: str, record_paths: list[str | Path], output: str | Path, log_models: bool = True
) -> dict:
    """The track stage: make sure every record is a finished run in the store; write the run ids."""
    summary = import_records(uri, experiment, record_paths, log_models)
    write_json(output, {k: summary[k] for k in ("uri", "experiment", "runs", "records")})  # the same file whenever
    return summary  # the store holds the same runs (DVC: up to date)


def import_records(uri: str, experiment: str, record_paths: list[str | Path], log_models: bool = True) -> dict:
    """Every record a finished run in the store (each exactly once): what was imported, and how many now."""
    preflight(uri)
    rows, imported = [], 0
    for path in record_paths:
        record = read_json(path)
        try:
            run_id, new = import_record(uri, experiment, record, log_models)
        except Exception as exc:
            raise TrackingError(f"{path}: could not log to MLflow at {uri}: {exc}".splitlines()[0]) from exc
        imported += new
        rows.append(
            {
                "record": str(path),
                "uid": record["uid"],
                "run_id": run_id,
                "dataset": record["tags"].get("dataset"),
                "variant": record["tags"].get("variant"),
            }
        )
    return {"uri": uri, "experiment": experiment, "runs": len(rows), "records": rows, "imported_now": imported}


def settings_from_env(default: dict | None) -> dict:
    """The tracking settings a Snakemake job got from its pipeline (MLBASICS_TRACKING), else `default`.
    They travel outside the stage's settings so that changing the URI reruns no evaluation (the track stage
    reruns and imports every run into the new store)."""
    raw = os.environ.get(ENV_TRACKING)
    if raw:
        return json.loads(raw)
    if default is None:
        raise TrackingError(
            f"no tracking settings: run through the pipeline, or give them ({ENV_TRACKING} or the CLI's --params)"
        )
    return default


# --- the tracking server and comparisons without the UI -----------------------------------------------------


def runs_page(url: str, experiment_id: str | None = None) -> str:
    """The MLflow UI's page of runs: MLflow 3 opens an experiment on its GenAI overview unless the UI is switched
    to model training (the sidebar's "Model training", or this URL's workflowType)."""
    where = f"experiments/{experiment_id}" if experiment_id else "experiments"
    return f"{url.rstrip('/')}/#/{where}?workflowType=machine_learning"


def server_command(port: int, backend_store_uri: str, artifacts_destination: str, workers: int = 1) -> list[str]:
    """`mlflow server` bound to 127.0.0.1 (never all interfaces), serving artifacts itself so that jobs need
    only its URL."""
    import sys

    return [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        backend_store_uri,
        "--artifacts-destination",
        artifacts_destination,
        "--workers",
        str(workers),
    ]
