import subprocess
import sys
import textwrap

from mlflow import MlflowClient

from mlbasics import tracking
from tests.conftest import engine_env

HISTORY = [{"epoch": str(e), "loss": str(1 / e), "val_loss": str(1.1 / e)} for e in range(1, 6)]


def test_env_uri_wins_over_params(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking.resolve_uri("sqlite:///mlflow.db") == "sqlite:///mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking.resolve_uri("sqlite:///mlflow.db") == "http://127.0.0.1:5000"


def test_log_run_records_params_curves_metrics_artifacts(tmp_path):
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    artifact = tmp_path / "metrics.json"
    artifact.write_text('{"accuracy": 0.9}')
    run_id = tracking.log_run(uri, "exp", "baseline", tags={"dataset": "iris", "variant": "baseline"},
                              params={"epochs": 5, "activation": "relu"}, history=HISTORY,
                              metrics={"accuracy": 0.9}, artifacts=[artifact])
    client = MlflowClient(uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "baseline"
    assert run.data.params == {"epochs": "5", "activation": "relu"}
    assert run.data.tags["dataset"] == "iris"
    assert run.data.metrics["test_accuracy"] == 0.9
    curve = client.get_metric_history(run_id, "val_loss")
    assert sorted(m.step for m in curve) == [1, 2, 3, 4, 5]
    assert [a.path for a in client.list_artifacts(run_id)] == ["metrics.json"]


def test_eight_parallel_jobs_on_a_fresh_store_all_log(tmp_path):
    """The measured failure: 8 processes creating a new sqlite store at once. The lock must prevent it."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    script = textwrap.dedent(f"""
        import sys
        from mlbasics import tracking
        history = [{{"epoch": e, "loss": 1.0 / e}} for e in range(1, 11)]
        tracking.log_run({uri!r}, "parallel", "job" + sys.argv[1], tags={{"job": sys.argv[1]}},
                         params={{"job": sys.argv[1]}}, history=history, metrics={{"accuracy": 0.5}}, artifacts=[])
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(i)], env=engine_env(), stderr=subprocess.PIPE,
                              text=True) for i in range(8)]
    failures = [p.stderr.read()[-2000:] for p in procs if p.wait(timeout=300) != 0]
    assert not failures, failures[0]
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("parallel")
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.info.run_name for r in runs) == [f"job{i}" for i in range(8)]
    for r in runs:
        assert r.info.status == "FINISHED"
        assert len(client.get_metric_history(r.info.run_id, "loss")) == 10
