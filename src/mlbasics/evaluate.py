"""Evaluate a trained model on the held-out test split: metrics (scikit-learn), confusion matrix,
per-variant figures, and one MLflow run holding params, curves, metrics and artifacts."""

from __future__ import annotations

import json

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from . import overtraining, plots, preprocess, tracking
from .io import read_csv, read_json, write_csv, write_json


def predict_classes(model, x: np.ndarray) -> np.ndarray:
    """Class indices: threshold 0.5 for a single sigmoid unit, argmax for softmax."""
    scores = model.predict(x, verbose=0)
    if scores.shape[-1] == 1:
        return (scores[:, 0] > 0.5).astype(np.int64)
    return scores.argmax(axis=1).astype(np.int64)


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str]) -> dict[str, float]:
    """Flat, DVC-friendly keys: accuracy, macro precision/recall/F1, and the same per class."""
    labels = list(range(len(class_names)))
    metrics = {"accuracy": float(accuracy_score(y_true, y_pred)), "n_test": len(y_true)}
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    metrics.update(precision_macro=float(p), recall_macro=float(r), f1_macro=float(f))
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=None, zero_division=0)
    for i, name in enumerate(class_names):
        key = name.replace(" ", "_")
        metrics.update({f"precision_{key}": float(p[i]), f"recall_{key}": float(r[i]), f"f1_{key}": float(f[i])})
    return metrics


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    return {"mse": float(mean_squared_error(y_true, y_pred)), "mae": float(mean_absolute_error(y_true, y_pred)),
            "r2": float(r2_score(y_true, y_pred)), "n_test": len(y_true)}


def calibration_rows(y_true: np.ndarray, y_pred: np.ndarray, bins: int = 10) -> list[list]:
    """Regression's stand-in for a confusion matrix: the test set in bins of the true value, with the mean
    prediction in each."""
    edges = np.quantile(y_true, np.linspace(0, 1, bins + 1))
    which = np.clip(np.searchsorted(edges, y_true, side="right") - 1, 0, bins - 1)
    rows = []
    for k in range(bins):
        mask = which == k
        if mask.any():
            rows.append([f"{edges[k]:.4g}", f"{edges[k + 1]:.4g}", int(mask.sum()), float(y_true[mask].mean()),
                         float(y_pred[mask].mean())])
    return rows


def write_confusion(path, matrix: np.ndarray, class_names: list[str]) -> None:
    """Matrix as CSV: one row per true class, one column per predicted class."""
    rows = [[name, *map(int, matrix[i])] for i, name in enumerate(class_names)]
    write_csv(path, ["true\\predicted", *class_names], rows)


def run(settings: dict, inputs: dict, outputs: dict, threads: int = 0) -> None:
    """The evaluate stage: model + test split in; metrics, confusion, figures out; one MLflow run."""
    from .train import configure_tensorflow, register_custom_layers

    configure_tensorflow(threads)
    import keras

    register_custom_layers()
    arrays, class_names = preprocess.load(inputs["data"])
    model = keras.saving.load_model(inputs["model"])
    dataset, variant = settings["dataset"], settings["variant"]
    history = read_csv(inputs["history"])
    judged = overtraining.analyse(history, settings.get("overtraining"))
    plots.training_curves(history, f"{dataset} / {variant}", outputs["curves"], judged)
    y_true = arrays["y_test"]
    if class_names:
        y_pred = predict_classes(model, arrays["x_test"])
        metrics = classification_metrics(y_true, y_pred, class_names)
        matrix = confusion_matrix(y_true, y_pred, labels=list(range(len(class_names))))
        plots.confusion(matrix, class_names, f"{dataset} / {variant}: test set", outputs["confusion_png"])
        write_confusion(outputs["confusion"], matrix, class_names)
        pairs = [[class_names[t], class_names[p]] for t, p in zip(y_true, y_pred, strict=True)]
    else:  # regression: predicted vs true instead of a confusion matrix
        y_pred = model.predict(arrays["x_test"], verbose=0)[:, 0].astype(np.float64)
        metrics = regression_metrics(y_true, y_pred)
        plots.predicted_vs_true(y_true, y_pred, f"{dataset} / {variant}: test set", outputs["confusion_png"])
        write_csv(outputs["confusion"], ["true_from", "true_to", "count", "mean_true", "mean_predicted"],
                  calibration_rows(y_true, y_pred))
        pairs = [[float(t), float(p)] for t, p in zip(y_true, y_pred, strict=True)]
    write_csv(outputs["predictions"], ["actual", "predicted"], pairs)
    write_json(outputs["metrics"], {**metrics, **judged})

    stats = read_json(inputs["stats"]) if inputs.get("stats") else {}
    track = settings["tracking"]
    params = {**{k: json.dumps(v) if isinstance(v, list) else v for k, v in settings["model"].items()},
              "seed": settings["seed"], "dataset": dataset, "variant": variant}
    run_id = tracking.log_run(
        tracking.resolve_uri(track["uri"]), track["experiment"], variant,
        tags={"dataset": dataset, "variant": variant, "verdict": judged["verdict"]}, params=params, history=history,
        metrics={**metrics, **{k: v for k, v in judged.items() if k != "verdict"}},
        stats={k: float(v) for k, v in stats.items() if isinstance(v, (int, float))},
        artifacts=[inputs["model"], inputs["history"], *(outputs[k] for k in outputs)],
    )
    headline = f"accuracy {metrics['accuracy']:.4f}" if class_names else f"mse {metrics['mse']:.4g}"
    since = f" since epoch {judged['overfitting_since']}" if judged["overfitting_since"] else ""
    print(f"{dataset}/{variant}: test {headline}, {judged['verdict']}{since}, MLflow run {run_id}")
