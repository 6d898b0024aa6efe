"""Reports: an HTML page per dataset comparing its variants, reports/index.html linking them, and
reports/summary.csv with one row per dataset x variant. Rendered with jinja2; image links are relative
so the reports/ folder can be zipped and mailed."""

from __future__ import annotations

import os
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from . import activations, plots
from .files import read_csv, read_json, write_csv, write_text
from .tasks import history_metric, read_task

TABLE_METRICS = ["accuracy", "precision_macro", "recall_macro", "f1_macro"]
REGRESSION_METRICS = ["mse", "mae", "r2"]


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
    """One line of the comparison: test metrics plus the last epoch's train and validation numbers."""
    last, name = history[-1], history_metric(history)
    return {"dataset": dataset, "variant": variant, **{k: metrics[k] for k in table_metrics(task, metrics)},
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
    task = read_task(inputs["data"])
    rows = [variant_row(dataset, v, task, read_json(m), histories[v])
            for v, m in zip(variants, inputs["metrics"], strict=True)]
    plots.comparison(histories, f"{dataset}: all variants", outputs["comparison"])
    page = outputs["page"]
    sections = [{"variant": v, "curves": _rel(c, page), "confusion": _rel(m, page), "diagnostics": _rel(g, page)}
                for v, c, m, g in zip(variants, inputs["curves"], inputs["confusion_png"], inputs["diagnostics"],
                                      strict=True)]
    metric = history_metric(next(iter(histories.values())))
    html = _env().get_template("dataset.html.j2").render(
        dataset=dataset, rows=leaderboard(rows, task), metrics=table_metrics(task, rows[0]), metric=metric,
        sections=sections, answer=answer(rows, task),
        comparison=_rel(outputs["comparison"], page), preview=_rel(inputs["preview"], page))
    write_text(page, html)


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
