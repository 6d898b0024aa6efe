"""Preprocess: pixel scaling, flattening, a seeded stratified train/validation/test split, and a feature
scaler fitted on the training split only (saved as plain affine parameters, no pickle)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from mlbasics.core.files import atomic_path, write_json
from mlbasics.core.formats import FormatError
from mlbasics.core.tasks import stored_task, task_for
from mlbasics.data.arrays import Dataset
from mlbasics.data.folds import assign_folds, check_folds, fold_parts, holdout_flags, pooled_models

SPLITS = ("train", "val", "test")
ROWS = 1_000_000  # rows scaled (or fitted) at once: memory set by the chunk, not by the sample


def _chunks(x: np.ndarray, rows: np.ndarray | None):
    """x's rows (or the rows `rows` picks), ROWS at a time, as float64: no copy of the whole sample."""
    n = len(x) if rows is None else len(rows)
    for start in range(0, n, ROWS):
        part = x[start : start + ROWS] if rows is None else x[rows[start : start + ROWS]]
        yield start, part.astype(np.float64)


@dataclass(frozen=True)
class Scaler:
    """x -> ((log1p(max(x - log_shift, 0)) if log_shift) - offset) / scale [@ matrix], fitted on the training split.

    kind 'none' is offset 0, scale 1; 'log_standard' adds the log step (for features piling up at zero);
    'pca_whiten' adds the matrix (decorrelated, unit-variance components). Saved as plain numbers, no pickle."""

    kind: str
    offset: np.ndarray
    scale: np.ndarray
    log_shift: np.ndarray | None = None
    matrix: np.ndarray | None = None

    def transform(self, x: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """The scaled inputs (float32) of x, or of the rows `rows` picks, computed ROWS rows at a time."""
        width = x.shape[1] if self.matrix is None else self.matrix.shape[1]
        out = np.empty((len(x) if rows is None else len(rows), width), np.float32)
        for start, chunk in _chunks(x, rows):
            out[start : start + len(chunk)] = self._scaled(chunk)
        return out

    def _scaled(self, x: np.ndarray) -> np.ndarray:
        if self.log_shift is not None:
            x = np.log1p(np.maximum(x - self.log_shift, 0.0))
        z = (x - self.offset) / self.scale
        if self.matrix is not None:
            z = z @ self.matrix
        return z.astype(np.float32)

    def to_dict(self) -> dict:
        d = {"kind": self.kind, "offset": self.offset.tolist(), "scale": self.scale.tolist()}
        if self.log_shift is not None:
            d["log_shift"] = self.log_shift.tolist()
        if self.matrix is not None:
            d["matrix"] = self.matrix.tolist()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Scaler:
        optional = {k: np.asarray(d[k], np.float64) for k in ("log_shift", "matrix") if k in d}
        return cls(d["kind"], np.asarray(d["offset"], np.float64), np.asarray(d["scale"], np.float64), **optional)


SCALERS = ("standard", "minmax", "robust", "log_standard", "pca_whiten", "none")


def fit_scaler(kind: str, x_train: np.ndarray, rows: np.ndarray | None = None) -> Scaler:
    """Fit with scikit-learn on the training split only (x_train, or the rows of it `rows` picks); keep just the
    numbers (constant features get scale 1). standard, minmax and log_standard are fitted ROWS rows at a time
    (scikit-learn's partial_fit: one chunk is exactly `fit`; more agree with it to rounding); robust (medians) and
    pca_whiten take the whole training split at once."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler  # light readers: lazily

    n = x_train.shape[1]
    if kind == "none":
        return Scaler(kind, np.zeros(n), np.ones(n))
    if kind in ("standard", "minmax"):
        s = StandardScaler() if kind == "standard" else MinMaxScaler()
        for _, chunk in _chunks(x_train, rows):
            s.partial_fit(chunk)
        if kind == "standard":
            return Scaler(kind, s.mean_, s.scale_)
        return Scaler(kind, s.data_min_, np.where(s.data_range_ == 0, 1.0, s.data_range_))
    if kind == "log_standard":
        shift = np.min([chunk.min(axis=0) for _, chunk in _chunks(x_train, rows)], axis=0)
        s = StandardScaler()
        for _, chunk in _chunks(x_train, rows):
            s.partial_fit(np.log1p(chunk - shift))
        return Scaler(kind, s.mean_, s.scale_, log_shift=shift)
    x_train = (x_train if rows is None else x_train[rows]).astype(np.float64)
    if kind == "robust":  # median and interquartile range
        s = RobustScaler().fit(x_train)
        return Scaler(kind, s.center_, s.scale_)
    if kind == "pca_whiten":
        pca = PCA(whiten=True, svd_solver="full").fit(x_train)
        keep = pca.explained_variance_ > 1e-9 * max(pca.explained_variance_.max(), 1e-30)  # drop flat directions
        matrix = (pca.components_[keep] / np.sqrt(pca.explained_variance_[keep])[:, None]).T
        return Scaler(kind, pca.mean_, np.ones(n), matrix=matrix)
    raise ValueError(f"unknown scaler {kind!r} (known: {', '.join(SCALERS)})")


def split_indices(
    y: np.ndarray, fractions: dict[str, float], seed: int, groups: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Seeded split into train/val/test index arrays with the given fractions; stratified by class for
    classification (integer labels), plain random for regression (float targets). With `groups` (an event id
    per row) whole events are split - each event's rows land in one part, the fractions count events, an event
    is stratified by its first row's class - so no event's candidates are both trained on and tested."""
    from sklearn.model_selection import train_test_split

    if groups is not None:
        _, first, event_of_row = np.unique(groups, return_index=True, return_inverse=True)
        events = split_indices(y[first], fractions, seed)
        return {name: np.flatnonzero(np.isin(event_of_row.reshape(-1), chosen)) for name, chosen in events.items()}

    idx = np.arange(len(y))
    classes = np.issubdtype(y.dtype, np.integer)
    rest, test = train_test_split(idx, test_size=fractions["test"], stratify=y if classes else None, random_state=seed)
    val_share = fractions["validation"] / (fractions["train"] + fractions["validation"])
    train, val = train_test_split(rest, test_size=val_share, stratify=y[rest] if classes else None, random_state=seed)
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def rows_needed(fractions: dict[str, float]) -> int:
    """The fewest rows (of each class, when stratified) for which every part of the split gets one."""
    return math.ceil(1 / min(fractions.values()) - 1e-9)


def check_split(dataset: Dataset, fractions: dict[str, float]) -> None:
    """Refuse, naming the class and how many rows (events, where rows are grouped) it needs, data the configured
    split cannot cut into a train, a validation and a test part that each hold every class."""
    where, need = dataset.source or "the dataset", rows_needed(fractions)
    shares = "/".join(f"{fractions[k]:g}" for k in ("train", "validation", "test"))
    y, unit = dataset.y, "row"
    if dataset.groups is not None:  # what is split is events: each counts once, as its first row's class
        y, unit = y[np.unique(dataset.groups, return_index=True)[1]], "event"
    if not dataset.class_names:
        if len(y) < need:
            raise FormatError(
                f"{where}: {len(y)} {unit}s; the train/validation/test split {shares} needs at least {need}"
            )
        return
    counts = np.bincount(y, minlength=len(dataset.class_names))
    present = np.flatnonzero(counts)
    short = present[counts[present] < need]
    if len(short):
        k = short[np.argmin(counts[short])]
        n = int(counts[k])
        others = len(short) - 1
        more = f" ({others} more class{'es have' if others > 1 else ' has'} fewer than {need})" if others else ""
        raise FormatError(
            f"{where}: class {dataset.class_names[k]!r} has {n} {unit}{'s' * (n != 1)}"
            f"{more}; the stratified train/validation/test split {shares} needs at least {need} "
            f"{unit}s of every class"
        )


def preprocess_folds(
    dataset: Dataset, x: np.ndarray, *, split: dict, seed: int, scaler: str
) -> tuple[dict[str, np.ndarray], list[Scaler]]:
    """k-fold data (split.folds): the unscaled inputs with each row's fold and holdout flag, and fold i's scaler
    fitted on fold i's training rows; `load(..., fold=i)` gives fold i's split, scaled."""
    folds = int(split["folds"])
    fold = assign_folds(dataset.y, folds, seed, dataset.groups, dataset.fold_key)
    share = split["validation"] / (split["train"] + split["validation"])
    holdout = holdout_flags(dataset.y, fold, share, seed, dataset.groups)
    check_folds(dataset, fold, holdout, folds)
    how = "by split.fold_by" if dataset.fold_key is not None else "seeded, by class"
    print(
        f"{dataset.source or 'the dataset'}: {folds} folds ({how}), rows {np.bincount(fold, minlength=folds).tolist()}"
    )
    scalers = [fit_scaler(scaler, x, fold_parts(fold, holdout, i)["train"]) for i in range(folds)]
    arrays = {"x": x, "y": dataset.y, "fold": fold, "holdout": holdout}
    for key, value in (("w", dataset.w), ("origin", dataset.origin), ("groups", dataset.groups)):
        if value is not None:
            arrays[key] = value
    return arrays, scalers


def preprocess(
    dataset: Dataset,
    *,
    split: dict,
    seed: int,
    pixel_scale: float | None = None,
    flatten: bool = True,
    scaler: str = "standard",
) -> tuple[dict[str, np.ndarray], Scaler | list[Scaler]]:
    """Return arrays x_train, y_train, x_val, ... (float32 features) and the fitted scaler; with split.folds the
    folded data and one scaler per fold (preprocess_folds)."""
    x = np.asarray(dataset.x, np.float32)  # no copy where it is float32 already
    if pixel_scale:
        x = x / np.float32(pixel_scale)
    if flatten or x.ndim == 1:
        x = x.reshape(len(x), -1)
    if x.ndim != 2:
        raise ValueError(f"features have shape {x.shape[1:]}; set preprocess.flatten: true for an MLP")
    if split.get("folds", 1) > 1:
        return preprocess_folds(dataset, x, split=split, seed=seed, scaler=scaler)
    check_split(dataset, split := {k: split[k] for k in ("train", "validation", "test")})
    try:
        parts = split_indices(dataset.y, split, seed, dataset.groups)
    except ValueError as exc:  # what check_split cannot foresee, in scikit-learn's words
        raise FormatError(f"{dataset.source or 'the dataset'}: cannot split ({' '.join(str(exc).split())})") from None
    if dataset.groups is not None:  # the job log says what was split: events, and the rows they hold
        counts = {name: (len(np.unique(dataset.groups[index])), len(index)) for name, index in parts.items()}
        print(
            f"{dataset.source or 'the dataset'}: split by event (options.group) - "
            + ", ".join(f"{name} {events} events ({rows} rows)" for name, (events, rows) in counts.items())
        )
    fitted = fit_scaler(scaler, x, parts["train"])
    arrays = {}
    for name, index in parts.items():
        arrays[f"x_{name}"] = fitted.transform(x, index)
        arrays[f"y_{name}"] = dataset.y[index]
        if dataset.w is not None:  # event weights travel with their events
            arrays[f"w_{name}"] = dataset.w[index]
        if dataset.origin is not None:  # so does where each event was read (file, entry)
            arrays[f"origin_{name}"] = dataset.origin[index]
        if dataset.groups is not None:  # and the event each row belongs to: the bootstrap draws events
            arrays[f"groups_{name}"] = dataset.groups[index]
    return arrays, fitted


@dataclass(frozen=True)
class Split:
    """The processed data: arrays x_/y_ (and w_, event weights, where the source has them) of train, val and
    test, the class names, the task decided here, for images one sample's shape before flattening (the report
    draws them again), the inputs' names (columns, branches), where the rows were read from files each split's
    origin_ (index into origin_files, entry), and where events have several rows each split's groups_ (event ids)."""

    arrays: dict[str, np.ndarray]
    class_names: list[str]
    task: str
    image_shape: tuple[int, ...] = ()
    feature_names: list[str] = field(default_factory=list)
    origin_files: list[str] = field(default_factory=list)
    folds: int = 1  # k-fold data (split.folds): this is fold `fold`'s split (its model's training and test rows)
    fold: int = 0

    def weights(self, part: str) -> np.ndarray | None:
        """The event weights of a split (train, val, test); None for unweighted data."""
        return self.arrays.get(f"w_{part}")

    def groups(self, part: str) -> np.ndarray | None:
        """The event id of each row of a split, where an event has several rows (options.group); else None."""
        return self.arrays.get(f"groups_{part}")

    def origin(self, part: str) -> list[tuple[str, int]] | None:
        """Each event's file and entry in it, of a split; None where the rows were not read from files."""
        found = self.arrays.get(f"origin_{part}")
        if found is None:
            return None
        return [(self.origin_files[int(i)], int(entry)) for i, entry in found]


def save(
    arrays: dict[str, np.ndarray],
    class_names: list[str],
    data_path: str | Path,
    scaler: Scaler,
    scaler_path: str | Path,
    image_shape: tuple[int, ...] = (),
    feature_names: list[str] | None = None,
    origin_files: list[str] | None = None,
) -> None:
    """The split data with its task (decided here, once, from the class names) and the fitted scaler."""
    names = {"feature_names": np.array(feature_names, dtype=str)} if feature_names else {}
    if origin_files:
        names["origin_files"] = np.array(origin_files, dtype=str)
    if isinstance(scaler, list):  # k folds: each fold's scaler travels with the data (load scales fold i's split)
        names["fold_scalers"] = np.array([json.dumps(s.to_dict(), sort_keys=True) for s in scaler], dtype=str)
    with atomic_path(data_path) as tmp, open(tmp, "wb") as fh:
        np.savez(
            fh,
            class_names=np.array(class_names, dtype=str),
            task=np.array(task_for(len(class_names))),
            image_shape=np.array(image_shape, dtype=np.int64),
            **names,
            **arrays,
        )
    write_json(scaler_path, {"folds": [s.to_dict() for s in scaler]} if isinstance(scaler, list) else scaler.to_dict())


def scaler_of(scaler: dict, fold: int | None = None) -> dict:
    """The scaler (as saved in scaler.json) a model's inputs were scaled with: fold `fold`'s of k-fold data."""
    return scaler["folds"][fold or 0] if "folds" in scaler else scaler


META = ("class_names", "image_shape", "task", "feature_names", "origin_files", "fold_scalers")
PER_ROW = ("y", "w", "groups", "origin")  # k-fold data's per-row arrays beside x


def load(path: str | Path, skip: tuple[str, ...] = (), fold: int | None = None) -> Split:
    """The processed data; `skip`: arrays not to read (e.g. the report needs no x_val or x_test). k-fold data gives
    fold `fold`'s split (default 0), its inputs scaled with that fold's scaler."""
    with np.load(path, allow_pickle=False) as npz:
        names = [str(n) for n in npz["feature_names"]] if "feature_names" in npz.files else []
        meta = dict(
            class_names=[str(c) for c in npz["class_names"]],
            task=stored_task(npz, path),
            image_shape=tuple(int(n) for n in npz["image_shape"]),
            feature_names=names,
            origin_files=[str(f) for f in npz["origin_files"]] if "origin_files" in npz.files else [],
        )
        if "fold_scalers" not in npz.files:
            return Split({k: npz[k] for k in npz.files if k not in META and k not in skip}, **meta)
        scalers = [Scaler.from_dict(json.loads(str(s))) for s in npz["fold_scalers"]]
        i = fold or 0
        parts = fold_parts(npz["fold"], npz["holdout"], i)
        arrays = {}
        for part, index in parts.items():
            if f"x_{part}" not in skip:
                arrays[f"x_{part}"] = scalers[i].transform(npz["x"], index)
            arrays.update({f"{key}_{part}": npz[key][index] for key in PER_ROW if key in npz.files})
        return Split(arrays, **meta, folds=len(scalers), fold=i)


def is_folded(path: str | Path) -> bool:
    """Whether processed data is k-fold data (split.folds)."""
    with np.load(path, allow_pickle=False) as npz:
        return "fold_scalers" in npz.files


def pooled(path: str | Path, skip: tuple[str, ...] = ()) -> tuple[Split, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """k-fold data as the evaluation of the joined folds sees it: the pooled samples (pooled_models: test - every
    event, val and train - each event once) with their labels, weights, events and origin; x_test is every event
    scaled with fold 0's scaler (the figures' pictures only; `skip` it where not needed). Also the rows and scoring
    model of each sample."""
    with np.load(path, allow_pickle=False) as npz:
        scalers = [json.loads(str(s)) for s in npz["fold_scalers"]]
        samples = pooled_models(npz["fold"], npz["holdout"], len(scalers))
        arrays = {} if "x_test" in skip else {"x_test": Scaler.from_dict(scalers[0]).transform(npz["x"])}
        for part, (index, _) in samples.items():
            arrays.update({f"{key}_{part}": npz[key][index] for key in PER_ROW if key in npz.files})
    first = load(path, skip=("x_train", "x_val", "x_test"))
    split = Split(arrays, first.class_names, first.task, first.image_shape, first.feature_names, first.origin_files)
    return replace(split, folds=first.folds), samples
