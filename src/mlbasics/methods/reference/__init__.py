"""The reference methods TMVA puts beside a neural network, one module each (bdt, random_forest, fisher,
likelihood, knn): a `ReferenceMethod` subclass (base.py) that declares its name, display name, what data it takes
and which types its model file may hold. `classes()` finds them: adding a method is a module here plus its block
in the params schema (docs/architecture.md).
"""

from __future__ import annotations

import functools
import importlib
import pkgutil


@functools.cache
def classes() -> dict[str, type]:
    """Every reference method by its params name, from the modules of this package (sorted by name)."""
    from mlbasics.methods.reference.base import ReferenceMethod

    found: dict[str, type] = {}
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name != "base"):
        loaded = importlib.import_module(f"{__name__}.{module}")
        for value in vars(loaded).values():
            if isinstance(value, type) and issubclass(value, ReferenceMethod) and value.__module__ == loaded.__name__:
                if value.name in found:
                    raise RuntimeError(f"method {value.name!r} is declared twice ({module}.py and elsewhere)")
                found[value.name] = value
    return dict(sorted(found.items()))
