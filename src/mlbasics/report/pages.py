"""Reports: an HTML page per dataset comparing its variants, reports/index.html linking them, and
reports/summary.csv with one row per dataset x variant. Rendered with jinja2; image links are relative
so the reports/ folder can be zipped and mailed."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import numpy as np
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from mlbasics.core import plots
from mlbasics.core.files import read_csv, read_json, write_csv, write_json, write_text
from mlbasics.core.tasks import history_metric, read_task
from mlbasics.data import arrays as data
from mlbasics.data import preprocess
from mlbasics.evaluation import bootstrap, physics_plots, response, variables
from mlbasics.methods import activations
from mlbasics.report import lecture, playground, verdicts
from mlbasics.report.rows import KS_SUMMARY, best, leaderboard, ranked_by, table_metrics, variant_row


def _env() -> Environment:
    return Environment(
        loader=PackageLoader("mlbasics", "templates"),
        autoescape=select_autoescape(),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def _rel(path: str | Path, start: str | Path) -> str:
    return Path(os.path.relpath(path, Path(start).parent)).as_posix()


def dataset_page(
    dataset: str,
    variants: list[str],
    methods_of: dict[str, str],
    confidence: float,
    inputs: dict,
    outputs: dict,
    described: dict[str, str],
    rules: dict,
    played: dict[str, dict] | None = None,
    loader: str = "",
    units: dict[str, str] | None = None,
) -> None:
    """The per-dataset report: which variants overfit, underfit and helped, which method is best (with error
    bars), the leaderboard, the TMVA tables, the inputs, and each variant's figures; comparison.json for the index.
    `methods_of`: each variant's method; `confidence`: the bootstrap intervals' level; `described`: each
    variant's settings in one line; `rules`: params' overtraining (the verdicts' reasons quote them); `played`:
    each MLP variant's settings for the playground page (playground.py); `loader`: the dataset's (the two
    Gaussians get their Bayes boundary, lecture.py); `units`: the inputs' (params' units)."""
    histories = {v: read_csv(p) for v, p in zip(variants, inputs["history"], strict=True)}
    split = preprocess.load(inputs["data"], skip=("x_val", "x_test"))  # the page draws the training inputs only
    task = split.task
    rows = [
        variant_row(dataset, v, task, read_json(m), histories[v], methods_of[v], rules)
        for v, m in zip(variants, inputs["metrics"], strict=True)
    ]
    predictions = (
        {v: read_responses(p) for v, p in zip(variants, inputs["predictions"], strict=True)} if task == "binary" else {}
    )
    replicates = {v: bootstrap.read(p) for v, p in zip(variants, inputs["bootstrap"], strict=True)}
    verdicts.underfitting(rows, task, replicates, confidence, rules["underfit_margin"])
    answer = verdicts.overtraining(rows, task, replicates, confidence)
    compared = verdicts.methods(rows, task, methods_of, replicates, confidence, described)
    judged = {r["variant"]: {"verdict": r["verdict"], "reason": r["reason"]} for r in rows}
    write_json(
        outputs["verdicts"], {"best": best(rows, task)[1], "answer": answer, "methods": compared, "verdicts": judged}
    )
    runs = {"data": inputs["data"], "variants": variants, "history": inputs["history"], "scores": inputs["scores"]}
    playground.page(dataset, played or {}, runs, outputs["playground"])
    # the responses are the test sample's: a k-fold variant's every event (pooled), else the test split's
    tested = preprocess.pooled(inputs["data"], skip=("x_test",))[0] if preprocess.is_folded(inputs["data"]) else split
    curves = rejection_curves(tested, predictions) if task == "binary" else None
    plots.comparison(
        histories,
        f"{dataset}: all variants",
        outputs["comparison"],
        partial(physics_plots.rejection_panel, curves=curves) if curves else None,
    )
    whitened = preprocess.scaler_of(read_json(inputs["scaler"]))["kind"] == "pca_whiten"
    raw = data.load(inputs["raw"])
    ranking = input_variables(dataset, raw, split, outputs, whitened, units)
    process_yields = data.yields(raw) if raw.processes else []
    importance = importances(variants, inputs["importance"], whitened)
    for row in ranking:
        row["importance"] = {v: found[row["index"]] for v, found in importance.items()}
    page = outputs["page"]
    sections = (
        [
            {
                "variant": v,
                "curves": _rel(c, page),
                "confusion": _rel(m, page),
                "diagnostics": _rel(g, page),
                "response": _rel(r, page),
            }
            for v, c, m, g, r in zip(
                variants,
                inputs["curves"],
                inputs["confusion_png"],
                inputs["diagnostics"],
                inputs["response"],
                strict=True,
            )
        ]
        if inputs["curves"]
        else []
    )  # none: the grid leaves the variants' figures out (figures.per_variant)
    metric = history_metric(next(iter(histories.values())))
    scores = dict(zip(variants, inputs["scores"], strict=True))
    accuracy = {r["variant"]: r["accuracy"] for r in rows if "accuracy" in r}
    drawn = lecture.boundaries(inputs["data"], read_json(inputs["scaler"]), scores, accuracy, loader)
    html = (
        _env()
        .get_template("dataset.html.j2")
        .render(
            dataset=dataset,
            rows=leaderboard(rows, task),
            ranked=verdicts.LABELS.get(ranked_by(task, rows), ranked_by(task, rows)),
            metrics=table_metrics(task, rows[0]),
            metric=metric,
            sections=sections,
            boundaries=drawn,
            answer=answer,
            methods=compared,
            confidence=confidence,
            ranking=ranking[:20],
            yields=process_yields,
            n_inputs=len(ranking),
            importance={v: next(iter(f.values()))[2] for v, f in importance.items() if f},
            one_step=[v for v in variants if len(histories[v]) == 1],
            whitened=whitened,
            efficiencies=[e for e in ("0p01", "0p10", "0p30") if f"sig_eff_at_bkg_{e}" in rows[0]],
            ks=[k for k in rows[0] if k.startswith("ks_p_") and k not in KS_SUMMARY and "_fold_" not in k],
            fold_ks=[k[5:-7] for k in rows[0] if k.startswith("ks_p_") and k.endswith("_fold_0")],
            n_folds=rows[0].get("n_folds", 0),
            fold_min={r["variant"]: lowest_ks_per_fold(r) for r in rows},
            figures={k: _rel(outputs[k], page) for k in ("inputs", "inputs_scaled", "correlations")},
            comparison=_rel(outputs["comparison"], page),
            preview=_rel(inputs["preview"], page),
        )
    )
    write_text(page, html)


def lowest_ks_per_fold(row: dict) -> list[float]:
    """A k-fold variant's lowest KS probability over the classes, per fold (the page's columns for many classes)."""
    return [
        min(v for k, v in row.items() if k.startswith("ks_p_") and k.endswith(f"_fold_{i}"))
        for i in range(int(row.get("n_folds", 0)))
    ]


def importances(variants: list[str], paths: list[str], whitened: bool) -> dict[str, dict[int, tuple]]:
    """Each variant's input importance where its method has one: {variant: {input: (value, error, measure)}}.
    Left out for PCA-whitened data, whose inputs are components, not the variables ranked beside them."""
    found = {}
    for variant, path in zip(variants, paths, strict=True):
        rows = read_csv(path)
        if rows and not whitened:
            found[variant] = {
                int(r["input"]): (float(r["importance"]), float(r["error"]) if r["error"] else None, r["measure"])
                for r in rows
            }
    return found


def read_responses(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """A binary classifier's predictions.csv as two columns: each test event's true class name and response
    (read as columns, not as a dict per row: two million test events are tens of MB, not gigabytes)."""
    from pyarrow import csv, float64, string

    options = csv.ConvertOptions(
        include_columns=["actual", "response"],
        column_types={"actual": string(), "response": float64()},  # the floats as written: correctly rounded
        strings_can_be_null=False,
    )
    table = csv.read_csv(path, convert_options=options)
    return np.asarray(table["actual"].to_pylist(), dtype=object), table["response"].to_numpy()


def rejection_curves(split: preprocess.Split, predictions: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict:
    """Every variant's (signal efficiency, background efficiency) on the test sample, weighted."""
    positive = split.class_names[1]
    curves = {}
    for variant, (actual, score) in predictions.items():
        y = (actual == positive).astype(int)
        fpr, tpr, _ = response.roc(y, score, split.weights("test"))
        curves[variant] = (tpr, fpr)
    return curves


def input_variables(
    dataset: str, raw: data.Dataset, split: preprocess.Split, outputs: dict, whitened: bool, units: dict | None = None
) -> list[dict]:
    """The inputs as read, ranked by separation (TMVA's ranking), their distributions per class as read and
    as the network sees them, and their correlations: figures for the best 16 (8 with many classes, where
    each panel holds a line per class, and one correlation matrix of all events); the whole ranking."""
    many = len(split.class_names) > 3
    shown = 8 if many else 16
    x = raw.x.reshape(len(raw.x), -1)  # as stored: each figure and number takes its columns as float64
    y = raw.y if split.class_names else np.zeros(len(raw.y), int)
    labels = split.class_names or ["all events"]
    names = variables.names_of(raw.feature_names, x.shape[1], units)
    ranking = variables.ranking(x, raw.y, raw.w, len(split.class_names), names)
    best = [r["index"] for r in ranking[:shown]]
    shown_names, separations = [names[j] for j in best], [r["separation"] for r in ranking[:shown]]
    physics_plots.inputs(
        x, y, raw.w, labels, shown_names, separations, f"{dataset}: inputs as read", outputs["inputs"], columns=best
    )
    scaled, w = split.arrays["x_train"], split.weights("train")
    scaled_y = split.arrays["y_train"] if split.class_names else np.zeros(len(scaled), int)
    # PCA whitening turns inputs into components: the network's inputs are then the leading components
    columns, scaled_names = (
        (list(range(len(best))), [f"component {j}" for j in range(len(best))]) if whitened else (best, shown_names)
    )
    physics_plots.inputs(
        scaled,
        scaled_y,
        w,
        labels,
        scaled_names,
        variables.separations(scaled, scaled_y, w, len(split.class_names), columns),
        f"{dataset}: inputs as the network sees them (training split, scaled)",
        outputs["inputs_scaled"],
        columns=columns,
    )
    per_class = [] if many else split.class_names
    physics_plots.correlations(
        variables.correlations(x, raw.y, raw.w, per_class, best),
        shown_names,
        f"{dataset}: input correlations",
        outputs["correlations"],
    )
    return ranking


def summary(datasets: list[str], pairs: list[tuple[str, str]], methods: list[str], inputs: dict, outputs: dict) -> None:
    """reports/summary.csv (one row per dataset and variant run on it) and reports/index.html linking every
    dataset."""
    task = {d: read_task(path) for d, path in zip(datasets, inputs["data"], strict=True)}
    methods_of = dict(zip(pairs, methods, strict=True))
    # what each dataset's page concluded (with its error bars), not computed again
    concluded = {d: read_json(c) for d, c in zip(datasets, inputs["verdicts"], strict=True)}
    rows = [
        {
            **variant_row(d, v, task[d], read_json(m), read_csv(h), methods_of[(d, v)]),
            **concluded[d].get("verdicts", {}).get(v, {}),  # the page's verdict and its reason
        }
        for (d, v), m, h in zip(pairs, inputs["metrics"], inputs["history"], strict=True)
    ]
    header = list(dict.fromkeys(k for row in rows for k in row))  # classification and regression columns
    write_csv(outputs["summary"], header, [[row.get(k, "") for k in header] for row in rows])
    # DVC's metrics: each run's headline numbers, nested by dataset and variant, so that `dvc exp show` and
    # `dvc metrics diff` show a few columns per run (every number stays in the run's own metrics.json)
    headlines: dict = {}
    for row in rows:
        names = bootstrap.HEADLINES[task[row["dataset"]]]
        headlines.setdefault(row["dataset"], {})[row["variant"]] = {k: row[k] for k in names if k in row}
    write_json(outputs["headlines"], headlines)
    links = [
        {"dataset": d, "href": _rel(p, outputs["index"]), **concluded[d]}
        for d, p in zip(datasets, inputs["pages"], strict=True)
    ]
    # the lecture's table: every activation with its formula; leaky ReLU's slope large enough to see
    shown = activations.functions({"leaky_slope": activations.TABLE_SLOPE})
    lecture.activation_table(shown, outputs["activations"], activations.FORMULAS)
    html = (
        _env()
        .get_template("index.html.j2")
        .render(
            links=links,
            runs=runs_by_dataset(rows, task),
            summary=_rel(outputs["summary"], outputs["index"]),
            activations=_rel(outputs["activations"], outputs["index"]),
        )
    )
    write_text(outputs["index"], html)


def runs_by_dataset(rows: list[dict], task: dict[str, str]) -> list[dict]:
    """The index's run tables: per dataset its runs best first by the headline number (ranked_by), each with that
    number, its interval, and the verdict with its reason - the other numbers are in summary.csv and on the page."""
    found = []
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        ours = [r for r in rows if r["dataset"] == dataset]
        name = ranked_by(task[dataset], ours)
        found.append(
            {
                "dataset": dataset,
                "headline": name,
                "label": verdicts.LABELS.get(name, name),
                "rows": leaderboard(ours, task[dataset]),
            }
        )
    return found
