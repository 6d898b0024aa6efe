"""Overtraining analytics of one run, from its per-epoch history: the lecture's closing question - "do you see
overfitting?" - answered with numbers and a verdict.

- best_epoch: the epoch with the lowest validation loss;
- overfitting_since: the first epoch after it, when from there on the validation loss stayed above its best for
  at least `patience` epochs while the training loss kept falling, and ended at least `min_rise` (relative)
  above its best - a material rise, not a wobble of noise (0: never);
- loss_gap_final / loss_gap_best: validation minus training loss, at the last and at the best epoch;
- <metric>_gap_final: training minus validation accuracy (classification) or validation minus training MAE
  (regression), at the last epoch - positive means the model does better on data it has seen;
- ks_p_min: the smallest per-class Kolmogorov-Smirnov p-value of the response on the training sample against
  the test sample (TMVA's overtraining check, response.py, unbinned), where the evaluation computed them, and
  ks_p_threshold, what it is held against: `ks_min_p` corrected for the m classes tested (Sidak,
  1 - (1 - ks_min_p)^(1/m));
- verdict (in metrics.json as the flags overfitting, underfitting and not_converged, 1 or 0): overfitting (since
  an epoch, a final loss gap above `max_loss_gap`, or a KS p-value below ks_p_threshold: the model answers
  differently on events it has seen), underfitting (the training loss improved by less than `min_improvement` of
  its first value; the report stage also judges each run against the best one of its dataset,
  report/verdicts.py), not_converged (the best validation epoch among the last tenth of the epochs - at least the
  last two - of a run that early stopping did not end: it was still improving), else ok; `reason` says why in
  words.
"""

from __future__ import annotations

from mlbasics.core.tasks import history_metric

VERDICTS = ("overfitting", "underfitting", "not_converged")  # else ok; the first that holds is the verdict


def flags(judged: dict) -> dict[str, int]:
    """The verdict as numbers, for metrics.json (which holds numbers only) and for gates: overfitting,
    underfitting and not_converged, each 1 or 0."""
    return {name: int(judged["verdict"] == name) for name in VERDICTS}


def verdict_of(metrics: dict) -> str:
    """The verdict back from metrics.json's flags."""
    return next((name for name in VERDICTS if metrics.get(name)), "ok")


def _series(history: list[dict], key: str) -> list[float]:
    return [float(row[key]) for row in history]


def analyse(
    history: list[dict], rules: dict, ks_p: dict[str, float] | None = None, stopped_early: bool = False
) -> dict:
    """Flat, DVC-friendly numbers and a verdict for one run's history rows (dicts with epoch, loss, val_loss,
    and accuracy/val_accuracy or mae/val_mae), its per-class KS p-values (train vs test response) and whether
    early stopping ended it."""
    loss, val = _series(history, "loss"), _series(history, "val_loss")
    epochs = [int(float(row["epoch"])) for row in history]
    best = min(range(len(val)), key=lambda i: (val[i], i))
    since = 0
    after = range(best + 1, len(val))
    risen = val[-1] - val[best] >= rules["min_rise"] * abs(val[best])
    if len(after) >= rules["patience"] and all(val[i] > val[best] for i in after) and loss[-1] < loss[best] and risen:
        since = epochs[best + 1]
    metric = history_metric(history)
    train_metric, val_metric = _series(history, metric), _series(history, f"val_{metric}")
    metric_gap = (train_metric[-1] - val_metric[-1]) if metric == "accuracy" else (val_metric[-1] - train_metric[-1])
    # a method fitted in one step has one row: no first loss to have improved on
    improvement = None if len(loss) == 1 else (loss[0] - loss[-1]) / abs(loss[0]) if loss[0] else 0.0
    loss_gap = val[-1] - loss[-1]
    ks_min = min(ks_p.values()) if ks_p else None
    # one test per class: the lowest of m probabilities is held against Sidak's 1 - (1 - ks_min_p)^(1/m), so that
    # ten classes of a well-trained model are called overtrained as often as one
    threshold = 1 - (1 - rules["ks_min_p"]) ** (1 / len(ks_p)) if ks_p else None
    if since or loss_gap > rules["max_loss_gap"] or (ks_min is not None and ks_min < threshold):
        verdict = "overfitting"
    elif improvement is not None and improvement < rules["min_improvement"]:
        verdict = "underfitting"  # an accuracy threshold would mean nothing where the classes' weights differ
    elif not stopped_early and len(val) > 1 and best >= len(val) - max(2, len(val) // 10):
        verdict = "not_converged"  # still improving when the epochs ran out: more epochs (or early stopping)
    else:
        verdict = "ok"
    return {
        "best_epoch": epochs[best],
        "overfitting_since": since,
        "loss_gap_final": loss_gap,
        "loss_gap_best": val[best] - loss[best],
        f"{metric}_gap_final": metric_gap,
        **({} if improvement is None else {"train_loss_improvement": improvement}),
        **({"ks_p_min": ks_min, "ks_p_threshold": threshold} if ks_p else {}),
        "verdict": verdict,
    }


def reason(run: dict, rules: dict) -> str:
    """Why a run got its verdict, in words ("" for ok), from its numbers (analyse's keys or metrics.json's, with
    `verdict`, `epochs` - the history's length - and `method`) and the rules."""
    step = "iteration" if run.get("method") == "bdt" else "epoch"
    verdict = run["verdict"]
    if verdict == "overfitting":
        found = []
        if run.get("overfitting_since"):
            found.append(f"validation loss above its best since {step} {run['overfitting_since']}")
        if run.get("loss_gap_final", 0.0) > rules["max_loss_gap"]:
            found.append(f"final loss gap {run['loss_gap_final']:.3f} > {rules['max_loss_gap']:g}")
        ks, threshold = run.get("ks_p_min"), run.get("ks_p_threshold")
        if ks is not None and threshold is not None and ks < threshold:
            found.append(f"KS p {ks:.2g} < {threshold:.2g}")
        return "; ".join(found)
    if verdict == "underfitting":
        return run.get("underfit_by") or (
            f"training loss fell by {run['train_loss_improvement']:.0%} (< {rules['min_improvement']:.0%})"
        )
    if verdict == "not_converged":
        return f"best {step} {run['best_epoch']} of {run['epochs']}, not ended by early stopping: still improving"
    return ""
