"""The methods a model can be - the Keras MLP and the reference methods TMVA puts beside it - and what params need
to know about each before any data exists: which keys are its own, and which data it takes.

A reference method's settings are one block of keys named after it (`bdt: {max_depth: 3}`, schema defaults for
the rest); a run of it reads that block and the keys every method shares (`method`, `task`, `event_weights`),
nothing of the MLP's. What each method takes decides the grid: a variant whose method cannot take a dataset is
left out on that dataset (params.grid.dataset_variants) - by this table, documented in the README, never by a crash.

Light on purpose (params.config reads it, and the Snakefile reads that): the reference methods' modules import
scikit-learn only when they fit. The methods themselves: training.py (the MLP), reference/ (one module each).
"""

from __future__ import annotations

from mlbasics.methods import reference

MLP = "mlp"
SHARED_KEYS = ("method", "task", "event_weights")  # every method reads these
# The reference methods, as their modules declare them (methods/reference/): params name -> class
REFERENCE_CLASSES = reference.classes()
REFERENCE = tuple(REFERENCE_CLASSES)
METHODS = (MLP, *REFERENCE)

# What each method takes decides the grid. Images are left to the MLP (a reference method declares
# takes_images): the reference methods treat each input as a variable of its own, as TMVA's do; on hundreds of
# pixels they are slow (k-NN compares every test image with every training image) or say little. Fisher's
# discriminant and the projective likelihood separate classes: no regression (classifies_only).
TAKES: dict[str, dict[str, bool]] = {
    MLP: {"images": True, "regression": True},
    **{
        name: {"images": cls.takes_images, "regression": not cls.classifies_only}
        for name, cls in REFERENCE_CLASSES.items()
    },
}
DISPLAY = {MLP: "MLP", **{name: cls.display for name, cls in REFERENCE_CLASSES.items()}}


def display_name(method: str) -> str:
    """A method's name on the pages (MLP, BDT, Fisher, ...)."""
    return DISPLAY.get(method, method)


def trusted_types() -> tuple[str, ...]:
    """Every type a reference method's model file may hold beyond skops' own (MLflow's skops loader)."""
    return tuple(sorted({t for cls in REFERENCE_CLASSES.values() for t in cls.trusted}))


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


MLP_SUMMARY = ("hidden_layers", "activation", "optimizer", "learning_rate", "epochs", "batch_size", "dropout", "l2")


def describe(spec: dict) -> str:
    """A run's settings in one line, for the pages' method comparison: a reference method's block key by key, the
    MLP's main keys, and how training treated the event weights."""
    method = spec["method"]
    keys = spec[method] if method in REFERENCE else {k: spec[k] for k in MLP_SUMMARY if k in spec}
    if method == MLP and spec.get("early_stopping"):
        keys = {**keys, "early_stopping": spec["early_stopping"]}
    parts = [f"{k} {_plain(v)}" for k, v in keys.items()]
    weights = spec.get("event_weights") or {}
    if weights:
        parts.append(
            f"event weights (where the data has them): negative ones {weights['negative']}"
            + (", classes balanced" if weights.get("balance_classes") else "")
        )
    return ", ".join(parts)


def _plain(value) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_plain(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_plain(v) for v in value) + "]"
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


# An MLP key that only some settings read: (the key deciding, the values for which it applies)
APPLIES_WHEN = {
    "leaky_slope": ("activation", {"leaky_relu"}),
    "swish_beta": ("activation", {"swish"}),
    "elu_alpha": ("activation", {"elu"}),
    "init_scale": ("initializer", {"random_normal", "random_uniform"}),
    "momentum": ("optimizer", {"sgd", "rmsprop"}),
    "nesterov": ("optimizer", {"sgd"}),
    "rho": ("optimizer", {"rmsprop", "adadelta"}),
    "beta_1": ("optimizer", {"adam"}),
    "beta_2": ("optimizer", {"adam"}),
}


def run_params(spec: dict) -> dict[str, str]:
    """A run's parameters as MLflow lists them: only the keys its method reads - for the MLP none that its
    activation, initialiser or optimizer ignores - with every block key by key (bdt.max_depth,
    event_weights.negative); values as params.yaml writes them (null, false, [64, 64])."""
    import json

    found: dict[str, str] = {}
    for key, value in spec.items():
        decider = APPLIES_WHEN.get(key)
        if decider and spec.get(decider[0]) not in decider[1]:
            continue
        if isinstance(value, dict) and key != "lr_schedule" and (key in REFERENCE or key == "event_weights"):
            found.update({f"{key}.{k}": v if isinstance(v, str) else json.dumps(v) for k, v in value.items()})
        else:
            found[key] = value if isinstance(value, str) else json.dumps(value)
    return found
