"""A real `mlflow server` on a free 127.0.0.1 port (started here, stopped by PID): the tiny pipeline with
parallel jobs logs to it; the server is killed mid-run and restarted, and no run loses metrics; a server that
is down when the pipeline starts stops it before any job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow import MlflowClient

from mlbasics.params import config
from mlbasics.pipeline import declarations as stages
from mlbasics.tracking import runs as tracking
from tests.helpers import copy_project, engine_env, run, tiny_params
from tests.loopback import dead_url
from tests.test_tracking import parallel_writers

pytestmark = pytest.mark.engine
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


class Server:
    """`python -m mlflow server` as `python -m mlbasics server` starts it, in its own process group."""

    def __init__(self, root: Path, store: str | None = None):
        self.port = int(dead_url().rsplit(":", 1)[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = tracking.server_command(
            self.port, store or f"sqlite:///{root / 'server.db'}", str(root / "artifacts")
        )
        self.log = root / "server.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 90) -> None:
        with open(self.log, "a") as log:
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, env=engine_env(), start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise AssertionError(f"mlflow server did not come up:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


@pytest.fixture
def server(tmp_path):
    started = Server(tmp_path)
    started.start()
    yield started
    started.kill()


def _project(tmp_path: Path, uri: str) -> Path:
    params = tiny_params()
    params["tracking"]["uri"] = uri
    return copy_project(tmp_path / "project", params)


def test_parallel_jobs_log_to_a_server_that_is_killed_and_restarted_mid_run(tmp_path, server):
    project = _project(tmp_path, server.url)
    params = config.load_params(project / "params.yaml")
    grid = config.grid(params)
    records = [project / stages.RUN_RECORD.format(dataset=d, variant=v) for d, v in grid]
    engine = subprocess.Popen(
        [*SNAKEMAKE, "--cores", "4"],
        cwd=project,
        env=engine_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 600
        while not any(r.exists() for r in records):  # the first evaluation is about to log: pull the plug
            assert engine.poll() is None and time.monotonic() < deadline, "the pipeline ended before any evaluation"
            time.sleep(0.2)
        server.kill()
        time.sleep(5)
        server.start()
        output, _ = engine.communicate(timeout=900)
    finally:
        if engine.poll() is None:
            engine.kill()
    assert engine.returncode == 0, output[-4000:]

    client = MlflowClient(server.url)
    experiment = client.get_experiment_by_name(params["tracking"]["experiment"]).experiment_id
    runs = client.search_runs([experiment])
    parents = [r for r in runs if r.data.tags["mlbasics.role"] == "pipeline"]
    children = [r for r in runs if r.data.tags["mlbasics.role"] == "variant"]
    assert len(parents) == 1
    assert sorted((r.data.tags["dataset"], r.data.tags["variant"]) for r in children) == sorted(grid), (
        "none lost, none twice"
    )
    for r in children:
        spec = config.model_spec(params, r.data.tags["dataset"], r.data.tags["variant"])
        assert r.info.status == "FINISHED" and r.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert len(client.get_metric_history(r.info.run_id, "val/loss")) == spec["epochs"]
        assert "test/accuracy" in r.data.metrics and "run/train_wall_s" in r.data.metrics
        assert "diagnostics.png" in {a.path for a in client.list_artifacts(r.info.run_id)}
    logs = "".join(p.read_text() for p in (project / "logs" / "evaluate").rglob("*.log"))
    assert "retrying in" in logs, "the outage hit a job while it was logging"
    print(
        f"server outage: {logs.count('retrying in')} retries, "
        f"{logs.count('could not log to MLflow')} runs left to the track stage"
    )


def test_a_server_down_at_start_stops_the_pipeline_before_any_job(tmp_path):
    url = dead_url()
    project = _project(tmp_path, url)
    result = run([*SNAKEMAKE, "--cores", "2"], cwd=project, check=False)
    assert result.returncode != 0
    message = f"MLflow tracking server {url} is unreachable"
    assert message in result.stdout + result.stderr
    assert not (project / "data" / "raw").exists() and not (project / "models").exists(), "nothing ran"


def test_the_server_command_binds_to_loopback_only():
    command = tracking.server_command(5000, "sqlite:///mlflow.db", "mlartifacts")
    assert command[command.index("--host") + 1] == "127.0.0.1"


def test_eight_parallel_jobs_log_complete_runs_to_a_server(server):
    parallel_writers(server.url, "snakemake-server-test")
    client = MlflowClient(server.url)
    experiment = client.get_experiment_by_name("parallel").experiment_id
    runs = client.search_runs([experiment], filter_string="tags.`mlbasics.role` = 'variant'")
    assert sorted(r.info.run_name for r in runs) == [f"job{i}" for i in range(8)]
    assert len({r.data.tags["mlflow.parentRunId"] for r in runs}) == 1
    for r in runs:
        assert r.info.status == "FINISHED"
        assert len(client.get_metric_history(r.info.run_id, "val/loss")) == 10


def test_each_datasets_best_run_is_the_registered_champion_and_the_alias_moves_to_a_better_one(
    tmp_path, server, monkeypatch
):
    """The track stage's crowning against a real server: per dataset a registered model `<experiment>-<dataset>`
    whose alias `champion` points at the best run's model (ROC AUC for two classes, accuracy for more); a better
    run of a later pipeline takes the alias (the old version stays), a worse one does not; `models:/...@champion`
    loads and predicts."""
    import json

    import mlflow
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from mlbasics.tracking import champions

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # put back as it was: MLflow writes it below
    mlflow.set_tracking_uri(server.url)
    x = np.random.default_rng(0).normal(size=(40, 2))
    estimator = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))

    def landed(dataset: str, variant: str, task: str, metrics: dict) -> dict:
        record = tracking.make_record(
            run_name=f"{dataset}/{variant}",
            tags={"dataset": dataset, "variant": variant, "task": task},
            params={},
            history=[{"epoch": "1", "loss": "0.5", "val_loss": "0.6"}],
            metrics=metrics,
            stats=None,
            artifacts=[],
        )
        path = tmp_path / f"{dataset}-{variant}.json"
        path.write_text(json.dumps(record))
        run_id, _ = tracking.import_record(server.url, "exp", record)
        with mlflow.start_run(run_id=run_id):
            mlflow.sklearn.log_model(estimator, name="model", pip_requirements=["scikit-learn"])  # no inference
        return {"record": str(path), "run_id": run_id, "dataset": dataset, "variant": variant}

    first = [
        landed("hep", "baseline", "binary", {"roc_auc": 0.90, "accuracy": 0.70}),
        landed("hep", "bdt", "binary", {"roc_auc": 0.85, "accuracy": 0.90}),  # better accuracy, worse AUC
        landed("iris", "baseline", "multiclass", {"accuracy": 0.93}),
    ]
    lines = champions.crown(server.url, "exp", first)
    assert lines[0].startswith("exp-hep@champion: version 1, hep/baseline (test/roc_auc 0.9)"), lines
    client = MlflowClient(server.url)
    holder = client.get_model_version_by_alias("exp-hep", "champion")
    assert holder.run_id == first[0]["run_id"]
    assert client.get_model_version_by_alias("exp-iris", "champion").run_id == first[2]["run_id"]
    better = landed("hep", "dropout", "binary", {"roc_auc": 0.95})
    assert champions.crown(server.url, "exp", [better])[0].startswith("exp-hep@champion: version 2, hep/dropout")
    worse = landed("hep", "l2", "binary", {"roc_auc": 0.80})
    assert champions.crown(server.url, "exp", [worse])[0] == "exp-hep@champion: hep/dropout stays (test/roc_auc 0.95)"
    holder = client.get_model_version_by_alias("exp-hep", "champion")
    assert holder.run_id == better["run_id"] and holder.version == "2"
    assert {v.version for v in client.search_model_versions("name = 'exp-hep'")} == {"1", "2"}  # the old stays
    assert mlflow.pyfunc.load_model("models:/exp-hep@champion").predict(x[:3]).shape == (3,)
