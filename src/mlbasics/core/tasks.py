"""The task - binary, multiclass or regression - decided once: the preprocess stage works it out from the data
(no class names, i.e. float targets: regression; two classes: binary; more: multiclass) and stores it in
data/processed/<dataset>/data.npz. Every later stage reads it from there; a `model.task` in params is a
request the train stage checks against it.

Before any data exists (params validation of gates, the DVC plot definitions) the task can only be predicted
from the params: `sources.is_regression` does that, and nothing else does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlbasics.core.formats import FormatError


def task_for(n_classes: int, requested: str = "auto") -> str:
    """The data's task from its number of classes (0: float targets), checked against a requested one."""
    if n_classes == 1:
        raise ValueError("need at least 2 classes, got 1")
    found = "regression" if n_classes == 0 else "binary" if n_classes == 2 else "multiclass"
    return check_request(found, requested, n_classes)


def check_request(task: str, requested: str = "auto", n_classes: int | None = None) -> str:
    """`task` if the request is "auto" or the same; a ValueError saying what the data is otherwise."""
    if requested not in ("auto", task):
        detail = "" if n_classes is None else f" ({n_classes} classes)" if n_classes else " (float targets)"
        raise ValueError(f"task: {requested!r} does not fit the data, which is {task}{detail}")
    return task


def metric(task: str) -> str:
    """The per-epoch metric of a task: accuracy, or the mean absolute error for regression."""
    return "mae" if task == "regression" else "accuracy"


EPSILON = 1e-7  # probabilities are clipped to [eps, 1 - eps] for the log loss, as Keras clips them


def loss_and_metric(task: str, y: np.ndarray, scores: np.ndarray, w: np.ndarray | None) -> tuple[float, float]:
    """The loss and metric the MLP's history holds, for scores as `predict` gives them: (log loss, accuracy) or
    (MSE, MAE), weighted by `w` (normalised by its sum, as the weights' mean is 1)."""
    w = np.ones(len(y)) if w is None else np.asarray(w, np.float64)
    if task == "regression":
        error = np.asarray(scores, np.float64) - y
        return weighted_mean(error**2, w), weighted_mean(np.abs(error), w)
    p = np.clip(np.asarray(scores, np.float64), EPSILON, 1 - EPSILON)
    if task == "binary":
        p = p[:, 0]
        return weighted_mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)), w), weighted_mean((p > 0.5) == (y == 1), w)
    return weighted_mean(-np.log(p[np.arange(len(y)), y]), w), weighted_mean(p.argmax(axis=1) == y, w)


def weighted_mean(values: np.ndarray, w: np.ndarray) -> float:
    """Sum of w x values over the sum of w."""
    return float(np.sum(values * w) / np.sum(w))


def history_columns(task: str) -> list[str]:
    """history.csv's header: loss and the task's metric, train and validation."""
    name = metric(task)
    return ["epoch", "loss", name, "val_loss", f"val_{name}"]


def history_metric(history: list[dict]) -> str:
    """The metric a history.csv holds (its header was written from the task)."""
    return "mae" if "mae" in history[0] else "accuracy"


def read_task(path: str | Path) -> str:
    """The task stored with the processed data (preprocess.save writes it); reads only that entry."""
    with np.load(path, allow_pickle=False) as npz:
        return stored_task(npz, path)


def stored_task(npz, path: str | Path) -> str:
    if "task" not in npz.files:
        raise FormatError(f"{path}: written by an older version (no task); run the preprocess stage again")
    return str(npz["task"])
