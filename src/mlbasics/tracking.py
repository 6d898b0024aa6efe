"""MLflow tracking: a side module the stages call; no stage's outputs depend on it.

A new sqlite store crashes in schema migration when several processes create it at once (measured:
8 fresh writers, 0-1 survive), while an existing store takes parallel writers fine. So the store and
the experiment are created under a file lock, by whichever job comes first.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from urllib.parse import urlparse

from filelock import FileLock

MAX_BATCH = 1000  # MLflow's limit on metrics per log_batch call


def resolve_uri(configured: str) -> str:
    """MLFLOW_TRACKING_URI, when set, wins over the URI in params.yaml."""
    return os.environ.get("MLFLOW_TRACKING_URI") or configured


def _local_store(uri: str) -> Path | None:
    """The file a local store lives in (sqlite file or file-store folder); None for servers."""
    parsed = urlparse(uri)
    if parsed.scheme == "sqlite":
        return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None
    if parsed.scheme in ("", "file"):
        return Path(parsed.path)
    return None


def ensure_experiment(uri: str, name: str) -> str:
    """Create the store (if local and new) and the experiment once, safely under parallel jobs."""
    from mlflow import MlflowClient

    store = _local_store(uri)
    if store is None:
        return _get_or_create(MlflowClient(uri), name)
    store.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(store) + ".lock"):
        return _get_or_create(MlflowClient(uri), name)


def _get_or_create(client, name: str) -> str:
    experiment = client.get_experiment_by_name(name)
    return experiment.experiment_id if experiment else client.create_experiment(name)


def _chunks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def log_run(uri: str, experiment: str, run_name: str, *, tags: dict[str, str], params: dict,
            history: list[dict], metrics: dict[str, float], artifacts: list[str | Path],
            stats: dict[str, float] | None = None) -> str:
    """One run: params, per-epoch curves (step = epoch), final test metrics (prefixed test_), run statistics
    (wall time, speed, memory; prefixed run_), artifacts. Returns the run id."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    experiment_id = ensure_experiment(uri, experiment)
    client = MlflowClient(uri)
    run = client.create_run(experiment_id, run_name=run_name, tags=tags)
    run_id = run.info.run_id
    try:
        now = int(time.time() * 1000)
        epoch_metrics = [Metric(key, float(row[key]), now, int(row["epoch"]))
                         for row in history for key in row if key != "epoch"]
        final = [Metric(f"test_{k}", float(v), now, 0) for k, v in metrics.items()]
        final += [Metric(f"run_{k}", float(v), now, 0) for k, v in (stats or {}).items()]
        client.log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items()],
                         tags=[RunTag(k, v) for k, v in tags.items()])
        for batch in _chunks(epoch_metrics + final, MAX_BATCH):
            client.log_batch(run_id, metrics=batch)
        for path in artifacts:
            client.log_artifact(run_id, str(path))
    except BaseException:
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id, status="FINISHED")
    return run_id
