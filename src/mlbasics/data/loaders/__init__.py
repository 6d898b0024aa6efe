"""Where a dataset's raw data comes from: the loaders, each declared once by a `Loader(...)` in the `LOADERS` list
of a module of this package (embedded.py, image_files.py, table.py, root.py, tfds.py). `registry()` finds them;
`make()` builds a dataset by loader name with its options. Adding a loader is a module here plus its options in
the params schema (docs/architecture.md).

Each loader returns a `Dataset` (features, integer labels or float targets, class names; event weights, column
names and event groups where the source has them). Light at import (the Snakefile reads the registry): readers
import their heavy libraries when they run.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil

from mlbasics.data.arrays import Dataset
from mlbasics.data.loaders.base import COMMON_OPTIONS, Loader


@functools.cache
def registry() -> dict[str, Loader]:
    """Every loader by name, from the modules of this package (in module order, then as each lists them)."""
    found: dict[str, Loader] = {}
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name != "base"):
        for loader in getattr(importlib.import_module(f"{__name__}.{module}"), "LOADERS", []):
            if loader.name in found:
                raise RuntimeError(f"loader {loader.name!r} is declared twice ({module}.py and elsewhere)")
            found[loader.name] = loader
    return found


def get(name: str) -> Loader:
    """A loader by name; a ValueError naming the known ones for another."""
    if name not in registry():
        raise ValueError(f"unknown dataset loader {name!r} (known: {', '.join(registry())})")
    return registry()[name]


def make(
    loader: str,
    options: dict | None = None,
    receipt: dict | None = None,
    folder: str | None = None,
    fold_by: str | None = None,
) -> Dataset:
    """Build a dataset by loader name with its options (as written in params.yaml); a loader that writes files
    writes them into `folder`; `fold_by` (split.fold_by) is read beside the inputs by the loaders that take it."""
    spec = get(loader)
    # the options every loader takes are applied by the stage, and `files` by the download stage
    own = {k: v for k, v in (options or {}).items() if k not in COMMON_OPTIONS and k != "files"}
    if fold_by:
        own["fold_by"] = fold_by
    if spec.writes:
        if folder is None:
            raise ValueError(f"loader {loader!r} writes the files it reads: it needs the dataset's folder")
        own["folder"] = folder
    if not spec.receipt:
        return spec.read(**own)
    if receipt is None:
        raise ValueError(f"loader {loader!r} reads downloaded files: it needs the download stage's receipt")
    own.pop("seed", None)  # downloaded sources have a fixed order; the seed only drives subsampling
    return spec.read(receipt, **own)
