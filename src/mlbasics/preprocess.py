"""Preprocess: pixel scaling, flattening, a seeded stratified train/validation/test split, and a feature
scaler fitted on the training split only (saved as plain affine parameters, no pickle)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

from .datasets import Dataset
from .io import atomic_path, read_json, write_json

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Scaler:
    """x -> (x - offset) / scale, per feature. kind 'none' is offset 0, scale 1."""

    kind: str
    offset: np.ndarray
    scale: np.ndarray

    def transform(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.offset) / self.scale).astype(np.float32)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "offset": self.offset.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> Scaler:
        return cls(d["kind"], np.asarray(d["offset"], np.float32), np.asarray(d["scale"], np.float32))


def fit_scaler(kind: str, x_train: np.ndarray) -> Scaler:
    """Fit with scikit-learn, keep only the affine parameters (constant features get scale 1)."""
    n = x_train.shape[1]
    if kind == "none":
        return Scaler(kind, np.zeros(n, np.float32), np.ones(n, np.float32))
    if kind == "standard":
        s = StandardScaler().fit(x_train)
        offset, scale = s.mean_, s.scale_
    elif kind == "minmax":
        s = MinMaxScaler().fit(x_train)
        offset, scale = s.data_min_, np.where(s.data_range_ == 0, 1.0, s.data_range_)
    elif kind == "robust":
        s = RobustScaler().fit(x_train)
        offset, scale = s.center_, s.scale_
    else:
        raise ValueError(f"unknown scaler {kind!r} (known: standard, minmax, robust, none)")
    return Scaler(kind, np.asarray(offset, np.float32), np.asarray(scale, np.float32))


def split_indices(y: np.ndarray, fractions: dict[str, float], seed: int) -> dict[str, np.ndarray]:
    """Stratified, seeded split into train/val/test index arrays with the given fractions."""
    idx = np.arange(len(y))
    rest, test = train_test_split(idx, test_size=fractions["test"], stratify=y, random_state=seed)
    val_share = fractions["validation"] / (fractions["train"] + fractions["validation"])
    train, val = train_test_split(rest, test_size=val_share, stratify=y[rest], random_state=seed)
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def preprocess(dataset: Dataset, *, split: dict[str, float], seed: int, pixel_scale: float | None = None,
               flatten: bool = True, scaler: str = "standard") -> tuple[dict[str, np.ndarray], Scaler]:
    """Return arrays x_train, y_train, x_val, ... (float32 features) and the fitted scaler."""
    x = dataset.x.astype(np.float32)
    if pixel_scale:
        x = x / np.float32(pixel_scale)
    if flatten or x.ndim == 1:
        x = x.reshape(len(x), -1)
    if x.ndim != 2:
        raise ValueError(f"features have shape {x.shape[1:]}; set preprocess.flatten: true for an MLP")
    parts = split_indices(dataset.y, split, seed)
    fitted = fit_scaler(scaler, x[parts["train"]])
    arrays = {}
    for name, index in parts.items():
        arrays[f"x_{name}"] = fitted.transform(x[index])
        arrays[f"y_{name}"] = dataset.y[index]
    return arrays, fitted


def save(arrays: dict[str, np.ndarray], class_names: list[str], data_path: str | Path,
         scaler: Scaler, scaler_path: str | Path) -> None:
    with atomic_path(data_path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, class_names=np.array(class_names, dtype=str), **arrays)
    write_json(scaler_path, scaler.to_dict())


def load(path: str | Path) -> tuple[dict[str, np.ndarray], list[str]]:
    """Arrays x_train, y_train, x_val, y_val, x_test, y_test and the class names."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files if k != "class_names"}
        return arrays, [str(c) for c in npz["class_names"]]


def load_scaler(path: str | Path) -> Scaler:
    return Scaler.from_dict(read_json(path))


def run(settings: dict, inputs: dict, outputs: dict, threads: int = 0) -> None:
    """The preprocess stage: raw .npz in; split, scaled arrays and the fitted scaler out."""
    from . import datasets

    raw = datasets.load(inputs["raw"])
    arrays, scaler = preprocess(raw, split=settings["split"], seed=settings["seed"],
                                pixel_scale=settings["pixel_scale"], flatten=settings["flatten"],
                                scaler=settings["scaler"])
    save(arrays, raw.class_names, outputs["data"], scaler, outputs["scaler"])
