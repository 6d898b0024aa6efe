"""The methods a model can be - the Keras MLP and the reference methods TMVA puts beside it - and what params need
to know about each before any data exists: which keys are its own, and which data it takes.

A reference method's settings are one block of keys named after it (`bdt: {max_depth: 3}`, schema defaults for
the rest); a run of it reads that block and the keys every method shares (`method`, `task`, `event_weights`),
nothing of the MLP's. What each method takes decides the grid: a variant whose method cannot take a dataset is
left out on that dataset (config.dataset_variants) - by this table, documented in the README, never by a crash.

Light on purpose (config reads it, and the Snakefile reads config): the methods themselves are in methods.py
and reference_methods.py.
"""

from __future__ import annotations

MLP = "mlp"
REFERENCE = ("bdt", "random_forest", "fisher", "likelihood", "knn")
METHODS = (MLP, *REFERENCE)
SHARED_KEYS = ("method", "task", "event_weights")  # every method reads these

# Images are left to the MLP: the reference methods treat each input as a variable of its own, as TMVA's do; on
# hundreds of pixels they are slow (k-NN compares every test image with every training image) or say little.
# Fisher's discriminant and the projective likelihood separate classes: no regression.
TAKES: dict[str, dict[str, bool]] = {
    "mlp": {"images": True, "regression": True},
    "bdt": {"images": False, "regression": True},
    "random_forest": {"images": False, "regression": True},
    "fisher": {"images": False, "regression": False},
    "likelihood": {"images": False, "regression": False},
    "knn": {"images": False, "regression": True},
}


def not_taken(method: str, images: bool, regression: bool) -> str | None:
    """Why `method` does not run on such a dataset ("images", "regression"), or None when it does."""
    takes = TAKES[method]
    if images and not takes["images"]:
        return "images"
    if regression and not takes["regression"]:
        return "regression"
    return None


def own_keys(spec: dict, method: str) -> dict:
    """The part of a merged model spec a run of `method` reads: the shared keys and its own block (a reference
    method), or everything but the reference methods' blocks (the MLP)."""
    if method == MLP:
        return {k: v for k, v in spec.items() if k not in REFERENCE}
    return {k: spec[k] for k in (*SHARED_KEYS, method) if k in spec}


def foreign_key(override: dict, method: str) -> str | None:
    """A key a variant sets that its method does not read (a likely mistake), or None."""
    for key in override:
        if key in ("sweep", *SHARED_KEYS) or key == method:
            continue
        if key in REFERENCE or method != MLP:
            return key
    return None
