"""The Dataset record every loader returns, and its file: an uncompressed, pickle-free .npz with arrays `x`,
`y`, `class_names` and `source`, and where the source has them `w` (event weights), `feature_names`, `groups`
(which event each row belongs to, where an event has several rows: the split keeps them together), `origin`
with `origin_files` (each row's file and entry in it: a test score can be traced to its event) and `fold_key`
(split.fold_by's value per row: it decides the event's fold). Light: the
preprocess and train stages read it without the loaders."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from mlbasics.core.files import atomic_path
from mlbasics.core.formats import FormatError


@dataclass(frozen=True)
class Dataset:
    x: np.ndarray
    y: np.ndarray
    class_names: list[str]
    source: str = ""  # where the rows come from, for error messages: "events.csv, label column 'kind'"
    w: np.ndarray | None = None  # per-event weights (physics samples); None: every event counts once
    feature_names: list[str] = field(default_factory=list)  # column or branch names; [] for images and toys
    # the event of each row (int64 ids; options.group), where an event has several rows (candidates): None - each
    # row is its own event
    groups: np.ndarray | None = None
    # where each row was read: int64 (index into origin_files, entry or row number in that file); None where the
    # rows have no file of their own (embedded toys, image sets)
    origin: np.ndarray | None = None
    origin_files: list[str] = field(default_factory=list)
    # the value of split.fold_by per row (int64): event i is in fold fold_key[i] % folds; None without fold_by
    fold_key: np.ndarray | None = None
    # the physics process of each row (int64, an index into processes: {name, class, scale}), where the source
    # lists processes (the root loader's options.processes)
    process: np.ndarray | None = None
    processes: list[dict] = field(default_factory=list)


def subsample(dataset: Dataset, max_samples: int | None, seed: int = 0) -> Dataset:
    """A seeded random subset of at most max_samples examples (all of them when None)."""
    if not max_samples or max_samples >= len(dataset.y):
        return dataset
    keep = np.sort(np.random.default_rng(seed).permutation(len(dataset.y))[:max_samples])
    return replace(
        dataset,
        x=dataset.x[keep],
        y=dataset.y[keep],
        w=None if dataset.w is None else dataset.w[keep],
        groups=None if dataset.groups is None else dataset.groups[keep],
        origin=None if dataset.origin is None else dataset.origin[keep],
        fold_key=None if dataset.fold_key is None else dataset.fold_key[keep],
        process=None if dataset.process is None else dataset.process[keep],
    )


def group_ids(columns: list[np.ndarray]) -> np.ndarray:
    """Key columns (one value per row each: a file's index, run, event number; numbers or strings) -> one int64 id
    per row, equal exactly where every key is."""
    arrays = [np.asarray(c) for c in columns]
    codes = [np.unique(a.astype(str) if a.dtype == object else a, return_inverse=True)[1].reshape(-1) for a in arrays]
    _, ids = np.unique(np.column_stack(codes), axis=0, return_inverse=True)
    return ids.reshape(-1).astype(np.int64)


def fold_values(values: np.ndarray, name: str, where: str) -> np.ndarray:
    """split.fold_by's values as int64, refusing values that are not whole numbers (the fold is value % folds)."""
    values = np.asarray(values)
    if values.dtype.kind in "iu":
        return values.astype(np.int64)
    numbers = values.astype(np.float64) if values.dtype.kind in "fb" else None
    if numbers is None or not np.isfinite(numbers).all() or (numbers % 1 != 0).any():
        raise FormatError(f"{where}: split.fold_by {name!r} must be a whole number per event (e.g. eventNumber)")
    return numbers.astype(np.int64)


def yields(dataset: Dataset) -> list[dict]:
    """A dataset's processes (options.processes): each one's yields after the selection - raw entries, the sum of
    its events' own weights (before its normalisation) and the expected events (its weights times xsec x lumi /
    sumw) - then each class's total."""
    process, processes = dataset.process, dataset.processes
    weights = np.ones(len(dataset.y)) if dataset.w is None else np.asarray(dataset.w, np.float64)
    rows = []
    for k, spec in enumerate(processes):
        mine = process == k
        expected = float(weights[mine].sum())
        rows.append(
            {
                "process": spec["name"],
                "class": spec["class"],
                "entries": int(mine.sum()),
                "sum_weights": expected / spec["scale"],
                "expected": expected,
            }
        )
    for name in dict.fromkeys(spec["class"] for spec in processes):
        mine = [r for r in rows if r["class"] == name]
        total = {"entries": sum(r["entries"] for r in mine), "expected": sum(r["expected"] for r in mine)}
        rows.append({"process": f"all {name}", "class": name, **total, "sum_weights": None})
    return rows


def is_colour(x: np.ndarray) -> bool:
    return x.ndim == 4 and x.shape[-1] == 3


def check(dataset: Dataset) -> None:
    """Refuse data no model can learn from, naming the source: no rows, or a single class."""
    where = dataset.source or "the dataset"
    if len(dataset.y) == 0:
        raise FormatError(f"{where}: no rows")
    if dataset.class_names:
        present = np.unique(dataset.y)
        if len(present) < 2:
            raise FormatError(
                f"{where}: every one of its {len(dataset.y)} rows is class {dataset.class_names[int(present[0])]!r}; "
                "classification needs at least two classes"
            )


def save(dataset: Dataset, path: str | Path) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        extra = {"w": dataset.w} if dataset.w is not None else {}
        if dataset.feature_names:
            extra["feature_names"] = np.array(dataset.feature_names, dtype=str)
        if dataset.groups is not None:
            extra["groups"] = dataset.groups
        if dataset.origin is not None:
            extra.update(origin=dataset.origin, origin_files=np.array(dataset.origin_files, dtype=str))
        if dataset.fold_key is not None:
            extra["fold_key"] = dataset.fold_key
        if dataset.process is not None:
            extra.update(process=dataset.process, processes=np.array(json.dumps(dataset.processes), dtype=str))
        np.savez(
            fh,
            x=dataset.x,
            y=dataset.y,
            class_names=np.array(dataset.class_names, dtype=str),
            source=np.array(dataset.source, dtype=str),
            **extra,
        )


def load(path: str | Path) -> Dataset:
    with np.load(path, allow_pickle=False) as npz:
        source = str(npz["source"]) if "source" in npz.files else ""
        names = [str(n) for n in npz["feature_names"]] if "feature_names" in npz.files else []
        return Dataset(
            npz["x"],
            npz["y"],
            [str(c) for c in npz["class_names"]],
            source,
            npz["w"] if "w" in npz.files else None,
            names,
            npz["groups"] if "groups" in npz.files else None,
            npz["origin"] if "origin" in npz.files else None,
            [str(f) for f in npz["origin_files"]] if "origin_files" in npz.files else [],
            npz["fold_key"] if "fold_key" in npz.files else None,
            npz["process"] if "process" in npz.files else None,
            json.loads(str(npz["processes"])) if "processes" in npz.files else [],
        )
