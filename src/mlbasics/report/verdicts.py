"""What a dataset's runs say, with error bars: which variants overfit (since when), which changes to the baseline
helped, and which method - the MLP or a reference method - is best, by how much.

A claim of "helped" or "better" needs the difference to exceed its uncertainty: the paired bootstrap interval of
the headline number (bootstrap.py) must exclude zero - widened, where runs trained several seeds, by their
seed-to-seed spread. A smaller difference is reported as what it is - within
the uncertainty. The report stage writes the result to reports/<dataset>/comparison.json (the index reads it)
and shows it on the dataset's page.
"""

from __future__ import annotations

from mlbasics.evaluation import bootstrap
from mlbasics.methods import registry

LABELS = {
    "roc_auc": "ROC AUC",
    "sig_eff_at_bkg_0p10": "signal efficiency at background 0.10",
    "accuracy": "accuracy",
    "mse": "MSE",
}


# per task: a run's number on its own training events, and the best run's on the test events it is held against
FITS = {
    "binary": ("train_sig_eff_at_bkg_0p10", "sig_eff_at_bkg_0p10"),
    "multiclass": ("train_accuracy", "accuracy"),
    "regression": ("train_loss", "mse"),
}


def underfitting(
    rows: list[dict], task: str, replicates: dict[str, dict], confidence: float, margin: float = 0.0
) -> None:
    """Call underfitting, in `rows` (verdict and reason), each run not already overfitting or underfitting that
    is (1) worse than the dataset's best run on the test events beyond the interval of their paired difference
    and by more than `margin` of the best's number (models at the same limit differ by less), and (2) no better
    on its own training events than the best run on events it never saw - so the model, not the sample, falls
    short: it cannot even fit what another model generalises. An accuracy threshold would judge nothing where
    the classes' weights differ."""
    name = bootstrap.HEADLINES[task][0]
    ranked = [r for r in rows if name in r]
    if len(ranked) < 2:
        return
    lower = name in bootstrap.LOWER_IS_BETTER
    top = min(ranked, key=lambda r: r[name] if lower else -r[name])
    fit, held = FITS[task]
    for r in ranked:
        if r is top or r["verdict"] in ("overfitting", "underfitting") or fit not in r or held not in top:
            continue
        versus = versus_of(name, top, r, replicates, confidence)
        fits_less = r[fit] >= top[held] if lower else r[fit] <= top[held]
        if versus["better"] and versus["delta"] > margin * abs(top[name]) and fits_less:
            r["verdict"] = "underfitting"
            r["reason"] = (
                f"test {LABELS[name]} {r[name]:.4f}, {versus['delta']:.4f} [{versus['lo']:.4f}, {versus['hi']:.4f}] "
                f"below the best ({top['variant']}); {_fit_label(fit)} {r[fit]:.4f} on its training events, "
                f"{'above' if lower else 'below'} the best's {top[held]:.4f} on the test events"
            )


def versus_of(name: str, a: dict, b: dict, replicates: dict[str, dict], confidence: float) -> dict:
    """bootstrap.compare of run `a` against run `b` on the headline `name`: their numbers, their paired
    replicates, the interval widened by their seed spreads."""
    return bootstrap.compare(
        name,
        a[name],
        b[name],
        replicates[a["variant"]][name],
        replicates[b["variant"]][name],
        confidence,
        bootstrap.seed_spread(name, a, b),
    )


def _fit_label(key: str) -> str:
    named = {"train_loss": "MSE", "train_accuracy": "accuracy"}
    return named[key] if key in named else LABELS[key.removeprefix("train_")]


def overtraining(rows: list[dict], task: str, replicates: dict[str, dict], confidence: float) -> dict:
    """The lecture's question: which variants overfit, underfit or had not converged (each with its reason), and
    which changes to the baseline helped - a test score better than the baseline's beyond the interval of their
    paired difference.
    `compared` has, per variant of the baseline's method (other methods are compared in `methods`), that
    difference with its interval and the train-validation loss gaps."""
    overfit, underfit, unconverged = (
        [f"{r['variant']} ({r['reason']})" if r.get("reason") else r["variant"] for r in rows if r["verdict"] == v]
        for v in ("overfitting", "underfitting", "not_converged")
    )
    base = next((r for r in rows if r["variant"] == "baseline"), None)
    helped, within, worse, compared = [], [], [], []
    name = bootstrap.HEADLINES[task][0]
    for r in rows if base is not None else []:
        if r is base or r["method"] != base["method"]:
            continue
        versus = versus_of(name, r, base, replicates, confidence)
        compared.append(
            {
                "variant": r["variant"],
                "score": name,
                **versus,
                "gap": r["val_loss"] - r["train_loss"],
                "base_gap": base["val_loss"] - base["train_loss"],
                "verdict": r["verdict"],
            }
        )
        (helped if versus["better"] else worse if versus["hi"] < 0 else within).append(r["variant"])
    return {
        "overfit": overfit,
        "underfit": underfit,
        "not_converged": unconverged,
        "helped": helped,
        "within": within,
        "worse": worse,
        "compared": compared,
        "has_baseline": base is not None,
        "score": LABELS[name],
    }


def methods(
    rows: list[dict],
    task: str,
    methods_of: dict[str, str],
    replicates: dict[str, dict],
    confidence: float,
    described: dict[str, str] | None = None,
) -> dict | None:
    """Which method is best and by how much: each method's best variant, chosen on the validation sample's first
    headline number (validation_<name>; the test number where a run has none) - so that the test sample judges each
    method's chosen variant once, not the luckiest of many on its own events - then the methods ranked on the test
    numbers, and the best one against each other on every headline number with the interval of the paired
    difference; with `described`, each chosen variant's settings. None when the dataset has runs of one method
    only."""
    headlines = bootstrap.HEADLINES[task]
    first = headlines[0]
    sign = -1 if first in bootstrap.LOWER_IS_BETTER else 1
    best_of: dict[str, dict] = {}
    for r in sorted(rows, key=lambda r: -sign * r.get(f"validation_{first}", r[first])):
        best_of.setdefault(methods_of[r["variant"]], r)
    if len(best_of) < 2:
        return None
    variants_of = {m: sum(methods_of[r["variant"]] == m for r in rows) for m in best_of}
    order = sorted(best_of, key=lambda m: -sign * best_of[m][first])  # ranked on the test numbers
    best_of = {m: best_of[m] for m in order}
    ranking = [
        {
            "method": m,
            "name": registry.display_name(m),
            "variant": r["variant"],
            "of": variants_of[m],  # how many variants of the method it was chosen from
            "chosen_on": "validation" if f"validation_{first}" in r else "test",
            **{h: r[h] for h in headlines},
            **{f"{h}_ci": (r.get(f"{h}_ci_lo"), r.get(f"{h}_ci_hi")) for h in headlines},
            **{f"{h}_seed_std": r[f"{h}_seed_std"] for h in headlines if f"{h}_seed_std" in r},
            "n_seeds": r.get("n_seeds", 1),
            "settings": (described or {}).get(r["variant"], ""),
        }
        for m, r in best_of.items()
    ]
    top = ranking[0]
    versus = [
        {
            "method": other["method"],
            "name": other["name"],
            "variant": other["variant"],
            "by": [versus_of(h, top, other, replicates, confidence) for h in headlines],
        }
        for other in ranking[1:]
    ]
    return {
        "ranking": ranking,
        "best": top,
        "versus": versus,
        "headlines": headlines,
        "labels": {h: LABELS[h] for h in headlines},
        "sentence": sentence(top, versus[0], confidence),
    }


def sentence(top: dict, runner_up: dict, confidence: float) -> str:
    """The answer in words: the best method, and whether it beats the runner-up beyond the uncertainty."""
    level = f"{confidence:.0%}"
    parts = [f"{LABELS[c['metric']]} {c['delta']:+.3f} [{c['lo']:+.3f}, {c['hi']:+.3f}]" for c in runner_up["by"]]
    head = (
        f"Best method: {top['name']} ({top['variant']}). Against the runner-up, {runner_up['name']} "
        f"({runner_up['variant']}): {'; '.join(parts)} ({level} intervals of the paired difference"
        f"{', widened by the seed-to-seed spread' if any('seed_spread' in c for c in runner_up['by']) else ''}). "
    )
    if all(c["better"] for c in runner_up["by"]):
        return head + f"{top['name']} is better beyond the uncertainty."
    if any(c["better"] for c in runner_up["by"]):
        won = [LABELS[c["metric"]] for c in runner_up["by"] if c["better"]]
        return head + f"{top['name']} is better beyond the uncertainty in {' and '.join(won)} only."
    return head + "The difference is within the uncertainty: neither is better on this test sample."
