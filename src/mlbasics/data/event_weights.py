"""Event weights in training, as TMVA treats them: physics samples weight each event (generator weights,
cross section x luminosity / generated events), and the network should learn the weighted distributions.

What training makes of them (model key `event_weights`; evaluation always uses the weights as they are):
- `negative`: NLO generators produce negative weights. `ignore` (the default; TMVA's IgnoreNegWeightsInTraining)
  sets them to zero in training and the job log says how much weight that dropped; the evaluation keeps them.
  `keep` trains on them as they are: the expected loss is unbiased, but a per-event loss with a flexible model is
  unbounded below - a network or a tree gains by isolating the negative-weight events - so it is for models that
  cannot (and for studies of exactly that). `abs` takes the absolute value: it changes the distribution learnt
  wherever negative weights are common, not "slightly";
- `balance_classes` (default on, for data with event weights): scale each class to the same weight sum (TMVA's
  default NormMode=EqualNumEvents), so a signal of a few per cent of the cross-section-weighted events still counts
  in training. Data without weights, or with weights all equal, trains on its events as they are (bit for bit).
Then the weights are scaled to mean 1, so a learning rate means what it means without weights; weights that are
all equal (unit weights) train exactly as no weights, bit for bit.
"""

from __future__ import annotations

import numpy as np

from mlbasics.core.formats import FormatError

SAMPLES = {"train": "training", "val": "validation"}  # a split's name in the job log


def check_classes(
    w: np.ndarray | None, y: np.ndarray, class_names: list[str], sample: str, negative: str = "keep"
) -> None:
    """Refuse, naming it, a class of `sample` whose weights sum to zero or less (after the `negative` policy,
    as training sees them): a model cannot learn it, nor a metric measure it (it would train, and log NaN)."""
    if w is None or not class_names or not np.issubdtype(np.asarray(y).dtype, np.integer):
        return
    w = np.asarray(w, np.float64)
    w = np.where(w < 0, 0.0, w) if negative == "ignore" else np.abs(w) if negative == "abs" else w
    for k in np.unique(y):
        total = float(w[y == k].sum())
        if total <= 0:
            policy = f" (after event_weights.negative: {negative})" if negative != "keep" else ""
            raise FormatError(
                f"class {class_names[int(k)]!r}: its {sample} weights sum to {total:g}{policy} over "
                f"{int((y == k).sum())} events; check the dataset's weight (options.weight, the sample's scale)"
            )


def training_weights(
    w: np.ndarray | None, y: np.ndarray, settings: dict, sample: str | None = None
) -> np.ndarray | None:
    """The sample weights training uses for events with weights `w` and labels `y` (None: unweighted); with
    `sample` (its name in the log), says how much negative weight `ignore` dropped."""
    if w is None:
        return None
    w = np.asarray(w, np.float64)
    negative = settings["negative"]
    if negative == "ignore":
        if sample and (w < 0).any():
            _log_dropped(w, sample)
        w = np.where(w < 0, 0.0, w)
    elif negative == "abs":
        w = np.abs(w)
    if len(w) and np.all(w == w[0]) and w[0] > 0:
        return None  # all equal: no weights - the unweighted training, to the bit, classes as they come
    if settings["balance_classes"] and np.issubdtype(y.dtype, np.integer):
        classes = np.unique(y)
        sums = {k: w[y == k].sum() for k in classes}
        target = sum(sums.values()) / len(classes)
        w = w.copy()
        for k, total in sums.items():
            if total <= 0:
                raise FormatError(f"class {int(k)}: its training weights sum to {total:g}; cannot balance the classes")
            w[y == k] *= target / total
    if len(w) and np.all(w == w[0]) and w[0] > 0:
        return None  # balanced weights all equal: the unweighted training, to the bit
    total = w.sum()
    if total <= 0:
        raise FormatError(f"the training weights sum to {total:g}; nothing to learn from (event_weights.negative?)")
    return (w * (len(w) / total)).astype(np.float32)


def split_weights(arrays: dict[str, np.ndarray], settings: dict) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The training and validation splits' sample weights (training_weights, the log naming each); None, None
    for data without weights."""
    return tuple(
        training_weights(arrays.get(f"w_{part}"), arrays[f"y_{part}"], settings, SAMPLES[part])
        for part in ("train", "val")
    )


def _log_dropped(w: np.ndarray, sample: str) -> None:
    below = w < 0
    print(
        f"event_weights.negative ignore: {int(below.sum())} of {len(w)} {sample} events have negative weights "
        f"(sum {w[below].sum():.4g}, {-w[below].sum() / np.abs(w).sum():.1%} of the absolute weight); trained with "
        "weight 0 (the evaluation keeps them)",
        flush=True,
    )
