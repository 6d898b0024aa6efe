"""The downloaded image loaders: Keras' MNIST, Fashion-MNIST, CIFAR-10 (each with its pinned files) and your own
IDX files. They read what the download stage verified and listed in its receipt."""

from __future__ import annotations

import numpy as np

from mlbasics.core import formats
from mlbasics.data.arrays import Dataset
from mlbasics.data.loaders.base import Loader, RemoteFile, receipt_file

KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
FASHION_MNIST_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
# Hashes from the origins' published checksums (Keras, CIFAR's page)
MNIST_FILES = (
    RemoteFile(
        "mnist.npz", "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1", KERAS_ORIGIN + "mnist.npz"
    ),
)
FASHION_MNIST_FILES = tuple(
    RemoteFile(name, sha, KERAS_ORIGIN + name)
    for name, sha in (
        ("train-images-idx3-ubyte.gz", "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
        ("train-labels-idx1-ubyte.gz", "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
        ("t10k-images-idx3-ubyte.gz", "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
        ("t10k-labels-idx1-ubyte.gz", "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
    )
)
CIFAR10_FILES = (
    RemoteFile(
        "cifar-10-python.tar.gz",
        "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    ),
)


def mnist(receipt: dict) -> Dataset:
    """Keras' MNIST (mnist.npz): 60,000 training + 10,000 test digits, 28x28."""
    x, y = formats.read_keras_mnist(receipt_file(receipt, "mnist.npz"))
    return Dataset(x, y, [str(i) for i in range(10)])


def _idx_files(receipt: dict, images: list[str], labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    pairs = [
        formats.read_idx_pair(receipt_file(receipt, i), receipt_file(receipt, lab))
        for i, lab in zip(images, labels, strict=True)
    ]
    return np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])


def fashion_mnist(receipt: dict) -> Dataset:
    """Zalando's Fashion-MNIST (IDX): 70,000 28x28 greyscale clothes images, 10 classes."""
    x, y = _idx_files(
        receipt,
        ["train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"],
        ["train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz"],
    )
    return Dataset(x, y, list(FASHION_MNIST_CLASSES))


def idx(receipt: dict, images: list[str], labels: list[str], class_names: list[str] | None = None) -> Dataset:
    """Your own IDX files (MNIST layout): image and label files paired in order."""
    x, y = _idx_files(receipt, images, labels)
    names = class_names or [str(i) for i in range(int(y.max()) + 1)]
    if int(y.max()) >= len(names):
        raise formats.FormatError(f"labels go up to {int(y.max())} but class_names has {len(names)} names")
    return Dataset(x, y, list(names))


def cifar10(receipt: dict) -> Dataset:
    """CIFAR-10 (python version): 60,000 32x32 colour images, 10 classes."""
    x, y, names = formats.read_cifar10(receipt_file(receipt, "cifar-10-python.tar.gz"))
    return Dataset(x, y, names)


def _idx_problem(options: dict) -> str | None:
    """idx's image and label files must be among its files."""
    names = {f["name"] for f in options.get("files", [])}
    for key in ("images", "labels"):
        for name in options.get(key, []):
            if name not in names:
                return f"{key}: {name!r} is not one of the files ({', '.join(sorted(names))})"
    return None


# `files` re-pins a built-in source's files (same names), e.g. for a mirror that serves a re-packed copy
PINNED = frozenset({"seed", "files"})
LOADERS = [
    Loader("mnist", mnist, options=PINNED, images=True, receipt=True, files=MNIST_FILES),
    Loader("fashion_mnist", fashion_mnist, options=PINNED, images=True, receipt=True, files=FASHION_MNIST_FILES),
    Loader("cifar10", cifar10, options=PINNED, images=True, receipt=True, files=CIFAR10_FILES),
    Loader(
        "idx",
        idx,
        options=frozenset({"files", "images", "labels", "class_names", "seed"}),
        required=frozenset({"files", "images", "labels"}),
        images=True,
        receipt=True,
        check=_idx_problem,
    ),
]
