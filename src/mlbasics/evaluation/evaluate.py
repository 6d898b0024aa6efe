"""Evaluate a trained model on the held-out test split: metrics (scikit-learn; weighted by the events' weights
where the data has them), confusion matrix, TMVA's overtraining check (training vs test response, a KS test per
class) and efficiency table, per-variant figures, and one MLflow run holding params, curves, metrics and
artifacts."""

from __future__ import annotations

from functools import partial

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from mlbasics.core import plots
from mlbasics.core.files import write_csv
from mlbasics.data import preprocess
from mlbasics.evaluation import diagnostics, response


def classes_of(scores: np.ndarray) -> np.ndarray:
    """Class indices from model outputs: threshold 0.5 for a single sigmoid unit, argmax for softmax."""
    if scores.shape[-1] == 1:
        return (scores[:, 0] > 0.5).astype(np.int64)
    return scores.argmax(axis=1).astype(np.int64)


def roc(
    y_true: np.ndarray, scores: np.ndarray, class_names: list[str], w: np.ndarray | None = None
) -> tuple[dict, float | None]:
    """ROC curves {name: (fpr, tpr, auc)} and the AUC (binary) or macro one-vs-rest AUC (multi-class) over
    the classes present in the test set, weighted by `w`; no curves when fewer than two classes are present."""
    probabilities = np.c_[1 - scores[:, 0], scores[:, 0]] if scores.shape[-1] == 1 else scores
    present = [k for k in range(len(class_names)) if (y_true == k).any()]
    if len(present) < 2:
        return {}, None
    if len(class_names) == 2:
        fpr, tpr, auc = response.roc(y_true, probabilities[:, 1], w)
        return {f"{class_names[1]} vs {class_names[0]}": (fpr, tpr, auc)}, auc
    curves = {class_names[k]: response.roc(y_true == k, probabilities[:, k], w) for k in present}
    return curves, float(np.mean([c[2] for c in curves.values()]))


def headline_numbers(task: str, y: np.ndarray, scores: np.ndarray, w: np.ndarray | None) -> dict[str, float]:
    """The headline numbers (bootstrap.HEADLINES) of one sample, e.g. the validation sample: what the best
    variant of a method is chosen on, so that the test sample judges the chosen one once. Left out where the sample
    cannot give them (a class missing)."""
    weights = {} if response.unweighted(w) else {"sample_weight": w}
    if task == "regression":
        from sklearn.metrics import mean_squared_error

        return {"mse": float(mean_squared_error(y, scores[:, 0], **weights))}
    if task == "multiclass":
        return {"accuracy": float(accuracy_score(y, classes_of(scores), **weights))}
    if len(np.unique(y)) < 2:
        return {}
    return {
        "roc_auc": response.roc(y, scores[:, 0], w)[2],
        "sig_eff_at_bkg_0p10": response.signal_efficiency_at(y, scores[:, 0], w, 0.10),
    }


def classification_panels(
    method,
    x: np.ndarray,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    curves: dict,
    class_names: list[str],
    image_shape: tuple[int, ...],
    scores=None,
) -> list:
    """The diagnostics that apply: ROC; for images the test images and first-layer weights; for 2-D data the
    decision boundary. What they need of the model comes from the `scores` its training wrote (train.outputs_of),
    or else from the model."""
    scores = {} if scores is None else scores
    panels = [partial(diagnostics.roc_panel, curves=curves)] if curves else []
    if image_shape:
        images = x[:25].reshape(-1, *image_shape)
        panels.append(
            partial(
                diagnostics.test_images_panel,
                images=images,
                y_true=y_true[:25],
                y_pred=y_pred[:25],
                class_names=class_names,
            )
        )
        kernel = scores["input_weights"] if "input_weights" in scores else method.input_weights()
        if kernel is not None and kernel.shape[0] == int(np.prod(image_shape)):
            panels.append(partial(diagnostics.weights_panel, kernel=kernel[:, :16], image_shape=image_shape))
        if "class_templates" in scores:  # the lecture's picture: what each class's output looks for
            panels.append(
                partial(
                    diagnostics.templates_panel,
                    templates=scores["class_templates"],
                    image_shape=image_shape,
                    class_names=class_names,
                )
            )
    if x.shape[1] == 2:
        grid = (
            scores["boundary"]
            if "boundary" in scores
            else method.predict(response.grid_points(*response.boundary_grid(x)))
        )
        panels.append(
            partial(diagnostics.boundary_panel, regions=classes_of(grid), x=x, y=y_true, class_names=class_names)
        )
    return panels


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str], w: np.ndarray | None = None
) -> dict[str, float]:
    """Flat, DVC-friendly keys: accuracy, macro precision/recall/F1, and the same per class (weighted by `w`)."""
    labels = list(range(len(class_names)))
    weights = {} if response.unweighted(w) else {"sample_weight": w}
    metrics = {"accuracy": float(accuracy_score(y_true, y_pred, **weights)), "n_test": len(y_true)}
    p, r, f, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average="macro", zero_division=0, **weights
    )
    metrics.update(precision_macro=float(p), recall_macro=float(r), f1_macro=float(f))
    p, r, f, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=0, **weights
    )
    for i, name in enumerate(class_names):
        key = name.replace(" ", "_")
        metrics.update({f"precision_{key}": float(p[i]), f"recall_{key}": float(r[i]), f"f1_{key}": float(f[i])})
    return metrics


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray, w: np.ndarray | None = None) -> dict[str, float]:
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    weights = {} if response.unweighted(w) else {"sample_weight": w}
    return {
        "mse": float(mean_squared_error(y_true, y_pred, **weights)),
        "mae": float(mean_absolute_error(y_true, y_pred, **weights)),
        "r2": float(r2_score(y_true, y_pred, **weights)),
        "n_test": len(y_true),
    }


def calibration_rows(y_true: np.ndarray, y_pred: np.ndarray, bins: int = 10) -> list[list]:
    """Regression's stand-in for a confusion matrix: the test set in bins of the true value, with the mean
    prediction in each."""
    edges = np.quantile(y_true, np.linspace(0, 1, bins + 1))
    which = np.clip(np.searchsorted(edges, y_true, side="right") - 1, 0, bins - 1)
    rows = []
    for k in range(bins):
        mask = which == k
        if mask.any():
            rows.append(
                [
                    f"{edges[k]:.4g}",
                    f"{edges[k + 1]:.4g}",
                    int(mask.sum()),
                    float(y_true[mask].mean()),
                    float(y_pred[mask].mean()),
                ]
            )
    return rows


def write_confusion(path, matrix: np.ndarray, class_names: list[str]) -> None:
    """Matrix as CSV: one row per true class, one column per predicted class."""
    rows = [[name, *map(int, matrix[i])] for i, name in enumerate(class_names)]
    write_csv(path, ["true\\predicted", *class_names], rows)


def classification(
    method,
    split: preprocess.Split,
    scores: np.ndarray,
    title: str,
    outputs: dict,
    expected: dict | None = None,
    figures: bool = True,
) -> tuple[dict, list, list]:
    """Test metrics (with ROC AUC; for two classes TMVA's efficiency table, test and train), the confusion
    matrix (CSV and figure); (metrics, diagnostics panels, predictions.csv's columns: actual and predicted class
    names, and for two classes the response). `scores`: the model's
    outputs on the test, the training and the validation sample."""
    arrays, class_names = split.arrays, split.class_names
    y_true, w = arrays["y_test"], split.weights("test")
    y_pred = classes_of(scores["test"])
    metrics = classification_metrics(y_true, y_pred, class_names, w)
    curves, auc = roc(y_true, scores["test"], class_names, w)
    if auc is not None:
        metrics["roc_auc"] = auc
    if split.task == "binary" and auc is not None:
        metrics.update(
            response.efficiency_table(
                (arrays["y_train"], scores["train"][:, 0], split.weights("train")), (y_true, scores["test"][:, 0], w)
            )
        )
        if expected:  # yields given: the cut with the best significance, chosen on validation, reported on test
            metrics.update(
                response.best_cut(
                    (arrays["y_val"], scores["val"][:, 0], split.weights("val")),
                    (y_true, scores["test"][:, 0], w),
                    expected["signal"],
                    expected["background"],
                    expected["min_background_events"],
                    expected["background_uncertainty"],
                )
            )
    panels = (
        classification_panels(method, arrays["x_test"], y_true, y_pred, curves, class_names, split.image_shape, scores)
        if figures
        else []
    )
    matrix = confusion_matrix(y_true, y_pred, labels=list(range(len(class_names))))
    if figures:  # a variant's figures: unless figures.per_variant is false
        plots.confusion(matrix, class_names, title, outputs["confusion_png"])
    write_confusion(outputs["confusion"], matrix, class_names)
    names = np.asarray(class_names, dtype=object)
    columns = {"actual": names[y_true].tolist(), "predicted": names[y_pred].tolist()}
    if split.task == "binary":  # the response too: the report draws every variant's rejection curve from it
        columns["response"] = scores["test"][:, 0].astype(np.float64).tolist()
    return metrics, panels, columns


def regression(
    method, split: preprocess.Split, scores: np.ndarray, title: str, outputs: dict, figures: bool = True
) -> tuple[dict, list, list]:
    """Test metrics, predicted vs true instead of a confusion matrix; (metrics, panels, predictions.csv's
    columns: actual and predicted values)."""
    y_true = split.arrays["y_test"]
    y_pred = scores["test"][:, 0].astype(np.float64)
    if figures:
        plots.predicted_vs_true(y_true, y_pred, title, outputs["confusion_png"])
    write_csv(
        outputs["confusion"],
        ["true_from", "true_to", "count", "mean_true", "mean_predicted"],
        calibration_rows(y_true, y_pred),
    )
    panels = [partial(diagnostics.residuals_panel, y_true=y_true, y_pred=y_pred)]
    return (
        regression_metrics(y_true, y_pred, split.weights("test")),
        panels,
        {"actual": np.asarray(y_true, np.float64).tolist(), "predicted": y_pred.tolist()},
    )
