"""Where each dataset's raw files come from, and what params may say about them: the loaders' options checked, the
pinned remote files listed, the user's own file found, and where a download is looked for and cached. Each fact
about a loader lives in its declaration (data/loaders/); this module reads the registry.

Light on purpose (the Snakefile imports it): no TensorFlow, no network. data/download.py fetches what
`remote_files` lists; the loaders read it.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from mlbasics.data import loaders
from mlbasics.data.loaders.base import COMMON_OPTIONS, RemoteFile

# The catalog of pinned files, by loader: what the built-in downloaded sources fetch
CATALOG: dict[str, list[RemoteFile]] = {
    name: list(spec.files) for name, spec in loaders.registry().items() if spec.files
}


def is_images(dataset: dict) -> bool:
    """Whether a dataset is images (the reference methods leave those to the MLP: methods.registry.TAKES)."""
    return loaders.get(dataset["loader"]).images


def is_regression(dataset: dict) -> bool:
    """Whether a dataset's task is regression: a loader with float targets, a ROOT target branch, or
    `model.task: regression`."""
    if loaders.get(dataset["loader"]).regression or "target" in dataset.get("options", {}):
        return True
    return dataset.get("model", {}).get("task") == "regression"


def check_options(loader: str, options: dict) -> str | None:
    """A one-line problem with a loader's options (naming the key), or None."""
    spec = loaders.get(loader)
    allowed = spec.options | COMMON_OPTIONS
    for key in sorted(options):
        if key not in allowed:
            return f"{key}: not an option of loader {loader!r} (its options: {', '.join(sorted(allowed))})"
    for key in sorted(spec.required - set(options)):
        return f"{key}: required by loader {loader!r}"
    if spec.local and ("path" in options) == ("files" in options):
        return f"path: loader {loader!r} needs exactly one of path (a local file) or files (files to download)"
    inputs = options.get(spec.inputs, []) if spec.inputs else []
    for name in options.get("group", []):  # an event number as an input: the model would learn the split
        if name in inputs or name in (options.get("label"), options.get("weight")):
            role = "an input" if name in inputs else ("the label" if name == options.get("label") else "the weight")
            return (
                f"group: {name!r} is also {role}; options.group names the event a row belongs to "
                "(e.g. [runNumber, eventNumber]) and is read for the split only"
            )
    problem = spec.check(options) if spec.check else None
    if problem:
        return problem
    names = {f["name"] for f in options.get("files", [])}
    if spec.files and "files" in options and names != {f.name for f in spec.files}:
        expected = ", ".join(f.name for f in spec.files)
        return f"files: loader {loader!r} reads exactly these files: {expected}"
    return None


def remote_files(loader: str, options: dict) -> list[RemoteFile]:
    """The files a dataset downloads: `options.files` when given, else the catalog's for built-ins."""
    if "files" not in options:
        return list(loaders.get(loader).files)
    return [RemoteFile(f["name"], f["sha256"].lower(), f["url"]) for f in options.get("files", [])]


def selection(loader: str, options: dict) -> str | None:
    """The selection a dataset's events pass: the user's (options.selection), or the one its loader always
    applies."""
    return options.get("selection") or loaders.get(loader).selection


def reads_fold_by(loader: str) -> bool:
    """Whether a loader reads split.fold_by (a branch, expression or column) beside its inputs."""
    import inspect

    return "fold_by" in inspect.signature(loaders.get(loader).read).parameters


def local_file(loader: str, options: dict) -> str | None:
    """A user's own file the dataset reads from the working tree (a table or ROOT file given by path)."""
    return options.get("path") if loaders.get(loader).local else None


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
