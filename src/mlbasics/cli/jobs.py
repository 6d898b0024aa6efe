"""One job of a stage from the command line: its settings (from a params file, as DVC passes them, or as the JSON
Snakemake resolved), its declared or given paths, and the stage's `run` from mlbasics.stages."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from mlbasics.params import config
from mlbasics.pipeline import declarations as stages
from mlbasics.pipeline import graph as pipeline


class UsageError(Exception):
    """A mistake on the command line or in its inputs: reported in one line, exit status 2."""


def runner(stage: str) -> Callable:
    """The function that runs one job of `stage`: `run(settings, inputs, outputs, threads)` of its module in
    mlbasics.stages, imported on demand (a stage's libraries are heavy; validate and dvc-yaml need none)."""
    if stage == "download":
        from mlbasics.stages.download import run

        return run
    if stage == "dataset":
        from mlbasics.stages.dataset import run

        return run
    if stage == "preprocess":
        from mlbasics.stages.preprocess import run

        return run
    if stage in ("train", "train_fold"):
        from mlbasics.stages.train import run

        return run
    if stage == "folds":
        from mlbasics.stages.folds import run

        return run
    if stage == "evaluate":
        from mlbasics.stages.evaluate import run

        return run
    if stage == "report":
        from mlbasics.stages.report import run

        return run
    if stage == "summary":
        from mlbasics.stages.summary import run

        return run
    if stage == "check":
        from mlbasics.stages.check import run

        return run
    if stage == "track":
        from mlbasics.stages.track import run

        return run
    raise UsageError(f"unknown stage {stage!r}")


def settings_from_args(args: argparse.Namespace) -> dict:
    if args.settings is not None:
        settings = config.parse_inline(args.settings)
        if args.command == "download":  # --fetch-policy, else what the pipeline passes, else the schema's defaults
            policy = getattr(args, "fetch_policy", None) or os.environ.get(config.ENV_FETCH_POLICY)
            defaults = {k: v for k, v in config.section_defaults("download").items() if k in config.FETCH_POLICY_KEYS}
            settings["policy"] = config.parse_inline(policy) if policy else defaults
        return settings
    params = config.load_params(args.params)
    refuse_beside_snakemake(args.command)
    dataset, variant = getattr(args, "dataset", None), getattr(args, "variant", None)
    fold = getattr(args, "fold", None)
    if args.command in stages.PER_DATASET + stages.PER_VARIANT + stages.PER_FOLD and not dataset:
        raise UsageError(f"{args.command}: --dataset is required with --params")
    if args.command in stages.PER_VARIANT + stages.PER_FOLD and not variant:
        raise UsageError(f"{args.command}: --variant is required with --params")
    if args.command in stages.PER_FOLD and fold is None:
        raise UsageError(f"{args.command}: --fold is required with --params")
    if dataset and dataset not in params["datasets"]:
        raise UsageError(f"--dataset {dataset!r}: not defined under datasets in {args.params}")
    if variant and variant not in config.expand_variants(params["variants"]):
        raise UsageError(f"--variant {variant!r}: not defined under variants in {args.params}")
    if args.command in stages.PER_FOLD and not 0 <= fold < config.folds(params, dataset):
        raise UsageError(
            f"--fold {fold}: dataset {dataset!r} trains {config.folds(params, dataset)} fold(s) (split.folds)"
        )
    if args.command in stages.PER_VARIANT + stages.PER_FOLD and (dataset, variant) not in stages.stage_pairs(
        params, args.command
    ):
        raise UsageError(f"{args.command}: no job for dataset {dataset!r}, variant {variant!r} in {args.params}")
    settings = stages.job_settings(params, args.command, dataset, variant, fold)
    from mlbasics.tracking import runs as tracking

    # DVC has no start hook: every stage refuses a store that cannot work (missing driver, corrupt file), so
    # the first job stops the pipeline; training also needs an online server to answer, not after it ran; the
    # stages that write to it (evaluate online, track) need to be able to (not read-only, not locked)
    online = params["tracking"]["mode"] == "online"
    tracking.preflight(
        tracking.resolve_uri(params["tracking"]["uri"]),
        reach=args.command in ("train", "train_fold") and online,
        write=args.command in ("train", "train_fold", "track") or (args.command == "evaluate" and online),
    )
    return settings


def refuse_beside_snakemake(command: str) -> None:
    """A job run from params (as DVC runs it, or by hand) does not run beside a Snakemake in the same project: both
    would write the same outputs (Snakemake's own jobs pass --settings)."""
    from mlbasics.pipeline import locks

    pid = locks.snakemake_here(Path.cwd())
    if pid:
        raise UsageError(
            f"{command}: a Snakemake (pid {pid}) is running in this project: let it finish or stop it first; it "
            "writes the same outputs"
        )


def declared_paths(stage: str, settings: dict) -> dict:
    """A job's named inputs and outputs from the stage's declaration (the paths its rule names too)."""
    names = {k: settings[k] for k in ("dataset", "variant") if k in settings}
    extra: dict = {"folds": settings["folds"]} if stage == "folds" else {}
    if settings.get("fold") is not None:
        names["fold"] = str(settings["fold"])
    if stage in ("download", "dataset"):
        extra["source"] = pipeline.source_of(settings)
    if stage == "train" and settings["model"].get("warm_start"):
        extra["init"] = stages.MODEL.format(dataset=names["dataset"], variant=settings["model"]["warm_start"])
    figures = settings.get("figures", True)
    return {
        "inputs": pipeline.inputs(
            stage, pipeline.job_pairs(settings), settings.get("datasets", []), **names, **extra, figures=figures
        ),
        "outputs": pipeline.outputs(stage, **names, figures=figures),
    }


def run_stage(stage: str, settings: dict, threads: int = 0, paths: dict | None = None) -> None:
    """Run one job of a stage on `paths` (what its rule passes) or else on its declared paths; `settings` as the
    engine passed them, turned into the stage's typed record before anything runs."""
    from mlbasics.stages.settings import SettingsError, parse

    try:
        typed = parse(stage, settings)
    except SettingsError as exc:
        raise UsageError(str(exc)) from None
    paths = paths or declared_paths(stage, settings)
    inputs = paths["inputs"]
    # modules (the code, the catalog) are dependencies, not something read from the working directory
    data = {k: v for k, v in inputs.items() if k != "code" and v != stages.CATALOG}
    missing = [p for p in pipeline.flat(data) if not Path(p).exists()]
    if missing:
        raise UsageError(f"{stage}: missing input {missing[0]} (run the pipeline: snakemake or dvc repro)")
    for output in pipeline.flat(paths["outputs"]):  # before any work: a folder the outputs cannot go into
        folder = unwritable_folder(Path(output))
        if folder is not None:
            raise UsageError(
                f"{stage}: cannot write {output}: its folder {folder} is not writable (permissions, or a read-only "
                "file system)"
            )
    runner(stage)(typed, inputs, paths["outputs"], threads=threads)


def unwritable_folder(path: Path) -> Path | None:
    """The folder that stops `path` from being written (outputs are written beside themselves and renamed into
    place, so their folder - or the nearest one that exists, where it is to be made - must be writable); None where
    it can be."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return None if os.access(folder, os.W_OK | os.X_OK) else folder
