"""Reports: an HTML page per dataset comparing its variants, reports/index.html linking them, and
reports/summary.csv with one row per dataset x variant. Rendered with jinja2; image links are relative
so the reports/ folder can be zipped and mailed."""

from __future__ import annotations

import os
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from . import activations, plots
from .io import read_csv, read_json, write_csv, write_text

TABLE_METRICS = ["accuracy", "precision_macro", "recall_macro", "f1_macro"]


def _env() -> Environment:
    return Environment(loader=PackageLoader("mlbasics", "templates"), autoescape=select_autoescape(),
                       undefined=StrictUndefined, keep_trailing_newline=True)


def _rel(path: str | Path, start: str | Path) -> str:
    return Path(os.path.relpath(path, Path(start).parent)).as_posix()


def variant_row(dataset: str, variant: str, metrics: dict, history: list[dict]) -> dict:
    """One line of the comparison: test metrics plus the last epoch's train and validation numbers."""
    last = history[-1]
    return {"dataset": dataset, "variant": variant, **{k: metrics[k] for k in TABLE_METRICS},
            "n_test": metrics["n_test"], "epochs": int(last["epoch"]),
            "train_loss": float(last["loss"]), "val_loss": float(last["val_loss"]),
            "train_accuracy": float(last["accuracy"]), "val_accuracy": float(last["val_accuracy"])}


def dataset_page(dataset: str, variants: list[str], inputs: dict, outputs: dict) -> None:
    """The per-dataset report: comparison figure, metrics table, each variant's curves and confusion matrix."""
    histories = {v: read_csv(p) for v, p in zip(variants, inputs["history"], strict=True)}
    rows = [variant_row(dataset, v, read_json(m), histories[v])
            for v, m in zip(variants, inputs["metrics"], strict=True)]
    plots.comparison(histories, f"{dataset}: all variants", outputs["comparison"])
    page = outputs["page"]
    sections = [{"variant": v, "curves": _rel(c, page), "confusion": _rel(m, page)}
                for v, c, m in zip(variants, inputs["curves"], inputs["confusion_png"], strict=True)]
    html = _env().get_template("dataset.html.j2").render(
        dataset=dataset, rows=rows, metrics=TABLE_METRICS, sections=sections,
        comparison=_rel(outputs["comparison"], page), preview=_rel(inputs["preview"], page))
    write_text(page, html)


def summary(datasets: list[str], variants: list[str], inputs: dict, outputs: dict) -> None:
    """reports/summary.csv (one row per dataset x variant) and reports/index.html linking every dataset."""
    pairs = [(d, v) for d in datasets for v in variants]
    rows = [variant_row(d, v, read_json(m), read_csv(h))
            for (d, v), m, h in zip(pairs, inputs["metrics"], inputs["history"], strict=True)]
    header = list(rows[0])
    write_csv(outputs["summary"], header, [[row[k] for k in header] for row in rows])
    links = [{"dataset": d, "href": _rel(p, outputs["index"]),
              "best": max((r for r in rows if r["dataset"] == d), key=lambda r: r["accuracy"])}
             for d, p in zip(datasets, inputs["pages"], strict=True)]
    activations.figure(outputs["activations"])
    html = _env().get_template("index.html.j2").render(
        links=links, rows=rows, metrics=TABLE_METRICS, summary=_rel(outputs["summary"], outputs["index"]),
        activations=_rel(outputs["activations"], outputs["index"]))
    write_text(outputs["index"], html)


def run(settings: dict, inputs: dict, outputs: dict, threads: int = 0) -> None:
    dataset_page(settings["dataset"], settings["variants"], inputs, outputs)


def run_summary(settings: dict, inputs: dict, outputs: dict, threads: int = 0) -> None:
    summary(settings["datasets"], settings["variants"], inputs, outputs)
