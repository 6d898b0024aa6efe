"""What a loader declares, and what the loaders share: the `Loader` record a module of this package lists in its
`LOADERS`, the pinned remote files, and the download receipt's files checked again before a reader trusts them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlbasics.core import formats
from mlbasics.data.arrays import Dataset

COMMON_OPTIONS = frozenset({"max_samples", "color"})  # every loader takes these; the dataset stage applies them


@dataclass(frozen=True)
class RemoteFile:
    """One file to download: its name in the cache, its pinned sha256 and its canonical origin."""

    name: str
    sha256: str
    url: str

    def to_dict(self) -> dict:
        return {"name": self.name, "sha256": self.sha256, "url": self.url}


@dataclass(frozen=True)
class Loader:
    """One loader, declared once: its name in params (`loader:`), the function that reads it, its options (beyond
    max_samples and color; `required` must be given), whether it yields images (the reference methods leave those
    to the MLP) or float targets (a regression), and where its data comes from - embedded (`read(**options)`),
    or files the download stage fetched or found (`receipt`: `read(receipt, **options)`), pinned in `files` for
    a built-in source, or the user's own file by `path` (`local`). `inputs` names the option listing its input
    columns; `check` returns a one-line problem with its options, or None. A loader that `writes` files (a
    generated ntuple) is given the dataset's folder (`folder=`) and writes them there, for apply to score; a
    `selection` it always applies (the hep toy's) travels in the model's bundle like a user's selection."""

    name: str
    read: Callable[..., Dataset]
    options: frozenset[str] = frozenset()
    required: frozenset[str] = frozenset()
    images: bool = False
    regression: bool = False
    receipt: bool = False
    files: tuple[RemoteFile, ...] = ()
    local: bool = False
    inputs: str | None = None
    check: Callable[[dict], str | None] | None = None
    writes: bool = False
    selection: str | None = None


def receipt_file(receipt: dict, name: str) -> Path:
    """A file the download stage verified, checked again here: the pickle and archive readers trust it."""
    from mlbasics.core.files import sha256_file

    for entry in receipt["files"]:
        if entry["name"] == name:
            path = Path(entry["path"])
            if not path.is_file():
                raise formats.FormatError(
                    f"{name}: not in the cache at {path}. Jobs never download (on a cluster the compute nodes "
                    "may have no network): fetch on a machine that has it - `snakemake fetch --cores 1` (or "
                    "--forcerun download) on the login node, `dvc repro -f download@<dataset>` - and keep the "
                    "cache on a filesystem the compute nodes share"
                )
            if sha256_file(path) != entry["sha256"]:
                raise formats.FormatError(f"{name}: {path} does not match its sha256 {entry['sha256']}")
            return path
    raise formats.FormatError(f"{name}: not in the download receipt of dataset {receipt['dataset']!r}")
