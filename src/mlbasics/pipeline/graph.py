"""The stage graph as the engines need it: each job's inputs (its code included, computed from the imports),
outputs and command, from the declarations in stages.py.

`dvc_yaml` generates dvc.yaml from the declarations; the Snakemake rules (workflow/rules/*.smk) spell the same
paths out and take their code dependencies from `code`, and tests/test_dag_equality.py checks through the real
engines that both run the same graph. Light imports only.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

from mlbasics.data import sources
from mlbasics.params import config
from mlbasics.pipeline import applying
from mlbasics.pipeline.declarations import (  # the path templates and the declarations
    CATALOG,
    CHECKS,
    CURVES_PNG,
    DIAGNOSTICS_PNG,
    HEADLINES,
    HISTORY,
    INDEX,
    MODEL,
    PACKAGE,
    PER_DATASET,
    PER_FOLD,
    PER_VARIANT,
    PREDICTIONS,
    PROCESSED,
    RESPONSE_PNG,
    STAGES,
    SUMMARY,
    TRACKED,
    VARIANT_FIGURES,
    Job,
    package_path,
    param_keys,
    stage_pairs,
)


def _file(module: str) -> Path | None:
    """The source file of a package module given relative to the package ("data.sources"), or None."""
    path = PACKAGE.joinpath(*module.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@functools.cache
def imported_modules(module: str) -> frozenset[str]:
    """The package modules `module` imports ("data.sources"), directly or through others, itself included; read
    from the source (every import statement, also those inside functions), not by importing it."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen or _file(name) is None:
            continue
        seen.add(name)
        todo += _direct_imports(name)
    return frozenset(seen)


@functools.cache
def _direct_imports(name: str) -> tuple[str, ...]:
    """The package modules one module's source names in its import statements (each file parsed once: the
    stages share most of them, and every Snakemake invocation and cluster job computes all stages' code).
    `from mlbasics.data import sources` names the module data.sources; `from mlbasics.data.sources import x`
    names data.sources. A module also brings its packages' non-empty __init__.py, and a registry package that
    finds its modules itself (`pkgutil.iter_modules(__path__)`: methods.reference, data.loaders) every module in
    its folder."""
    found: list[str] = []
    source = _file(name)
    package = name if source.name == "__init__.py" else name.rpartition(".")[0]
    text = source.read_text()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the module's own package upwards
                parts = package.split(".") if package else []
                base = ".".join([*parts[: len(parts) - node.level + 1], *filter(None, [node.module])])
            elif (node.module or "").split(".")[0] == "mlbasics":
                base = node.module.removeprefix("mlbasics").lstrip(".")
            else:
                continue
            for alias in node.names:
                child = f"{base}.{alias.name}" if base else alias.name
                found.append(child if _file(child) else base)
        elif isinstance(node, ast.Import):
            found += [a.name.removeprefix("mlbasics.") for a in node.names if a.name.startswith("mlbasics.")]
    if source.name == "__init__.py" and "pkgutil.iter_modules(__path__)" in text:
        found += [f"{name}.{p.stem}" for p in sorted(source.parent.glob("*.py")) if p.stem != "__init__"]
    parents = [".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)]
    found += [p for p in parents if (PACKAGE.joinpath(*p.split(".")) / "__init__.py").stat().st_size > 0]
    return tuple(dict.fromkeys(m for m in found if m and m != name))


def module_file(module: str) -> str:
    """A package module's source file as the engines name it (core.files -> src/mlbasics/core/files.py)."""
    return f"{package_path()}/{_file(module).relative_to(PACKAGE).as_posix()}"


def code(stage: str) -> list[str]:
    """The source files a stage runs: its module (stages.<stage>) and every package module that imports
    (computed from the import statements), and the page templates where it renders pages; inputs, so editing any
    of them reruns exactly the stages that use it, in both engines."""
    module = (STAGES[stage].module or stage) if stage in STAGES else stage
    modules = imported_modules(f"stages.{module}")
    # the pages' jinja2 templates are code too: a stage that renders them reruns when one changes
    templates = sorted(p.name for p in (PACKAGE / "templates").glob("*.j2")) if "report.pages" in modules else []
    return [module_file(name) for name in sorted(modules)] + [f"{package_path()}/templates/{t}" for t in templates]


def apply_inputs(job: applying.ApplyJob) -> dict[str, str | list[str]]:
    """An apply job's named inputs, its code included."""
    return {**job.inputs(), "code": code("apply")}


def apply_report_inputs(params: dict, application: str) -> dict[str, str | list[str]]:
    """An apply set's report's named inputs, its code included."""
    return {**applying.report_inputs(params, application), "code": code("apply_report")}


def apply_fetch_inputs() -> dict[str, list[str]]:
    """An apply set's fetch job's inputs: its code (its files are params)."""
    return {"code": code("apply_fetch")}


def init_model(params: dict, dataset: str, variant: str) -> str | None:
    """The parent model a warm-started variant trains from (DVC lists the data again for the others)."""
    parent = config.warm_start_parent(params, dataset, variant)
    return MODEL.format(dataset=dataset, variant=parent) if parent else None


def source_of(dataset: dict) -> str:
    """The file a dataset's data is defined by: the user's own table, or else the catalog."""
    return sources.local_file(dataset["loader"], dataset["options"]) or CATALOG


def inputs(
    stage: str,
    pairs: list[tuple[str, str]],
    datasets: list[str],
    dataset: str = "{dataset}",
    variant: str = "{variant}",
    source: str = CATALOG,
    init: str | None = None,
    figures: bool = True,
    fold: str = "{fold}",
    folds: int = 1,
) -> dict[str, str | list[str]]:
    """Named inputs of one job, its code included. `pairs`/`datasets` are the grid (aggregates read all of it; a
    dataset's report its variants); `source` is the dataset's `source_of`; `init` the model a warm-started
    training job starts from; `figures` whether the variants have figures (params' figures.per_variant); `fold`
    a per-fold job's fold, `folds` the dataset's number of folds (the folds stage reads each)."""
    job = Job([tuple(pair) for pair in pairs], datasets, dataset, variant, source, init, figures, str(fold), folds)
    return {**STAGES[stage].inputs(job), "code": code(stage)}


def job_pairs(settings: dict) -> list[tuple[str, str]]:
    """The (dataset, variant) pairs a job's inputs cover, from its settings: the grid's (summary, check, track),
    its dataset's variants (report), none (the rest)."""
    if "pairs" in settings:
        return [tuple(pair) for pair in settings["pairs"]]
    return [(settings["dataset"], v) for v in settings.get("variants", [])]


def outputs(
    stage: str, dataset: str = "{dataset}", variant: str = "{variant}", figures: bool = True, fold: str = "{fold}"
) -> dict[str, str]:
    """Named outputs of one job; a variant's figures only where `figures` (params' figures.per_variant)."""
    return {
        k: v.format(dataset=dataset, variant=variant, fold=fold)
        for k, v in STAGES[stage].outputs.items()
        if figures or k not in VARIANT_FIGURES
    }


def final_targets(params: dict) -> list[str]:
    """What `rule all` asks for: the aggregates (which pull in every job of the grid), the quality gates, the
    runs in MLflow and the friend files of params' apply block."""
    reports = [path for name in config.apply_sets(params) for path in applying.report_outputs(name).values()]
    return [INDEX, SUMMARY, CHECKS, TRACKED, *(job.friend for job in applying.jobs(params)), *reports]


def flat(named: dict[str, str | list[str]]) -> list[str]:
    """Every path of named inputs, each once, in order."""
    out: list[str] = []
    for value in named.values():
        out.extend([value] if isinstance(value, str) else value)
    return list(dict.fromkeys(out))


def dvc_command(stage: str) -> str:
    args = {"dataset": " --dataset ${item.dataset}", "variant": " --dataset ${item.dataset} --variant ${item.variant}"}
    if stage in PER_FOLD:
        return f"python -m mlbasics {stage} --params params.yaml" + args["variant"] + " --fold ${item.fold}"
    if stage in PER_VARIANT:
        return f"python -m mlbasics {stage} --params params.yaml" + args["variant"]
    if stage in PER_DATASET:
        return f"python -m mlbasics {stage} --params params.yaml" + args["dataset"]
    return f"python -m mlbasics {stage} --params params.yaml"


def dvc_yaml(params: dict) -> dict:
    """dvc.yaml as a mapping: one foreach stage per pipeline stage (the report: a stage per dataset, since each
    dataset has its own variants and DVC cannot put a list into a foreach item's deps), plus metrics and plots."""
    datasets, pairs = params["run"]["datasets"], config.grid(params)
    figures = params["figures"]["per_variant"]
    item = {"dataset": "${item.dataset}", "variant": "${item.variant}", "source": "${item.source}"}
    # the templates of a foreach item; one number of folds for every dataset that trains in folds (split.folds)
    item.update(init="${item.init}", fold="${item.fold}", folds=max([config.folds(params, d) for d in datasets]))
    stages: dict = {}
    for stage in STAGES:
        body = {
            "cmd": dvc_command(stage),
            "deps": flat(inputs(stage, pairs, datasets, **item, figures=figures)),
            "params": param_keys(stage, item["dataset"], item["variant"], "${item.defined_in}", "${item.split}"),
            "outs": list(outputs(stage, item["dataset"], item["variant"], figures, "${item.fold}").values()),
        }
        if stage in PER_VARIANT + PER_FOLD:
            items = {
                f"{d}-{v}" + (f"-fold-{i}" if stage in PER_FOLD else ""): {
                    "dataset": d,
                    "variant": v,
                    "defined_in": config.variant_source(params, v),
                    "init": init_model(params, d, v) or PROCESSED.format(dataset=d),
                    "split": config.split_key(params, d),
                    **({"fold": i} if stage in PER_FOLD else {}),
                }
                for d, v in stage_pairs(params, stage)
                for i in range(config.folds(params, d) if stage in PER_FOLD else 1)
            }
            if items:  # a stage with no job here (no dataset trains in folds) is left out
                stages[stage] = {"foreach": items, "do": body}
        elif stage in ("download", "dataset"):
            items = {
                d: {"dataset": d, "source": source_of(params["datasets"][d]), "split": config.split_key(params, d)}
                for d in datasets
            }
            stages[stage] = {"foreach": items, "do": body}
        elif stage == "report":
            for d in datasets:
                stages[f"report-{d}"] = {
                    "cmd": dvc_command(stage).replace("${item.dataset}", d),
                    "deps": flat(inputs(stage, pairs, datasets, d, figures=figures)),
                    "params": param_keys(stage, d),
                    "outs": list(outputs(stage, d).values()),
                }
        elif stage in PER_DATASET:
            items = {d: {"dataset": d, "split": config.split_key(params, d)} for d in datasets}
            stages[stage] = {"foreach": items, "do": body}
        else:
            body["params"] = param_keys(stage)
            stages[stage] = body
    for name in applying.fetched(params):  # the network: a set's files to download, verified
        stages[f"apply_fetch-{name}"] = {
            "cmd": applying.fetch_command(name),
            "deps": flat(apply_fetch_inputs()),
            "params": ["download.cache_dir", f"apply.{name}.files"],
            "outs": [applying.RECEIPT.format(application=name)],
        }
    for job in applying.jobs(params):  # a stage per file: its deps are lists (the variants' models)
        stages[job.stage_name] = {
            "cmd": job.command(),
            "deps": flat(apply_inputs(job)),
            "params": [f"apply.{job.application}"],
            "outs": [job.friend],
        }
    for name in config.apply_sets(params):
        stages[f"apply_report-{name}"] = {
            "cmd": applying.report_command(name),
            "deps": flat(apply_report_inputs(params, name)),
            "params": [f"apply.{name}", "download.cache_dir"],
            "outs": list(applying.report_outputs(name).values()),
        }
    # one file of every run's headline numbers: `dvc exp show` stays a few columns wide (each run's metrics.json
    # has every number; `dvc metrics show <path>` reads one)
    return {"stages": stages, "metrics": [HEADLINES], "plots": dvc_plots(params, pairs)}


def dvc_plots(params: dict, pairs: list[tuple[str, str]]) -> list:
    """dvc.yaml's plots: per dataset the loss and metric curves of its variants (from history.csv) and the
    confusion matrix (or predicted vs true), then every run's figures as images."""
    plots = []
    for d in params["run"]["datasets"]:
        variants = config.dataset_variants(params, d)
        histories = {HISTORY.format(dataset=d, variant=v): ["loss", "val_loss"] for v in variants}
        plots.append(
            {
                f"loss-{d}": {
                    "template": "linear",
                    "x": "epoch",
                    "y": histories,
                    "title": f"{d}: train and validation loss",
                    "y_label": "loss",
                }
            }
        )
        regression = sources.is_regression(params["datasets"][d])
        metric = "mae" if regression else "accuracy"
        curves = {HISTORY.format(dataset=d, variant=v): [metric, f"val_{metric}"] for v in variants}
        plots.append(
            {
                f"{metric}-{d}": {
                    "template": "linear",
                    "x": "epoch",
                    "y": curves,
                    "title": f"{d}: train and validation {metric}",
                    "y_label": metric,
                }
            }
        )
        predictions = {PREDICTIONS.format(dataset=d, variant=v): "predicted" for v in variants}
        if regression:
            plots.append(
                {
                    f"predicted-{d}": {
                        "template": "scatter",
                        "x": "actual",
                        "y": predictions,
                        "title": f"{d}: predicted vs true on the test set",
                    }
                }
            )
        else:
            plots.append(
                {
                    f"confusion-{d}": {
                        "template": "confusion",
                        "x": "actual",
                        "y": predictions,
                        "title": f"{d}: test confusion matrix",
                    }
                }
            )
    # the same figures as the HTML report and Snakemake's report, shown by `dvc plots show` as images
    images = (CURVES_PNG, DIAGNOSTICS_PNG, RESPONSE_PNG) if params["figures"]["per_variant"] else ()
    plots += [template.format(dataset=d, variant=v) for d, v in pairs for template in images]
    return plots
