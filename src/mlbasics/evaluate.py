"""Evaluate a trained model on the held-out test split: metrics (scikit-learn), confusion matrix,
per-variant figures, and one MLflow run holding params, curves, metrics and artifacts."""

from __future__ import annotations

import json

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from . import plots, preprocess, tracking
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
    y_true, y_pred = arrays["y_test"], predict_classes(model, arrays["x_test"])
    metrics = classification_metrics(y_true, y_pred, class_names)
    matrix = confusion_matrix(y_true, y_pred, labels=list(range(len(class_names))))

    dataset, variant = settings["dataset"], settings["variant"]
    history = read_csv(inputs["history"])
    plots.training_curves(history, f"{dataset} / {variant}", outputs["curves"])
    plots.confusion(matrix, class_names, f"{dataset} / {variant}: test set", outputs["confusion_png"])
    write_confusion(outputs["confusion"], matrix, class_names)
    write_csv(outputs["predictions"], ["actual", "predicted"],
              [[class_names[t], class_names[p]] for t, p in zip(y_true, y_pred, strict=True)])
    write_json(outputs["metrics"], metrics)

    stats = read_json(inputs["stats"]) if inputs.get("stats") else {}
    track = settings["tracking"]
    params = {**{k: json.dumps(v) if isinstance(v, list) else v for k, v in settings["model"].items()},
              "seed": settings["seed"], "dataset": dataset, "variant": variant}
    run_id = tracking.log_run(
        tracking.resolve_uri(track["uri"]), track["experiment"], variant,
        tags={"dataset": dataset, "variant": variant}, params=params, history=history,
        metrics=metrics, stats={k: float(v) for k, v in stats.items() if isinstance(v, (int, float))},
        artifacts=[inputs["model"], inputs["history"], *(outputs[k] for k in outputs)],
    )
    print(f"{dataset}/{variant}: test accuracy {metrics['accuracy']:.4f}, MLflow run {run_id}")
