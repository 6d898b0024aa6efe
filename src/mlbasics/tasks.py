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

from .formats import FormatError


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
