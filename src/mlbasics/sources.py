"""Where each dataset's raw files come from: the catalog of pinned remote files and the loaders' options.

Light on purpose (the Snakefile imports it): no TensorFlow, no network. `download.py` fetches what
`remote_files` lists; `datasets.py` reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


@dataclass(frozen=True)
class RemoteFile:
    """One file to download: its name in the cache, its pinned sha256 and its canonical origin."""

    name: str
    sha256: str
    url: str

    def to_dict(self) -> dict:
        return {"name": self.name, "sha256": self.sha256, "url": self.url}


# Hashes from the origins' published checksums (Keras, TFDS url_checksums, CIFAR's page).
CATALOG: dict[str, list[RemoteFile]] = {
    "mnist": [RemoteFile("mnist.npz", "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
                         KERAS_ORIGIN + "mnist.npz")],
    "fashion_mnist": [
        RemoteFile(name, sha, KERAS_ORIGIN + name) for name, sha in (
            ("train-images-idx3-ubyte.gz", "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
            ("train-labels-idx1-ubyte.gz", "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
            ("t10k-images-idx3-ubyte.gz", "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
            ("t10k-labels-idx1-ubyte.gz", "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
        )
    ],
    "cifar10": [RemoteFile("cifar-10-python.tar.gz",
                           "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
                           "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz")],
}

FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

# Options each loader accepts (beyond the common ones); `required` must be given.
COMMON_OPTIONS = {"max_samples", "color"}
LOADER_OPTIONS: dict[str, dict[str, set[str]]] = {
    "gaussians": {"allowed": {"n_samples", "seed"}, "required": set()},
    "regression_toy": {"allowed": {"n_samples", "noise", "seed"}, "required": set()},
    "iris": {"allowed": set(), "required": set()},
    "hep_toy": {"allowed": {"n_events", "seed"}, "required": set()},
    "digits": {"allowed": set(), "required": set()},
    "mnist5k": {"allowed": {"seed"}, "required": set()},
    # files: re-pin the catalog's files (same names), e.g. for a mirror that serves a re-packed copy
    "mnist": {"allowed": {"seed", "files"}, "required": set()},
    "fashion_mnist": {"allowed": {"seed", "files"}, "required": set()},
    "cifar10": {"allowed": {"seed", "files"}, "required": set()},
    "idx": {"allowed": {"files", "images", "labels", "class_names", "seed"},
            "required": {"files", "images", "labels"}},
    "table": {"allowed": {"path", "files", "label", "features", "weight", "drop_invalid", "group", "seed"},
              "required": {"label"}},
    # one tree per class (signal, background) or one tree with a label branch; see root_files.py
    "root": {"allowed": {"path", "files", "tree", "signal", "background", "label", "branches", "selection", "weight",
                         "drop_invalid", "group", "seed"}, "required": set()},
    "tfds": {"allowed": {"name", "split", "data_dir", "resize", "seed"}, "required": {"name"}},
}
REGRESSION_LOADERS = ("regression_toy",)  # float targets
IMAGE_LOADERS = ("digits", "mnist5k", "mnist", "fashion_mnist", "cifar10", "idx", "tfds")  # the rest are tables


def is_images(dataset: dict) -> bool:
    """Whether a dataset is images (the reference methods leave those to the MLP: method_rules.TAKES)."""
    return dataset["loader"] in IMAGE_LOADERS


def is_regression(dataset: dict) -> bool:
    """Whether a dataset's task is regression: a loader with float targets, or `model.task: regression`."""
    return dataset["loader"] in REGRESSION_LOADERS or dataset.get("model", {}).get("task") == "regression"


def check_options(loader: str, options: dict) -> str | None:
    """A one-line problem with a loader's options (naming the key), or None."""
    spec = LOADER_OPTIONS[loader]
    for key in sorted(options):
        if key not in spec["allowed"] | COMMON_OPTIONS:
            known = ", ".join(sorted(spec["allowed"] | COMMON_OPTIONS))
            return f"{key}: not an option of loader {loader!r} (its options: {known})"
    for key in sorted(spec["required"] - set(options)):
        return f"{key}: required by loader {loader!r}"
    if loader in ("table", "root") and ("path" in options) == ("files" in options):
        return f"path: loader {loader!r} needs exactly one of path (a local file) or files (files to download)"
    inputs = options.get("branches" if loader == "root" else "features", [])
    for name in options.get("group", []):  # an event number as an input: the model would learn the split
        if name in inputs or name in (options.get("label"), options.get("weight")):
            role = "an input" if name in inputs else ("the label" if name == options.get("label") else "the weight")
            return (f"group: {name!r} is also {role}; options.group names the event a row belongs to "
                    "(e.g. [runNumber, eventNumber]) and is read for the split only")
    if loader == "root":
        return _root_problem(options)
    if loader == "table" and len(options.get("files", [])) > 1:
        return "files: loader 'table' reads one file"
    names = {f["name"] for f in options.get("files", [])}
    if loader in CATALOG and "files" in options and names != {f.name for f in CATALOG[loader]}:
        expected = ", ".join(f.name for f in CATALOG[loader])
        return f"files: loader {loader!r} reads exactly these files: {expected}"
    for key in ("images", "labels"):
        for name in options.get(key, []):
            if name not in names:
                return f"{key}: {name!r} is not one of the files ({', '.join(sorted(names))})"
    return None


def _root_problem(options: dict) -> str | None:
    """The ROOT loader's layouts: signal and background trees, or one tree with a label branch."""
    classes = [k for k in ("signal", "background") if k in options]
    if classes and "label" in options:
        return "label: loader 'root' takes either signal and background trees or one tree with a label branch"
    if not classes and "label" not in options:
        return "signal: loader 'root' needs signal and background (a tree per class) or tree and label"
    if len(classes) == 1:
        missing = ({"signal", "background"} - set(classes)).pop()
        return f"{missing}: loader 'root' needs both signal and background"
    names = {f["name"] for f in options.get("files", [])}
    for key in classes or ["label"]:
        spec = options.get(key) if key != "label" else {}
        if not (spec.get("tree") or options.get("tree")):
            return f"{key if key != 'label' else 'tree'}: loader 'root' needs a tree name (here or in options.tree)"
        for name in spec.get("files", []):
            if "path" in options:
                return f"{key}.files: with a local path, the trees come from that one file; leave files out"
            if name not in names:
                return f"{key}.files: {name!r} is not one of the files ({', '.join(sorted(names))})"
    return None


def remote_files(loader: str, options: dict) -> list[RemoteFile]:
    """The files a dataset downloads: `options.files` when given, else the catalog's for built-ins."""
    if loader in CATALOG and "files" not in options:
        return list(CATALOG[loader])
    return [RemoteFile(f["name"], f["sha256"].lower(), f["url"]) for f in options.get("files", [])]


def local_file(loader: str, options: dict) -> str | None:
    """A user's own file the dataset reads from the working tree (a table or ROOT file given by path)."""
    return options.get("path") if loader in ("table", "root") else None


def candidate_urls(file: RemoteFile, mirrors: list[str], dataset: str) -> list[str]:
    """Mirrors in order, then the canonical origin. A mirror is a base URL (the file name is appended)
    or a template with {dataset} and {file}."""
    urls = []
    for mirror in mirrors:
        if "{file}" in mirror:
            urls.append(mirror.format(dataset=dataset, file=file.name))
        else:
            urls.append(mirror.format(dataset=dataset).rstrip("/") + "/" + file.name)
    return list(dict.fromkeys([*urls, file.url]))  # in order, each URL once


def cache_path(cache_dir: str, dataset: str, name: str) -> str:
    """Where a downloaded file lives: <cache_dir>/<dataset>/<name>."""
    if PurePosixPath(name).name != name or name in ("", ".", ".."):
        raise ValueError(f"file name {name!r} must be a plain name, not a path")
    return str(PurePosixPath(cache_dir) / dataset / name)
