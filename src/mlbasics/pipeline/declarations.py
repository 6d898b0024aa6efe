"""The pipeline's stages, each declared once: its scope (one job, one per dataset, one per dataset x variant),
its help text, its input and output paths, the params keys it reads and
how its settings are built from them.

The CLI and the dvc.yaml generator read this table; the Snakemake rules spell the same paths out, and
tests/test_dag_equality.py checks through the real engines that both run the same graph.
Adding a stage: its module in mlbasics/stages/ (a `run(settings, inputs, outputs, threads)`), one `Stage(...)`
below, its case in cli.jobs.runner, and a rule file. Light imports only: the Snakefile reads it.

Over 350 lines: the path templates and the table of stages are read together (each stage names the templates
it reads and writes), so they stay in one file.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlbasics.data import sources
from mlbasics.methods import registry
from mlbasics.params import config

# Output path templates; {dataset} and {variant} are Snakemake wildcards and DVC foreach items.
RECEIPT = "data/raw/{dataset}.download.json"
RAW = "data/raw/{dataset}.npz"
FILES = "data/raw/{dataset}"  # a folder: the files a generated dataset is written as (hep_toy's ntuples), or empty
PREVIEW_PNG = "reports/{dataset}/preview.png"
PROCESSED = "data/processed/{dataset}/data.npz"
SCALER = "data/processed/{dataset}/scaler.json"
MODEL = "models/{dataset}/{variant}/model"  # a folder: the method's own file (model.keras, model.skops)
HISTORY = "models/{dataset}/{variant}/history.csv"
RUN_STATS = "models/{dataset}/{variant}/run_stats.json"
SCORES = "models/{dataset}/{variant}/scores.npz"  # the trained model's outputs on the training and test samples
BUNDLE = "models/{dataset}/{variant}/bundle.json"  # what turns a raw event into the model's input (data/bundle.py)
# k-fold training (split.folds): fold i's training writes the same files under fold-<i>/; the folds stage joins them
# into the variant's files above (its model folder holds every fold's model), so what follows reads them unchanged
FOLD = "models/{dataset}/{variant}/fold-{fold}/"
FOLD_OUTPUTS = {"model": MODEL, "history": HISTORY, "stats": RUN_STATS, "scores": SCORES, "bundle": BUNDLE}
METRICS = "reports/{dataset}/{variant}/metrics.json"
CONFUSION = "reports/{dataset}/{variant}/confusion.csv"
PREDICTIONS = "reports/{dataset}/{variant}/predictions.csv"
CURVES_PNG = "reports/{dataset}/{variant}/curves.png"
CONFUSION_PNG = "reports/{dataset}/{variant}/confusion.png"
DIAGNOSTICS_PNG = "reports/{dataset}/{variant}/diagnostics.png"
RESPONSE_PNG = "reports/{dataset}/{variant}/response.png"
IMPORTANCE = "reports/{dataset}/{variant}/importance.csv"
PROVENANCE = "reports/{dataset}/{variant}/provenance.json"
RUN_RECORD = "reports/{dataset}/{variant}/mlflow_run.json"
BOOTSTRAP = "reports/{dataset}/{variant}/bootstrap.csv"  # the headline numbers' replicates: the report's comparisons
DATASET_PAGE = "reports/{dataset}/index.html"
COMPARISON_PNG = "reports/{dataset}/comparison.png"
INPUTS_PNG = "reports/{dataset}/inputs.png"
INPUTS_SCALED_PNG = "reports/{dataset}/inputs_scaled.png"
CORRELATIONS_PNG = "reports/{dataset}/correlations.png"
VERDICTS = "reports/{dataset}/comparison.json"
PLAYGROUND = "reports/{dataset}/playground.html"  # each run's boundary and losses at the pick of a setting
INDEX = "reports/index.html"
SUMMARY = "reports/summary.csv"
HEADLINES = "reports/metrics.json"  # every run's headline numbers: what DVC compares (dvc metrics, dvc exp show)
ACTIVATIONS_PNG = "reports/activations.png"
CHECKS = "reports/checks.json"
TRACKED = "reports/mlflow_runs.json"
# A variant's figures: its evaluate job draws them, its dataset's page shows them; none where the params say
# `figures: {per_variant: false}` (a sweep of hundreds of variants)
VARIANT_FIGURES = {
    "curves": CURVES_PNG,
    "confusion_png": CONFUSION_PNG,
    "diagnostics": DIAGNOSTICS_PNG,
    "response": RESPONSE_PNG,
}
PACKAGE = Path(__file__).resolve().parent.parent  # the mlbasics package, whose modules are the stages' code


def package_path() -> str:
    """The package's source folder as the engines name it: the project's own `src/mlbasics` in a source checkout
    (a copy of the project too), else the installed package's folder, absolute."""
    if (Path.cwd() / "src" / "mlbasics" / "__init__.py").is_file():
        return "src/mlbasics"
    return PACKAGE.as_posix()


# The catalog of pinned files: what the download and dataset stages of a built-in source depend on.
CATALOG = f"{package_path()}/data/sources.py"


@dataclass(frozen=True)
class Job:
    """What one job's input paths depend on: the grid's (dataset, variant) pairs (aggregates read all of them),
    its dataset and variant (templates with wildcards when left out), its dataset's source file, the model a warm
    start begins from."""

    pairs: list[tuple[str, str]]
    datasets: list[str]
    dataset: str = "{dataset}"
    variant: str = "{variant}"
    source: str = CATALOG
    init: str | None = None
    figures: bool = True  # the variants' figures (VARIANT_FIGURES) exist
    fold: str = "{fold}"
    folds: int = 1  # the dataset's folds (split.folds)

    def one(self, template: str) -> str:
        return template.format(dataset=self.dataset, variant=self.variant, fold=self.fold)

    def each_fold(self, template: str) -> list[str]:
        """The variant's path of each fold: fold_path(template) for fold 0, 1, ..."""
        return [
            fold_path(template).format(dataset=self.dataset, variant=self.variant, fold=i) for i in range(self.folds)
        ]

    def each_variant(self, template: str) -> list[str]:
        """One path per variant that runs on this job's dataset."""
        return [template.format(dataset=d, variant=v) for d, v in self.pairs if d == self.dataset]

    def figures_of_each_variant(self) -> dict[str, list[str]]:
        """Each variant's figures, by name: empty lists where the grid draws none."""
        return {k: self.each_variant(t) if self.figures else [] for k, t in VARIANT_FIGURES.items()}

    def each_pair(self, template: str) -> list[str]:
        return [template.format(dataset=d, variant=v) for d, v in self.pairs]


def fold_path(template: str) -> str:
    """A variant's file as fold {fold}'s training writes it: models/<d>/<v>/fold-<i>/<name>."""
    return template.replace("models/{dataset}/{variant}/", FOLD)


@dataclass(frozen=True)
class Stage:
    name: str
    scope: str  # "once", "dataset" (a job per dataset), "run" (per dataset x variant), "fold" (... x fold)
    help: str
    outputs: dict[str, str]
    inputs: Callable[[Job], dict[str, str | list[str]]]
    params: Callable[[str, str], list[str]]  # (dataset, the variant's definition) -> the params keys it reads
    settings: Callable[[dict, str, str], dict]  # (params holding just those keys, dataset, variant) -> settings
    local: bool = False  # runs where Snakemake runs (the login node), never as a cluster job
    pairs: str = "all"  # the grid's pairs it runs on: "all", "single" (a dataset without folds) or "folded"
    module: str = ""  # its module in mlbasics.stages (default: its name)


def _run_settings(view: dict, dataset: str, variant: str) -> dict:
    return {
        "dataset": dataset,
        "variant": variant,
        "seed": view["seed"],
        "model": config.model_spec(view, dataset, variant),
    }


def _train_keys(dataset: str, variant: str) -> list[str]:
    """What a training reads (a whole variant's, or one fold's): the seed, the dataset's source and base model, the
    variant."""
    return [
        "seed",
        f"datasets.{dataset}.loader",
        f"datasets.{dataset}.options",
        f"datasets.{dataset}.model",
        f"variants.{variant}",
    ]


def _train_settings(view: dict, dataset: str, variant: str) -> dict:
    ds = view["datasets"][dataset]
    return {
        **_run_settings(view, dataset, variant),
        "loader": ds["loader"],
        "selection": sources.selection(ds["loader"], ds["options"]),
    }


def _source_settings(view: dict, dataset: str, _: str) -> dict:
    ds = view["datasets"][dataset]
    # the pinned files: a changed hash in the catalog reruns the stage
    return {
        "dataset": dataset,
        "loader": ds["loader"],
        "options": ds["options"],
        "files": [f.to_dict() for f in sources.remote_files(ds["loader"], ds["options"])],
    }


def _dataset_settings(view: dict, dataset: str, variant: str) -> dict:
    split = config.split_of(view, dataset)
    fold_by = split.get("fold_by") if split.get("folds", 1) > 1 else None  # read beside the inputs: the fold
    return {**_source_settings(view, dataset, variant), **({"fold_by": fold_by} if fold_by else {})}


def _folds_settings(view: dict, dataset: str, variant: str) -> dict:
    split = config.split_of(view, dataset)
    return {"dataset": dataset, "variant": variant, "folds": split.get("folds", 1), "fold_by": split.get("fold_by")}


PLAYGROUND_KEYS = ("activation", "learning_rate", "hidden_layers", "optimizer", "dropout", "l2")


def _report_settings(view: dict, dataset: str, _: str) -> dict:
    variants = config.dataset_variants(view, dataset)
    return {
        "dataset": dataset,
        "variants": variants,
        "bootstrap": view["bootstrap"],
        "figures": view["figures"]["per_variant"],
        "methods": {v: config.model_spec(view, dataset, v)["method"] for v in variants},
        "described": {v: registry.describe(config.model_spec(view, dataset, v)) for v in variants},
        "loader": view["datasets"][dataset]["loader"],
        "units": view["datasets"][dataset].get("units", {}),
        "playground": {  # what each MLP variant's controls show on the playground page
            v: {k: spec[k] for k in PLAYGROUND_KEYS if k in spec}
            for v in variants
            if (spec := config.model_spec(view, dataset, v))["method"] == registry.MLP
        },
        "overtraining": view["overtraining"],
    }


def _grid_settings(view: dict, *_) -> dict:
    return {"datasets": view["run"]["datasets"], "pairs": [list(pair) for pair in config.grid(view)]}


def _summary_settings(view: dict, *_) -> dict:
    pairs = config.grid(view)
    return {**_grid_settings(view), "methods": [config.model_spec(view, d, v)["method"] for d, v in pairs]}


STAGES: dict[str, Stage] = {
    stage.name: stage
    for stage in (
        Stage(
            "download",
            "dataset",
            "fetch and verify one dataset's files into the cache, write data/raw/<dataset>.download.json",
            {"receipt": RECEIPT},
            lambda job: {"source": job.source},
            lambda d, v: ["download.cache_dir", f"datasets.{d}.loader", f"datasets.{d}.options"],
            lambda view, d, v: {**_source_settings(view, d, v), "cache_dir": view["download"]["cache_dir"]},
            local=True,
        ),  # the only stage that uses the network
        Stage(
            "dataset",
            "dataset",
            "build data/raw/<dataset>.npz and its preview figure from the dataset's source",
            {"raw": RAW, "preview": PREVIEW_PNG, "files": FILES},
            lambda job: {"receipt": job.one(RECEIPT), "source": job.source},
            lambda d, v: [f"datasets.{d}.loader", f"datasets.{d}.options", "split", "{split}"],
            _dataset_settings,
        ),
        Stage(
            "preprocess",
            "dataset",
            "split, scale and save data/processed/<dataset>/",
            {"data": PROCESSED, "scaler": SCALER},
            lambda job: {"raw": job.one(RAW)},
            lambda d, v: ["seed", "split", "{split}", f"datasets.{d}.preprocess"],
            lambda view, d, v: {
                "dataset": d,
                "seed": view["seed"],
                "split": config.split_of(view, d),
                **view["datasets"][d]["preprocess"],
            },
        ),
        Stage(
            "train",
            "run",
            "train one variant on one dataset",
            {"model": MODEL, "history": HISTORY, "stats": RUN_STATS, "scores": SCORES, "bundle": BUNDLE},
            lambda job: {
                "data": job.one(PROCESSED),
                "scaler": job.one(SCALER),
                **({"init": job.init} if job.init else {}),
            },
            _train_keys,
            _train_settings,
            pairs="single",
        ),
        Stage(
            "train_fold",
            "fold",
            "train one fold of one variant (split.folds): on the other folds, scored on this one",
            {k: fold_path(v) for k, v in FOLD_OUTPUTS.items()},
            lambda job: {"data": job.one(PROCESSED), "scaler": job.one(SCALER)},
            _train_keys,
            _train_settings,
            pairs="folded",
            module="train",
        ),
        Stage(
            "folds",
            "run",
            "join a variant's fold trainings: its models, each event's out-of-fold score, the mean history",
            dict(FOLD_OUTPUTS),
            lambda job: {"data": job.one(PROCESSED), **{k: job.each_fold(v) for k, v in FOLD_OUTPUTS.items()}},
            lambda d, v: ["split", "{split}"],
            _folds_settings,
            pairs="folded",
        ),
        Stage(
            "evaluate",
            "run",
            "test metrics, confusion matrix, figures and the MLflow run of one variant",
            {
                "metrics": METRICS,
                "confusion": CONFUSION,
                "predictions": PREDICTIONS,
                **VARIANT_FIGURES,
                "importance": IMPORTANCE,
                "provenance": PROVENANCE,
                "run": RUN_RECORD,
                "bootstrap": BOOTSTRAP,
            },
            lambda job: {
                "data": job.one(PROCESSED),
                "model": job.one(MODEL),
                "history": job.one(HISTORY),
                "stats": job.one(RUN_STATS),
                "scores": job.one(SCORES),
                "bundle": job.one(BUNDLE),
            },
            lambda d, v: [
                "seed",
                "overtraining",
                "bootstrap",
                "expected_yields",
                "figures.per_variant",
                f"datasets.{d}.model",
                f"variants.{v}",
            ],
            lambda view, d, v: {
                **_run_settings(view, d, v),
                "overtraining": view["overtraining"],
                "bootstrap": view["bootstrap"],
                "expected": view["expected_yields"].get(d),
                "figures": view["figures"]["per_variant"],
            },
        ),
        Stage(
            "report",
            "dataset",
            "the HTML page comparing a dataset's variants",
            {
                "page": DATASET_PAGE,
                "comparison": COMPARISON_PNG,
                "inputs": INPUTS_PNG,
                "inputs_scaled": INPUTS_SCALED_PNG,
                "correlations": CORRELATIONS_PNG,
                "verdicts": VERDICTS,
                "playground": PLAYGROUND,
            },
            lambda job: {
                "raw": job.one(RAW),
                "data": job.one(PROCESSED),
                "scaler": job.one(SCALER),
                "preview": job.one(PREVIEW_PNG),
                "metrics": job.each_variant(METRICS),
                "predictions": job.each_variant(PREDICTIONS),
                "history": job.each_variant(HISTORY),
                "scores": job.each_variant(SCORES),
                **job.figures_of_each_variant(),
                "importance": job.each_variant(IMPORTANCE),
                "bootstrap": job.each_variant(BOOTSTRAP),
            },
            # which variants apply to the dataset depends on its loader and base model (method_rules)
            lambda d, v: [
                "bootstrap",
                "figures.per_variant",
                "overtraining",
                "run.variants",
                "variants",
                f"datasets.{d}",  # its loader, model and units (a key DVC finds whether or not units is written)
            ],
            _report_settings,
            local=True,
        ),
        Stage(
            "summary",
            "once",
            "reports/index.html and reports/summary.csv",
            {"index": INDEX, "summary": SUMMARY, "headlines": HEADLINES, "activations": ACTIVATIONS_PNG},
            lambda job: {
                "data": [PROCESSED.format(dataset=d) for d in job.datasets],
                "metrics": job.each_pair(METRICS),
                "history": job.each_pair(HISTORY),
                "pages": [DATASET_PAGE.format(dataset=d) for d in job.datasets],
                "verdicts": [VERDICTS.format(dataset=d) for d in job.datasets],
            },
            lambda d, v: ["run", "variants", "datasets"],
            _summary_settings,
            local=True,
        ),
        Stage(
            "check",
            "once",
            "hold every run's metrics against the quality gates in params; fail with one line per violation",
            {"checks": CHECKS},
            lambda job: {"metrics": job.each_pair(METRICS)},
            lambda d, v: ["run", "variants", "datasets", "gates"],
            lambda view, d, v: {**_grid_settings(view), "gates": view["gates"]},
            local=True,
        ),
        Stage(
            "track",
            "once",
            "log every run record of the grid to MLflow (each exactly once) under its pipeline's parent run",
            {"runs": TRACKED},
            # the index page and the summary go to the pipeline's parent run
            lambda job: {"runs": job.each_pair(RUN_RECORD), "index": INDEX, "summary": SUMMARY},
            lambda d, v: ["run", "variants", "datasets", "tracking"],
            lambda view, d, v: {**_grid_settings(view), "tracking": view["tracking"]},
            local=True,
        ),
    )
}
PER_VARIANT = tuple(name for name, stage in STAGES.items() if stage.scope == "run")
PER_FOLD = tuple(name for name, stage in STAGES.items() if stage.scope == "fold")
PER_DATASET = tuple(name for name, stage in STAGES.items() if stage.scope == "dataset")


def stage_pairs(params: dict, stage: str) -> list[tuple[str, str]]:
    """The grid's (dataset, variant) pairs a per-variant or per-fold stage runs on (Stage.pairs)."""
    which = STAGES[stage].pairs
    return [
        (d, v) for d, v in config.grid(params) if which == "all" or (config.folds(params, d) > 1) == (which == "folded")
    ]


def param_keys(
    stage: str,
    dataset: str | None = None,
    variant: str | None = None,
    source: str | None = None,
    split: str | None = None,
) -> list[str]:
    """The dotted params keys a stage reads (what dvc.yaml lists under `params:`); `source` is the variant's
    `config.variant_source` (default: the variant itself), `split` the dataset's `config.split_key` (its own split,
    where it has one, else `split` again: DVC reads a key listed twice once)."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r} (stages: {', '.join(STAGES)})")
    return [split or "split" if key == "{split}" else key for key in STAGES[stage].params(dataset, source or variant)]


def _get(params: dict, dotted: str) -> Any:
    value = params
    for part in dotted.split("."):
        value = value[part]
    return value


def stage_settings(
    params: dict, stage: str, dataset: str | None = None, variant: str | None = None, fold: int | None = None
) -> dict:
    """Everything a stage needs from params, read only through the keys `param_keys` declares: so the params
    a DVC stage lists are exactly the params it reads, and Snakemake reruns a job exactly when they change. A
    per-fold stage's settings carry its fold."""
    source = config.variant_source(params, variant) if variant else None
    view: dict = {}
    split = config.split_key(params, dataset) if dataset else None
    for dotted in param_keys(stage, dataset, variant, source, split):  # a params tree of just the declared keys
        *parents, leaf = dotted.split(".")
        node = view
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = copy.deepcopy(_get(params, dotted))
    settings = STAGES[stage].settings(view, dataset, variant)
    return {**settings, "fold": None if fold is None else int(fold)} if stage in PER_FOLD else settings


def job_settings(
    params: dict, stage: str, dataset: str | None = None, variant: str | None = None, fold: int | None = None
) -> dict:
    """A job's stage settings plus what it needs that must not rerun it when changed: the download stage's
    fetch policy, the evaluate stage's tracking settings (Snakemake passes both from outside the rule's params)."""
    settings = stage_settings(params, stage, dataset, variant, fold)
    if stage == "download":
        settings["policy"] = config.fetch_policy(params)
    if stage == "evaluate":
        settings["tracking"] = params["tracking"]
    return settings
