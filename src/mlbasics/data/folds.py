"""k-fold training's bookkeeping (split.folds), as TMVA's CrossValidation keeps it: which fold each event is in,
which events are validation events when their fold trains, which rows fold i's model trains and is tested on, and
which model scores each event in the pooled samples. Whole events at a time where rows are grouped. Plain numpy:
the preprocess, train, folds and evaluate stages and apply all read it."""

from __future__ import annotations

import numpy as np

from mlbasics.core.formats import FormatError
from mlbasics.data.arrays import Dataset


def assign_folds(
    y: np.ndarray, folds: int, seed: int, groups: np.ndarray | None = None, fold_key: np.ndarray | None = None
) -> np.ndarray:
    """Each row's fold (0 .. folds-1), whole events at a time: fold_key % folds where split.fold_by gives a number
    per event (TMVA's SplitExpr), else a seeded assignment stratified by class (each class's events shuffled and
    dealt out in turn, so the folds' class shares agree to one event)."""
    first, event_of_row = _events(y, groups)
    if fold_key is not None:
        if groups is not None:  # one event, one fold: its rows must agree on the fold_by value
            low = np.full(len(first), np.iinfo(np.int64).max)
            np.minimum.at(low, event_of_row, fold_key % folds)
            if (low[event_of_row] != fold_key % folds).any():
                raise FormatError("split.fold_by: the rows of one event (options.group) have different folds")
        return (fold_key % folds).astype(np.int64)
    rng, fold_of_event = np.random.default_rng(seed), np.empty(len(first), np.int64)
    classes = y[first] if np.issubdtype(y.dtype, np.integer) else np.zeros(len(first), np.int64)
    for k in np.unique(classes):
        events = rng.permutation(np.flatnonzero(classes == k))
        fold_of_event[events] = np.arange(len(events)) % folds
    return fold_of_event[event_of_row]


def holdout_flags(
    y: np.ndarray, fold: np.ndarray, share: float, seed: int, groups: np.ndarray | None = None
) -> np.ndarray:
    """Which rows are validation events (early stopping, checkpoints) when their fold is among a model's training
    folds: `share` of each class's events, seeded, whole events at a time."""
    first, event_of_row = _events(y, groups)
    rng, flagged = np.random.default_rng(seed + 1), np.zeros(len(first), bool)
    classes = y[first] if np.issubdtype(y.dtype, np.integer) else np.zeros(len(first), np.int64)
    for k in np.unique(classes):
        events = rng.permutation(np.flatnonzero(classes == k))
        flagged[events[: round(share * len(events))]] = True
    return flagged[event_of_row]


def _events(y: np.ndarray, groups: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Each event's first row, and each row's event (rows are events where `groups` is None)."""
    if groups is None:
        return np.arange(len(y)), np.arange(len(y))
    _, first, event_of_row = np.unique(groups, return_index=True, return_inverse=True)
    return first, event_of_row.reshape(-1)


def fold_parts(fold: np.ndarray, holdout: np.ndarray, i: int) -> dict[str, np.ndarray]:
    """Fold i's model's rows: it trains on the other folds' events (validation: their holdout ones) and is tested
    on fold i's."""
    rest = fold != i
    return {
        "train": np.flatnonzero(rest & ~holdout),
        "val": np.flatnonzero(rest & holdout),
        "test": np.flatnonzero(~rest),
    }


def pooled_models(fold: np.ndarray, holdout: np.ndarray, folds: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The pooled samples of a k-fold training, each event once, as (rows, the fold model scoring each row): test -
    every row by its own fold's model, which never saw it; val - the holdout rows, train - the others, by the next
    fold's model ((fold + 1) % folds), for which they were validation or training events."""
    val, train = np.flatnonzero(holdout), np.flatnonzero(~holdout)
    return {
        "test": (np.arange(len(fold)), fold),
        "val": (val, (fold[val] + 1) % folds),
        "train": (train, (fold[train] + 1) % folds),
    }


def check_folds(dataset: Dataset, fold: np.ndarray, holdout: np.ndarray, folds: int) -> None:
    """Refuse folds that leave a class out of a model's training, validation or test part, naming class and fold."""
    where = dataset.source or "the dataset"
    present = np.unique(dataset.y) if dataset.class_names else []
    for i in range(folds):
        for part, index in fold_parts(fold, holdout, i).items():
            missing = [k for k in present if not (dataset.y[index] == k).any()]
            if missing:
                name = {"train": "training", "val": "validation", "test": "test"}[part]
                raise FormatError(
                    f"{where}: class {dataset.class_names[missing[0]]!r} has no event in fold {i}'s {name} part; "
                    f"{folds} folds need more events of every class (or fewer folds: split.folds)"
                )
        if not dataset.class_names and min(len(v) for v in fold_parts(fold, holdout, i).values()) == 0:
            raise FormatError(f"{where}: fold {i} leaves a part empty; {folds} folds need more rows")
