"""Evaluate a trained model on the held-out test split: metrics (scikit-learn; weighted by the events' weights
where the data has them), confusion matrix, TMVA's overtraining check (training vs test response, a KS test per
class) and efficiency table, per-variant figures, and one MLflow run holding params, curves, metrics and
artifacts."""

from __future__ import annotations

import json
from functools import partial

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from . import (
    bootstrap,
    diagnostics,
    methods,
    overtraining,
    physics_plots,
    plots,
    preprocess,
    provenance,
    response,
    tracking,
)
from .files import read_arrays, read_csv, read_json, sha256_file, write_csv, write_json


def classes_of(scores: np.ndarray) -> np.ndarray:
    """Class indices from model outputs: threshold 0.5 for a single sigmoid unit, argmax for softmax."""
    if scores.shape[-1] == 1:
        return (scores[:, 0] > 0.5).astype(np.int64)
    return scores.argmax(axis=1).astype(np.int64)


def roc(y_true: np.ndarray, scores: np.ndarray, class_names: list[str], w: np.ndarray | None = None
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


def classification_panels(method, x: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, curves: dict,
                          class_names: list[str], image_shape: tuple[int, ...], scores=None) -> list:
    """The diagnostics that apply: ROC; for images the test images and first-layer weights; for 2-D data the
    decision boundary. What they need of the model comes from the `scores` its training wrote (train.outputs_of),
    or else from the model."""
    scores = {} if scores is None else scores
    panels = [partial(diagnostics.roc_panel, curves=curves)] if curves else []
    if image_shape:
        images = x[:25].reshape(-1, *image_shape)
        panels.append(partial(diagnostics.test_images_panel, images=images, y_true=y_true[:25], y_pred=y_pred[:25],
                              class_names=class_names))
        kernel = scores["input_weights"] if "input_weights" in scores else method.input_weights()
        if kernel is not None and kernel.shape[0] == int(np.prod(image_shape)):
            panels.append(partial(diagnostics.weights_panel, kernel=kernel[:, :16], image_shape=image_shape))
    if x.shape[1] == 2:
        grid = scores["boundary"] if "boundary" in scores else \
            method.predict(response.grid_points(*response.boundary_grid(x)))
        panels.append(partial(diagnostics.boundary_panel, regions=classes_of(grid), x=x, y=y_true,
                              class_names=class_names))
    return panels


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str],
                           w: np.ndarray | None = None) -> dict[str, float]:
    """Flat, DVC-friendly keys: accuracy, macro precision/recall/F1, and the same per class (weighted by `w`)."""
    labels = list(range(len(class_names)))
    weights = {} if response.unweighted(w) else {"sample_weight": w}
    metrics = {"accuracy": float(accuracy_score(y_true, y_pred, **weights)), "n_test": len(y_true)}
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="macro", zero_division=0,
                                                 **weights)
    metrics.update(precision_macro=float(p), recall_macro=float(r), f1_macro=float(f))
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=None, zero_division=0,
                                                 **weights)
    for i, name in enumerate(class_names):
        key = name.replace(" ", "_")
        metrics.update({f"precision_{key}": float(p[i]), f"recall_{key}": float(r[i]), f"f1_{key}": float(f[i])})
    return metrics


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray, w: np.ndarray | None = None) -> dict[str, float]:
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    weights = {} if response.unweighted(w) else {"sample_weight": w}
    return {"mse": float(mean_squared_error(y_true, y_pred, **weights)),
            "mae": float(mean_absolute_error(y_true, y_pred, **weights)),
            "r2": float(r2_score(y_true, y_pred, **weights)), "n_test": len(y_true)}


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


def classification(method, split: preprocess.Split, scores: np.ndarray, title: str, outputs: dict,
                   expected: dict | None = None) -> tuple[dict, list, list]:
    """Test metrics (with ROC AUC; for two classes TMVA's efficiency table, test and train), the confusion
    matrix (CSV and figure); (metrics, diagnostics panels, [true, predicted] name pairs). `scores`: the model's
    outputs on the test and the training sample."""
    arrays, class_names = split.arrays, split.class_names
    y_true, w = arrays["y_test"], split.weights("test")
    y_pred = classes_of(scores["test"])
    metrics = classification_metrics(y_true, y_pred, class_names, w)
    curves, auc = roc(y_true, scores["test"], class_names, w)
    if auc is not None:
        metrics["roc_auc"] = auc
    if split.task == "binary" and auc is not None:
        metrics.update(response.efficiency_table(
            (arrays["y_train"], scores["train"][:, 0], split.weights("train")), (y_true, scores["test"][:, 0], w)))
        if expected:  # yields given: the cut with the best significance
            metrics.update(response.best_cut(y_true, scores["test"][:, 0], w, expected["signal"],
                                             expected["background"]))
    panels = classification_panels(method, arrays["x_test"], y_true, y_pred, curves, class_names,
                                   split.image_shape, scores) if "diagnostics" in outputs else []
    matrix = confusion_matrix(y_true, y_pred, labels=list(range(len(class_names))))
    if "confusion_png" in outputs:  # a variant's figures: unless figures.per_variant is false
        plots.confusion(matrix, class_names, title, outputs["confusion_png"])
    write_confusion(outputs["confusion"], matrix, class_names)
    pairs = [[class_names[t], class_names[p]] for t, p in zip(y_true, y_pred, strict=True)]
    if split.task == "binary":  # the response too: the report draws every variant's rejection curve from it
        pairs = [[*pair, float(score)] for pair, score in zip(pairs, scores["test"][:, 0], strict=True)]
    return metrics, panels, pairs


def regression(method, split: preprocess.Split, scores: np.ndarray, title: str, outputs: dict
               ) -> tuple[dict, list, list]:
    """Test metrics, predicted vs true instead of a confusion matrix; (metrics, panels, [true, predicted])."""
    y_true = split.arrays["y_test"]
    y_pred = scores["test"][:, 0].astype(np.float64)
    if "confusion_png" in outputs:
        plots.predicted_vs_true(y_true, y_pred, title, outputs["confusion_png"])
    write_csv(outputs["confusion"], ["true_from", "true_to", "count", "mean_true", "mean_predicted"],
              calibration_rows(y_true, y_pred))
    panels = [partial(diagnostics.residuals_panel, y_true=y_true, y_pred=y_pred)]
    return regression_metrics(y_true, y_pred, split.weights("test")), panels, [[float(t), float(p)] for t, p in
                                                        zip(y_true, y_pred, strict=True)]


class OnDemand:
    """The trained model, loaded on first use: the evaluation needs only what its training wrote (scores.npz),
    unless an importance (a reference method's) or MLflow's scikit-learn model asks for it."""

    def __init__(self, load):
        self._load, self._method = load, None

    def __getattr__(self, name: str):
        if self._method is None:
            self._method = self._load()
        return getattr(self._method, name)


def run(settings: dict, inputs: dict, outputs: dict, threads: int = 0) -> None:
    """The evaluate stage: model + test split in; metrics, confusion, figures out; one MLflow run."""
    methods.prepare(settings["model"], threads)
    split = preprocess.load(inputs["data"])
    kind = methods.method_class(settings["model"])
    method = OnDemand(lambda: methods.load(settings["model"], inputs["model"]))
    dataset, variant = settings["dataset"], settings["variant"]
    history = read_csv(inputs["history"])
    title = f"{dataset} / {variant}: test set"
    regression_task = split.task == "regression"
    scores = read_arrays(inputs["scores"])  # the saved model's outputs on the test and training samples
    if regression_task:
        metrics, panels, pairs = regression(method, split, scores, title, outputs)
    else:
        metrics, panels, pairs = classification(method, split, scores, title, outputs, settings.get("expected"))
    y_test, w_test = split.arrays["y_test"], split.weights("test")
    found = bootstrap.replicates(split.task, y_test, headline_scores(split.task, scores["test"]), w_test,
                                 settings["bootstrap"]["resamples"], settings["seed"])
    metrics.update(bootstrap.intervals_of(found, settings["bootstrap"]["confidence"]))
    bootstrap.write(outputs["bootstrap"], found)
    write_importance(outputs["importance"], method.importance(split.arrays["x_test"], y_test, w_test, split.task,
                                                              settings["seed"]) if kind.ranks_inputs else None)
    checked = response.check(split.task, split.class_names, *(
        (split.arrays[f"y_{part}"], scores[part], split.weights(part)) for part in ("train", "test")))
    metrics.update({f"ks_p_{response.metric_key(name)}": p for name, p in checked["ks_p"].items()})
    judged = overtraining.analyse(history, settings["overtraining"], checked["ks_p"])
    write_csv(outputs["predictions"], ["actual", "predicted", "response"][:len(pairs[0])], pairs)
    if "response" in outputs:  # the variant's figures (stages.VARIANT_FIGURES), unless figures.per_variant is off
        physics_plots.response(checked["panels"], f"{dataset} / {variant}: training (points) vs test sample",
                               outputs["response"], checked["xlabel"])
        plots.training_curves(history, f"{dataset} / {variant}", outputs["curves"], judged, step=kind.step)
        diagnostics.draw(title, panels, outputs["diagnostics"])
    git, software = provenance.git_state(), provenance.versions()
    # what decides the numbers: not where they are logged, nor whether figures are drawn
    model_settings = {k: v for k, v in settings.items() if k not in ("tracking", "figures")}
    prints = provenance.run_fingerprint(model_settings, sha256_file(inputs["data"]), git, software)
    # metrics.json holds numbers only (DVC compares them); what ran, and on what, goes to provenance.json
    write_json(outputs["metrics"], {**metrics, **{k: v for k, v in judged.items() if k != "verdict"},
                                    **overtraining.flags(judged)})
    write_json(outputs["provenance"], prints)
    record = run_record(settings, inputs, outputs, history, metrics, judged, provenance.provenance_tags(
        prints, git, software), split.task)
    write_json(outputs["run"], record)
    headline = f"mse {metrics['mse']:.4g}" if regression_task else f"accuracy {metrics['accuracy']:.4f}"
    since = f" since epoch {judged['overfitting_since']}" if judged["overfitting_since"] else ""
    print(f"{dataset}/{variant}: test {headline}, {judged['verdict']}{since}, {log_run(settings, record, outputs)}")


def headline_scores(task: str, scores: np.ndarray) -> np.ndarray:
    """What the headline numbers are computed from: the response (two classes), the predicted class (more),
    the predicted value (regression)."""
    return classes_of(scores) if task == "multiclass" else scores[:, 0].astype(np.float64)


def write_importance(path, found: tuple | None) -> None:
    """importance.csv: one row per input (its column in the processed data) with the method's importance and
    its error, and what the number measures; only the header for a method that has none (the MLP)."""
    rows = []
    if found is not None:
        measure, values, errors = found
        rows = [[j, float(value), "" if errors is None else float(errors[j]), measure]
                for j, value in enumerate(values)]
    write_csv(path, ["input", "importance", "error", "measure"], rows)


def run_record(settings: dict, inputs: dict, outputs: dict, history: list[dict], metrics: dict, judged: dict,
               tags: dict, task: str) -> dict:
    """The run as MLflow will hold it: params, tags (provenance, where it trained), curves, test metrics."""
    stats = read_json(inputs["stats"]) if inputs.get("stats") else {}
    dataset, variant = settings["dataset"], settings["variant"]
    # params as JSON text (null, false, [64, 64]), strings as they are: what a reader of params.yaml types
    params = {**{k: v if isinstance(v, str) else json.dumps(v) for k, v in settings["model"].items()},
              "seed": settings["seed"], "dataset": dataset, "variant": variant}
    return tracking.make_record(
        run_name=f"{dataset}/{variant}", params=params, history=history,
        tags={"dataset": dataset, "variant": variant, "task": task, "verdict": judged["verdict"], **tags,
              **{f"train_{k}": str(stats[k]) for k in ("device", "slurm_job_id", "precision") if k in stats}},
        metrics={**metrics, **{k: v for k, v in judged.items() if k != "verdict" and v is not None}},
        stats={k: float(v) for k, v in stats.items() if isinstance(v, (int, float)) and k != "started_ms"},
        artifacts=[inputs["history"], *(outputs[k] for k in outputs if k not in ("run", "provenance", "bootstrap"))],
        model={"path": str(inputs["model"]), "data": str(inputs["data"]), "spec": settings["model"],
               **({"scores": str(inputs["scores"])} if inputs.get("scores") else {})},
        started=stats["started_ms"] / 1000 if "started_ms" in stats else None,
        stamps={int(epoch): ms for epoch, ms in stats.get("epoch_end_ms", [])},
        dataset={"name": dataset, "digest": tags["data_sha256"][:16], "source": str(inputs["data"])})


def log_run(settings: dict, record: dict, outputs: dict) -> str:
    """Log the run now (online) or leave it to the track stage (offline); where it is, in words."""
    track = tracking.settings_from_env(settings.get("tracking"))
    if track.get("mode", "online") != "online":
        return f"run recorded offline in {outputs['run']}"
    run_id = tracking.log_online(tracking.resolve_uri(track["uri"]), track["experiment"], record, outputs["run"],
                                 retries=track.get("retries", 4), log_models=track.get("log_models", True))
    return f"MLflow run {run_id}" if run_id else f"run kept in {outputs['run']}"
