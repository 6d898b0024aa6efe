"""Quality gates: the `check` stage holds every run's metrics.json against the thresholds in params
(`gates: {dataset: {metric: {min: x, max: y}}}`) and fails the pipeline with one line per violated gate.
Passing, it writes reports/checks.json with every comparison made."""

from __future__ import annotations

# The metrics a gate may name, by task: the test metrics and the overtraining numbers of metrics.json.
OVERTRAINING = [
    "loss_gap_final",
    "loss_gap_best",
    "train_loss_improvement",
    "best_epoch",
    "ks_p_min",
    "overfitting",
    "underfitting",
    "not_converged",
]
EFFICIENCIES = [f"{kind}sig_eff_at_bkg_{e}" for kind in ("", "train_") for e in ("0p01", "0p10", "0p30")] + [
    "best_cut_asimov_z",
    "best_cut_s_over_sqrt_s_b",
    "best_cut_signal_eff",
    "best_cut_background_eff",
]
CLASSIFICATION = [
    "accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "roc_auc",
    "accuracy_gap_final",
    *EFFICIENCIES,
    *OVERTRAINING,
]
REGRESSION = ["mse", "mae", "r2", "mae_gap_final", *OVERTRAINING]


class GateError(Exception):
    """One or more gates failed; the message holds one line per violation."""


def gate_problem(metric: str, bounds: dict, regression: bool) -> str | None:
    """Why a gate in params cannot work, or None."""
    allowed = REGRESSION if regression else CLASSIFICATION
    if metric not in allowed:
        task = "regression" if regression else "classification"
        return f"{metric}: not a {task} metric (gates take: {', '.join(allowed)})"
    if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
        return f"{metric}: min {bounds['min']} is above max {bounds['max']}"
    return None


def judge(gates: dict, runs: dict[tuple[str, str], dict]) -> list[dict]:
    """Every gate applied to every run of its dataset: rows of dataset, variant, metric, value, bound,
    threshold and whether it passed. A metric missing from a run (e.g. ROC AUC with one class) fails."""
    rows = []
    for (dataset, variant), metrics in runs.items():
        for metric, bounds in gates.get(dataset, {}).items():
            value = metrics.get(metric)
            for bound, threshold in sorted(bounds.items()):
                ok = value is not None and (value >= threshold if bound == "min" else value <= threshold)
                rows.append(
                    {
                        "dataset": dataset,
                        "variant": variant,
                        "metric": metric,
                        "value": value,
                        "bound": bound,
                        "threshold": threshold,
                        "passed": ok,
                    }
                )
    return rows


def describe(row: dict) -> str:
    """One line per violation: dataset, variant, metric, value, threshold."""
    value = "missing" if row["value"] is None else f"{row['value']:.4g}"
    side = "below the minimum" if row["bound"] == "min" else "above the maximum"
    return (
        f"gate failed: dataset {row['dataset']}, variant {row['variant']}: {row['metric']} = {value}, "
        f"{side} {row['threshold']:g}"
    )
