"""Error bars for the headline numbers, and "better" only beyond them.

Physicists do not accept a comparison without uncertainties. Each headline number of a run on its test sample
(ROC AUC and the signal efficiency at background efficiency 0.10 for two classes, accuracy for more, MSE for a
regression) gets a bootstrap interval: the test events are drawn again with replacement `resamples` times
(seeded: the same seed gives the same draws, so the same bytes), the number is recomputed with the events'
weights on each draw, and the central `confidence` fraction of the results is the interval. Where an event has
several rows (options.group: candidates of one collision), what is drawn is events, each with all its rows - rows
of one event are not independent, and drawing them one by one would make the intervals too narrow. Two variants of a
dataset are compared on the same draws (a paired bootstrap: their test events are the same), and one is called
better only where the interval of their difference excludes zero.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlbasics.core.files import read_csv, write_csv

HEADLINES = {"binary": ("roc_auc", "sig_eff_at_bkg_0p10"), "multiclass": ("accuracy",), "regression": ("mse",)}
LOWER_IS_BETTER = frozenset({"mse"})
BACKGROUND = 0.10  # sig_eff_at_bkg_0p10's background efficiency
CHUNK = 200  # draws computed at once, at most
CHUNK_NUMBERS = 2_000_000  # draws x events computed at once, at most (at least two draws): memory set by the chunk
KEEP_MAX = 25_000_000  # draws x events kept for the next variant of the same dataset (200 MB of float64)
_kept: dict[tuple[int, int, int], list[np.ndarray]] = {}


def draws(n: int, resamples: int, seed: int, groups: np.ndarray | None = None):
    """The bootstrap draws of `n` rows as counts (see event_draws); with `groups` (an event id per row) the
    events are drawn and each row counts as often as its event: the draws of G events, as event_draws gives them
    for G."""
    if groups is None:
        yield from event_draws(n, resamples, seed)
        return
    _, event_of_row = np.unique(groups, return_inverse=True)
    event_of_row = event_of_row.reshape(-1)
    for counts in event_draws(int(event_of_row.max()) + 1 if n else 0, resamples, seed):
        yield counts[:, event_of_row]


def event_draws(n: int, resamples: int, seed: int):
    """The bootstrap draws of `n` events, as counts (how often each event was drawn), a chunk of draws at a time
    (CHUNK, fewer for large samples: CHUNK_NUMBERS numbers at most, so memory does not grow with the sample beyond
    two draws; the draws come one by one from the generator, so the chunking changes no number): the same for every
    variant of a dataset, which is what makes the comparison paired - so a report comparing many variants draws
    them once (up to KEEP_MAX numbers), not once per variant."""
    key = (n, resamples, seed)
    if key in _kept:
        yield from _kept[key]
        return
    rng = np.random.default_rng([seed, n])
    keep = n * resamples <= KEEP_MAX
    chunks = []
    # never a chunk of one draw where it can be helped: numpy sums a lone row in another order (the last bit of an
    # AUC moved), and any chunking must give the same numbers
    step = max(2, min(CHUNK, CHUNK_NUMBERS // max(n, 1)))
    start = 0
    while start < resamples:
        size = min(step, resamples - start)
        size += 1 if resamples - start - size == 1 else 0
        counts = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(size)]).astype(np.float64)
        counts.setflags(write=False)
        if keep:
            chunks.append(counts)
        start += size
        yield counts
    if keep:
        _kept.clear()  # one dataset's draws at a time
        _kept[key] = chunks


def replicates(
    task: str,
    y: np.ndarray,
    scores: np.ndarray,
    w: np.ndarray | None,
    resamples: int,
    seed: int,
    groups: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Each headline number recomputed on every draw: {name: array of `resamples` values}. `scores`: the
    response (two classes), the predicted class (more), or the predicted value (regression); `groups`: the
    event of each row, where events have several (drawn as a whole)."""
    w = np.ones(len(y)) if w is None else np.asarray(w, np.float64)
    out: dict[str, list] = {name: [] for name in HEADLINES[task]}
    if task == "binary":
        order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
        ys, ws, ss = np.asarray(y)[order] == 1, w[order], np.asarray(scores, np.float64)[order]
        last = np.r_[np.nonzero(np.diff(ss))[0], len(ss) - 1]  # the last event of each group of equal responses
        for counts in draws(len(y), resamples, seed, groups):
            auc, eff = _roc_numbers(counts[:, order] * ws, ys, last)
            out["roc_auc"].append(auc)
            out["sig_eff_at_bkg_0p10"].append(eff)
    else:
        per_event = (
            (np.asarray(scores) == np.asarray(y))
            if task == "multiclass"
            else (np.asarray(scores, np.float64) - np.asarray(y, np.float64)) ** 2
        )
        name = HEADLINES[task][0]
        for counts in draws(len(y), resamples, seed, groups):
            out[name].append((counts @ (w * per_event)) / (counts @ w))
    return {name: np.concatenate(values) for name, values in out.items()}


def _roc_numbers(v: np.ndarray, signal: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUC (trapezoid rule) and signal efficiency at BACKGROUND for each row of weights `v` (events ordered by
    decreasing response), as response.roc and response.signal_efficiency_at compute them."""
    tp = np.cumsum(v * signal, axis=1)[:, last]
    fp = np.cumsum(v * ~signal, axis=1)[:, last]
    zero = np.zeros((len(v), 1))
    tpr, fpr = np.hstack([zero, tp / tp[:, -1:]]), np.hstack([zero, fp / fp[:, -1:]])
    auc = np.trapezoid(tpr, fpr, axis=1)
    rising = np.maximum.accumulate(fpr, axis=1)
    eff = np.array([np.interp(BACKGROUND, f, t) for f, t in zip(rising, tpr, strict=True)])
    return auc, eff


def interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """The central `confidence` fraction of bootstrap values (percentile interval)."""
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def intervals(
    task: str, y: np.ndarray, scores: np.ndarray, w: np.ndarray | None, settings: dict, seed: int
) -> dict[str, float]:
    """metrics.json's error bars: <name>_ci_lo and <name>_ci_hi of each headline number."""
    return intervals_of(replicates(task, y, scores, w, settings["resamples"], seed), settings["confidence"])


def intervals_of(found: dict[str, np.ndarray], confidence: float) -> dict[str, float]:
    """<name>_ci_lo and <name>_ci_hi of each headline number's replicates."""
    out = {}
    for name, values in found.items():
        out[f"{name}_ci_lo"], out[f"{name}_ci_hi"] = interval(values, confidence)
    return out


def write(path: str | Path, found: dict[str, np.ndarray]) -> None:
    """A variant's replicates (bootstrap.csv: a column per headline number, a row per draw): the report compares
    variants on them instead of drawing every variant's again (most of a 200-variant report's time)."""
    names = list(found)
    write_csv(path, names, [[repr(float(v)) for v in row] for row in zip(*(found[n] for n in names), strict=True)])


def read(path: str | Path) -> dict[str, np.ndarray]:
    """Replicates as `write` left them (the same floats: repr round-trips)."""
    rows = read_csv(path)
    names = list(rows[0]) if rows else []
    return {name: np.array([float(r[name]) for r in rows]) for name in names}


def compare(
    name: str,
    a: float,
    b: float,
    replicates_a: np.ndarray,
    replicates_b: np.ndarray,
    confidence: float,
    seed_spread: float = 0.0,
) -> dict:
    """How much `a` beats `b` on the headline `name`: the difference in the better direction (positive: a is
    better), the interval of the paired differences, and whether a is better beyond it (the whole interval
    above zero). `seed_spread`: the standard deviation of the difference from training alone, sqrt(s_a^2 + s_b^2)
    of the two variants' seed-to-seed spreads (model key `seeds`): the interval is then widened by z times it on
    each side (z = 1.96 at 95 %), so that a difference counts only beyond both the test sample's and the
    training's uncertainty."""
    sign = -1.0 if name in LOWER_IS_BETTER else 1.0
    low, high = interval(sign * (replicates_a - replicates_b), confidence)
    out = {"metric": name, "delta": sign * (a - b)}
    if seed_spread > 0:
        from statistics import NormalDist

        margin = NormalDist().inv_cdf(0.5 + confidence / 2) * seed_spread
        low, high = low - margin, high + margin
        out["seed_spread"] = seed_spread
    return {**out, "lo": low, "hi": high, "better": low > 0}


def seed_spread(name: str, row_a: dict, row_b: dict) -> float:
    """The spread of a difference from training alone: sqrt(s_a^2 + s_b^2) of two runs' <name>_seed_std (0 for a
    run of one seed)."""
    return float(np.hypot(row_a.get(f"{name}_seed_std", 0.0), row_b.get(f"{name}_seed_std", 0.0)))
