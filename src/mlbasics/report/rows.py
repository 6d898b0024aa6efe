"""A run as a line of the reports: its test metrics with their intervals, the last epoch's numbers, the TMVA
tables' columns, its verdict and the reason; and how a dataset's runs are ranked (by its headline number)."""

from __future__ import annotations

from mlbasics.core.tasks import history_metric
from mlbasics.evaluation import bootstrap, overtraining
from mlbasics.report import verdicts

TABLE_METRICS = ["accuracy", "precision_macro", "recall_macro", "f1_macro"]
REGRESSION_METRICS = ["mse", "mae", "r2"]
KS_SUMMARY = ("ks_p_min", "ks_p_threshold")  # not a class's probability: in the verdict's reason
PHYSICS_METRICS = ("ks_p_", "sig_eff_at_bkg_", "train_sig_eff_at", "best_cut")  # the TMVA tables' columns


def table_metrics(task: str, metrics: dict) -> list[str]:
    if task == "regression":
        return REGRESSION_METRICS
    return TABLE_METRICS + (["roc_auc"] if "roc_auc" in metrics else [])


def variant_row(
    dataset: str,
    variant: str,
    task: str,
    metrics: dict,
    history: list[dict],
    method: str = "mlp",
    rules: dict | None = None,
) -> dict:
    """One line of the comparison: test metrics (with the headline numbers' bootstrap intervals) plus the last
    epoch's train and validation numbers, the KS p-values, (two classes) TMVA's efficiency table, the verdict and,
    given the overtraining `rules`, its reason."""
    last, name = history[-1], history_metric(history)
    physics = {k: v for k, v in metrics.items() if k.startswith(PHYSICS_METRICS)}
    validation = {k: v for k, v in metrics.items() if k.startswith("validation_")}  # what a best variant is chosen on
    seeds = {k: v for k, v in metrics.items() if k.endswith(("_seed_mean", "_seed_std")) or k == "n_seeds"}
    folds = {k: v for k, v in metrics.items() if k.endswith(("_fold_mean", "_fold_std")) or k == "n_folds"}

    intervals = {k: v for k, v in metrics.items() if k.endswith(("_ci_lo", "_ci_hi"))}
    verdict = overtraining.verdict_of(metrics)
    judged = {**metrics, "verdict": verdict, "method": method, "epochs": int(last["epoch"])}
    return {
        "dataset": dataset,
        "variant": variant,
        "method": method,
        **{k: metrics[k] for k in table_metrics(task, metrics)},
        **physics,
        **intervals,
        **validation,
        **seeds,
        **folds,
        "verdict": verdict,
        **({"reason": overtraining.reason(judged, rules)} if rules else {}),
        "best_epoch": metrics.get("best_epoch", ""),
        "overfitting_since": metrics.get("overfitting_since", ""),
        "n_test": metrics["n_test"],
        "epochs": int(last["epoch"]),
        "train_loss": float(last["loss"]),
        "val_loss": float(last["val_loss"]),
        f"train_{name}": float(last[name]),
        f"val_{name}": float(last[f"val_{name}"]),
    }


def best(rows: list[dict], task: str) -> tuple[dict, str]:
    """The best variant of one dataset by its headline number (ranked_by), and how to say it."""
    top, name = leaderboard(rows, task)[0], ranked_by(task, rows)
    if name in bootstrap.LOWER_IS_BETTER:
        return top, f"lowest test {verdicts.LABELS.get(name, name)} {top[name]:.4g} ({top['variant']})"
    return top, f"best test {verdicts.LABELS.get(name, name)} {top[name]:.4f} ({top['variant']})"


def ranked_by(task: str, rows: list[dict]) -> str:
    """What variants are ranked by: the dataset's first headline number - ROC AUC for two classes (accuracy at a
    0.5 cut says little where the classes' weights differ), accuracy for more, MSE for a regression."""
    name = bootstrap.HEADLINES[task][0]
    return name if all(name in r for r in rows) else "accuracy"


def leaderboard(rows: list[dict], task: str) -> list[dict]:
    """The variants best first, by the dataset's headline number (ranked_by)."""
    name = ranked_by(task, rows)
    return sorted(rows, key=lambda r: r[name] if name in bootstrap.LOWER_IS_BETTER else -r[name])
