"""Reports: an HTML page per dataset comparing its variants, reports/index.html linking them, and
reports/summary.csv with one row per dataset x variant. Rendered with jinja2; image links are relative
so the reports/ folder can be zipped and mailed."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import numpy as np
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from . import activations, data, physics_plots, plots, preprocess, response, variables
from .files import read_csv, read_json, write_csv, write_text
from .tasks import history_metric, read_task

TABLE_METRICS = ["accuracy", "precision_macro", "recall_macro", "f1_macro"]
REGRESSION_METRICS = ["mse", "mae", "r2"]
PHYSICS_METRICS = ("ks_p_", "sig_eff_at_bkg_", "train_sig_eff_at", "best_cut")  # the TMVA tables' columns


def _env() -> Environment:
    return Environment(loader=PackageLoader("mlbasics", "templates"), autoescape=select_autoescape(),
                       undefined=StrictUndefined, keep_trailing_newline=True)


def _rel(path: str | Path, start: str | Path) -> str:
    return Path(os.path.relpath(path, Path(start).parent)).as_posix()


def table_metrics(task: str, metrics: dict) -> list[str]:
    if task == "regression":
        return REGRESSION_METRICS
    return TABLE_METRICS + (["roc_auc"] if "roc_auc" in metrics else [])


def variant_row(dataset: str, variant: str, task: str, metrics: dict, history: list[dict]) -> dict:
    """One line of the comparison: test metrics plus the last epoch's train and validation numbers, the KS
    p-values and (two classes) TMVA's efficiency table."""
    last, name = history[-1], history_metric(history)
    physics = {k: v for k, v in metrics.items() if k.startswith(PHYSICS_METRICS)}
    return {"dataset": dataset, "variant": variant, **{k: metrics[k] for k in table_metrics(task, metrics)},
            **physics,
            "verdict": metrics.get("verdict", ""), "best_epoch": metrics.get("best_epoch", ""),
            "overfitting_since": metrics.get("overfitting_since", ""),
            "n_test": metrics["n_test"], "epochs": int(last["epoch"]),
            "train_loss": float(last["loss"]), "val_loss": float(last["val_loss"]),
            f"train_{name}": float(last[name]), f"val_{name}": float(last[f"val_{name}"])}


def best(rows: list[dict], task: str) -> tuple[dict, str]:
    """The best variant of one dataset: highest test accuracy, or lowest test MSE; and how to say it."""
    if task == "regression":
        top = min(rows, key=lambda r: r["mse"])
        return top, f"lowest test MSE {top['mse']:.4g} ({top['variant']})"
    top = max(rows, key=lambda r: r["accuracy"])
    return top, f"best test accuracy {top['accuracy']:.4f} ({top['variant']})"


def leaderboard(rows: list[dict], task: str) -> list[dict]:
    """The variants best first: by test accuracy, or by test MSE for regression."""
    if task == "regression":
        return sorted(rows, key=lambda r: r["mse"])
    return sorted(rows, key=lambda r: -r["accuracy"])


def answer(rows: list[dict], task: str) -> dict:
    """The lecture's question in words: which variants overfit (since when), and which changes to the baseline
    helped - a smaller final train-validation loss gap at a test score no worse than the baseline's."""
    overfit = [f"{r['variant']} (since epoch {r['overfitting_since']})" if r["overfitting_since"] else r["variant"]
               for r in rows if r["verdict"] == "overfitting"]
    underfit = [r["variant"] for r in rows if r["verdict"] == "underfitting"]
    base = next((r for r in rows if r["variant"] == "baseline"), None)
    helped, compared = [], []
    if base is not None:
        score = "mse" if task == "regression" else "accuracy"
        for r in rows:
            if r is base:
                continue
            gap, base_gap = r["val_loss"] - r["train_loss"], base["val_loss"] - base["train_loss"]
            better = r[score] <= base[score] if score == "mse" else r[score] >= base[score]
            compared.append({"variant": r["variant"], "score": score, "delta": r[score] - base[score],
                             "gap": gap, "base_gap": base_gap, "verdict": r["verdict"]})
            if gap < base_gap and better:
                helped.append(r["variant"])
    return {"overfit": overfit, "underfit": underfit, "helped": helped, "compared": compared,
            "has_baseline": base is not None}


def dataset_page(dataset: str, variants: list[str], inputs: dict, outputs: dict) -> None:
    """The per-dataset report: comparison figure, metrics table, each variant's curves and confusion matrix."""
    histories = {v: read_csv(p) for v, p in zip(variants, inputs["history"], strict=True)}
    split = preprocess.load(inputs["data"])
    task = split.task
    rows = [variant_row(dataset, v, task, read_json(m), histories[v])
            for v, m in zip(variants, inputs["metrics"], strict=True)]
    curves = rejection_curves(split, variants, inputs["predictions"]) if task == "binary" else None
    plots.comparison(histories, f"{dataset}: all variants", outputs["comparison"],
                     partial(physics_plots.rejection_panel, curves=curves) if curves else None)
    whitened = read_json(inputs["scaler"])["kind"] == "pca_whiten"
    ranking = input_variables(dataset, data.load(inputs["raw"]), split, outputs, whitened)
    page = outputs["page"]
    sections = [{"variant": v, "curves": _rel(c, page), "confusion": _rel(m, page), "diagnostics": _rel(g, page),
                 "response": _rel(r, page)}
                for v, c, m, g, r in zip(variants, inputs["curves"], inputs["confusion_png"], inputs["diagnostics"],
                                         inputs["response"], strict=True)]
    metric = history_metric(next(iter(histories.values())))
    html = _env().get_template("dataset.html.j2").render(
        dataset=dataset, rows=leaderboard(rows, task), metrics=table_metrics(task, rows[0]), metric=metric,
        sections=sections, answer=answer(rows, task), ranking=ranking[:20], n_inputs=len(ranking),
        efficiencies=[e for e in ("0p01", "0p10", "0p30") if f"sig_eff_at_bkg_{e}" in rows[0]],
        ks=[k for k in rows[0] if k.startswith("ks_p_") and k != "ks_p_min"],
        figures={k: _rel(outputs[k], page) for k in ("inputs", "inputs_scaled", "correlations")},
        comparison=_rel(outputs["comparison"], page), preview=_rel(inputs["preview"], page))
    write_text(page, html)


def rejection_curves(split: preprocess.Split, variants: list[str], predictions: list[str]) -> dict:
    """Every variant's (signal efficiency, background efficiency) on the test sample, weighted."""
    positive = split.class_names[1]
    curves = {}
    for variant, path in zip(variants, predictions, strict=True):
        rows = read_csv(path)
        y = np.array([r["actual"] == positive for r in rows], dtype=int)
        score = np.array([float(r["response"]) for r in rows])
        fpr, tpr, _ = response.roc(y, score, split.weights("test"))
        curves[variant] = (tpr, fpr)
    return curves


def input_variables(dataset: str, raw: data.Dataset, split: preprocess.Split, outputs: dict, whitened: bool
                    ) -> list[dict]:
    """The inputs as read, ranked by separation (TMVA's ranking), their distributions per class as read and
    as the network sees them, and their correlations: figures for the best 16 (8 with many classes, where
    each panel holds a line per class, and one correlation matrix of all events); the whole ranking."""
    many = len(split.class_names) > 3
    shown = 8 if many else 16
    x = raw.x.reshape(len(raw.x), -1).astype(np.float64)
    y = raw.y if split.class_names else np.zeros(len(raw.y), int)
    labels = split.class_names or ["all events"]
    names = variables.names_of(raw.feature_names, x.shape[1])
    ranking = variables.ranking(x, raw.y, raw.w, len(split.class_names), names)
    best = [r["index"] for r in ranking[:shown]]
    shown_names, separations = [names[j] for j in best], [r["separation"] for r in ranking[:shown]]
    physics_plots.inputs(x[:, best], y, raw.w, labels, shown_names, separations, f"{dataset}: inputs as read",
                         outputs["inputs"])
    scaled, w = split.arrays["x_train"], split.weights("train")
    scaled_y = split.arrays["y_train"] if split.class_names else np.zeros(len(scaled), int)
    # PCA whitening turns inputs into components: the network's inputs are then the leading components
    columns, scaled_names = (list(range(len(best))), [f"component {j}" for j in range(len(best))]) if whitened \
        else (best, shown_names)
    physics_plots.inputs(scaled[:, columns], scaled_y, w, labels, scaled_names,
                         variables.separations(scaled[:, columns], scaled_y, w, len(split.class_names)),
                         f"{dataset}: inputs as the network sees them (training split, scaled)",
                         outputs["inputs_scaled"])
    per_class = [] if many else split.class_names
    physics_plots.correlations(variables.correlations(x[:, best], raw.y, raw.w, per_class), shown_names,
                               f"{dataset}: input correlations", outputs["correlations"])
    return ranking


def summary(datasets: list[str], variants: list[str], inputs: dict, outputs: dict) -> None:
    """reports/summary.csv (one row per dataset x variant) and reports/index.html linking every dataset."""
    pairs = [(d, v) for d in datasets for v in variants]
    task = {d: read_task(path) for d, path in zip(datasets, inputs["data"], strict=True)}
    rows = [variant_row(d, v, task[d], read_json(m), read_csv(h))
            for (d, v), m, h in zip(pairs, inputs["metrics"], inputs["history"], strict=True)]
    header = list(dict.fromkeys(k for row in rows for k in row))  # classification and regression columns
    write_csv(outputs["summary"], header, [[row.get(k, "") for k in header] for row in rows])
    links = [{"dataset": d, "href": _rel(p, outputs["index"]),
              "best": best([r for r in rows if r["dataset"] == d], task[d])[1],
              "answer": answer([r for r in rows if r["dataset"] == d], task[d])}
             for d, p in zip(datasets, inputs["pages"], strict=True)]
    plots.activation_table(activations.functions(), outputs["activations"])  # the lecture's table
    columns = [k for k in header if k not in ("dataset", "variant", "n_test", "epochs", "train_loss", "val_loss",
                                              "verdict", "best_epoch", "overfitting_since")]
    html = _env().get_template("index.html.j2").render(
        links=links, rows=rows, columns=columns, summary=_rel(outputs["summary"], outputs["index"]),
        activations=_rel(outputs["activations"], outputs["index"]))
    write_text(outputs["index"], html)


def run(settings: dict, inputs: dict, outputs: dict, threads: int = 0) -> None:
    dataset_page(settings["dataset"], settings["variants"], inputs, outputs)


def run_summary(settings: dict, inputs: dict, outputs: dict, threads: int = 0) -> None:
    summary(settings["datasets"], settings["variants"], inputs, outputs)
