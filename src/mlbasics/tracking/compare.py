"""The leaderboard of the runs in MLflow, as `python -m mlbasics compare` shows it: one row per (dataset,
variant), best first within each dataset, printable and writable as CSV."""

from __future__ import annotations

import time
from pathlib import Path

from mlbasics.tracking.runs import TrackingError, use_short_http_retries

LEADERBOARD = [
    "dataset",
    "variant",
    "method",
    "roc_auc",
    "accuracy",
    "mse",
    "interval",
    "f1_macro",
    "r2",
    "verdict",
    "overfitting_since",
    "train_wall_s",
    "run_id",
    "start_time",
]


def leaderboard(uri: str, experiment: str, include_replaced: bool = False) -> list[dict]:
    """One row per (dataset, variant) run in the store - the current ones unless `include_replaced` -
    best first within each dataset (test ROC AUC for two classes, accuracy for more, lowest MSE for regression)."""
    from mlflow import MlflowClient

    use_short_http_retries()
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise TrackingError(f"no experiment {experiment!r} in {uri}")
    runs = client.search_runs(
        [found.experiment_id], filter_string="tags.`mlbasics.role` = 'variant'", max_results=50000
    )
    rows = []
    for run in runs:
        if run.data.tags.get("mlbasics.replaced_by") and not include_replaced:
            continue
        m = run.data.metrics
        since = int(_metric(m, "train/overfitting_since", "test_overfitting_since") or 0) or None  # 0: never
        rows.append(
            {
                "dataset": run.data.tags.get("dataset"),
                "variant": run.data.tags.get("variant"),
                "method": run.data.params.get("method", "mlp"),  # runs before the reference methods: MLPs
                "task": run.data.tags.get("task"),
                **{k: _metric(m, f"test/{k}", f"test_{k}") for k in ("accuracy", "f1_macro", "roc_auc", "mse", "r2")},
                "interval": _interval(m, run.data.tags.get("task")),
                "overfitting_since": since,
                "verdict": _verdict(run.data.tags),
                "train_wall_s": _metric(m, "run/train_wall_s", "run_train_wall_s"),
                "run_id": run.info.run_id,
                "start_time": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.info.start_time / 1000)),
            }
        )

    def rank(row: dict) -> tuple:
        # by the dataset's headline number: ROC AUC for two classes, accuracy for more, MSE for a regression (runs
        # logged before the task tag: regression is where no accuracy was logged)
        regression = row["task"] == "regression" if row["task"] else row["accuracy"] is None
        if regression:
            return row["dataset"] or "", row["mse"] or 0.0
        binary = row["task"] == "binary" and row["roc_auc"] is not None
        return row["dataset"] or "", -((row["roc_auc"] if binary else row["accuracy"]) or 0.0)

    return sorted(rows, key=rank)


HEADLINE = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "mse"}  # what a dataset is ranked by


def _interval(metrics: dict, task: str | None) -> str | None:
    """The bootstrap interval of the run's headline number, as text ("[0.9103, 0.9459]"); None without."""
    name = HEADLINE.get(task or "")
    low, high = (_metric(metrics, f"test/{name}_ci_{end}", f"test_{name}_ci_{end}") for end in ("lo", "hi"))
    return None if name is None or low is None or high is None else f"[{low:.4f}, {high:.4f}]"


def _metric(metrics: dict, name: str, before: str) -> float | None:
    """A metric by its name, or by the name runs logged before the train/ val/ test/ run/ prefixes."""
    return metrics.get(name, metrics.get(before))


def _verdict(tags: dict) -> str | None:
    """The run's verdict with its reason: "overfitting (KS p 3e-05 < 0.005)"."""
    verdict, why = tags.get("verdict"), tags.get("verdict_reason")
    return f"{verdict} ({why})" if verdict and why else verdict


def write_leaderboard(rows: list[dict], csv_path: str | Path | None) -> str:
    """The leaderboard as text for the terminal (the columns some run fills: the headline numbers first, then the
    interval of the one the dataset is ranked by) and, optionally, as CSV."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=LEADERBOARD).dropna(axis=1, how="all")
    if "overfitting_since" in frame:  # whole epochs; blank where a run never overfitted (not pandas' <NA>)
        frame["overfitting_since"] = frame["overfitting_since"].map(lambda v: "" if pd.isna(v) else str(int(v)))
    if csv_path:
        from mlbasics.core.files import atomic_path

        with atomic_path(csv_path) as tmp:
            frame.to_csv(tmp, index=False)
    return frame.to_string(index=False, float_format=lambda v: f"{v:.4f}", na_rep="")
