"""Command line: `python -m mlbasics <stage> ...`, the one entry point both Snakemake and DVC call.

A stage gets its settings either from a params file (DVC: `--params params.yaml --dataset D --variant V`)
or as the JSON Snakemake resolved from its merged config (`--settings '{...}'`); both go through
`stages.stage_settings`, so the two engines run the same thing.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

import yaml

from . import config, pipeline, stages


class UsageError(Exception):
    """A mistake on the command line or in its inputs: reported in one line, exit status 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mlbasics", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for stage in stages.STAGES:
        p = sub.add_parser(stage, help=stages.STAGES[stage].help)
        source = p.add_mutually_exclusive_group(required=True)
        source.add_argument("--params", type=Path, help="params file to read (e.g. params.yaml)")
        source.add_argument("--settings", help="the stage's resolved settings as JSON (what Snakemake passes)")
        if stage in stages.PER_DATASET + stages.PER_VARIANT:
            p.add_argument("--dataset", help="dataset id (with --params)")
        if stage in stages.PER_VARIANT:
            p.add_argument("--variant", help="variant id (with --params)")
        p.add_argument("--paths", help="the job's named inputs and outputs as JSON (what a Snakemake rule passes; "
                                       "default: the stage's declared paths)")
        p.add_argument("--threads", type=int, default=0, help="CPU threads for TensorFlow (0: all)")
        if stage == "download":
            p.add_argument("--fetch-policy", help="mirrors, retries, timeout as JSON (with --settings)")
    _tool_parsers(sub)
    return parser


def _tool_parsers(sub) -> None:
    """The commands beside the stages: fetch, validate, server, compare, progress, worker, dvc-yaml."""
    p = sub.add_parser("fetch", help="download and verify every dataset the params need, and nothing else")
    p.add_argument("--params", type=Path, action="append",
                   help="params file; repeat to merge several, later ones winning (default: params.yaml)")
    p.add_argument("--dataset", action="append", help="only this dataset (repeatable)")
    p = sub.add_parser("validate", help="check a params file against the schema; print the grid")
    p.add_argument("--params", type=Path, action="append",
                   help="params file; repeat to merge several, later ones winning (default: params.yaml)")
    p = sub.add_parser("server", help="start `mlflow server` on 127.0.0.1 (settings: tracking.server in params)")
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--port", type=int, help="default: tracking.server.port")
    p.add_argument("--backend-store-uri", help="default: tracking.server.backend_store_uri")
    p.add_argument("--artifacts-destination", help="default: tracking.server.artifacts_destination")
    p = sub.add_parser("compare", help="leaderboard of the runs in MLflow: print it, optionally write it as CSV")
    p.add_argument("--params", type=Path, default=Path("params.yaml"), help="for tracking.uri and .experiment")
    p.add_argument("--uri", help="tracking URI (default: MLFLOW_TRACKING_URI, else tracking.uri)")
    p.add_argument("--experiment", help="default: tracking.experiment")
    p.add_argument("--dataset", action="append", help="only this dataset (repeatable)")
    p.add_argument("--all", action="store_true", help="also runs that a rerun has replaced")
    p.add_argument("--csv", type=Path, help="also write the leaderboard to this CSV file")
    p = sub.add_parser("pull", help="bring a finished run from the DVC remote into this clone: dvc pull, mark "
                                    "Snakemake's outputs up to date, import the runs into this clone's MLflow store")
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--remote", help="the DVC remote (default: the default remote)")
    p = sub.add_parser("progress", help="every training of the grid: done, or epoch k of N, losses, time left")
    p.add_argument("--params", type=Path, action="append",
                   help="params file; repeat to merge several, later ones winning (default: params.yaml)")
    p.add_argument("--watch", type=float, nargs="?", const=2.0, default=0.0,
                   help="refresh every WATCH seconds (default 2) until every training is evaluated")
    p = sub.add_parser("worker", help="run a command with a warm worker for its jobs: "
                                      "`python -m mlbasics worker -- dvc repro` (Snakemake starts one itself)")
    p.add_argument("--serve", help=argparse.SUPPRESS)  # the worker process itself (socket path)
    p.add_argument("--watch", type=int, help=argparse.SUPPRESS)  # ...and the process it serves
    p.add_argument("argv", nargs=argparse.REMAINDER, metavar="command", help="the command, after --")
    p = sub.add_parser("dvc-yaml", help="generate dvc.yaml from params.yaml (the grid and the stage graph)")
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--output", type=Path, default=Path("dvc.yaml"))
    p.add_argument("--check", action="store_true", help="exit 1 if the output file is out of date")


def settings_from_args(args: argparse.Namespace) -> dict:
    if args.settings is not None:
        settings = config.parse_inline(args.settings)
        if getattr(args, "fetch_policy", None):
            settings["policy"] = config.parse_inline(args.fetch_policy)
        return settings
    params = config.load_params(args.params)
    dataset, variant = getattr(args, "dataset", None), getattr(args, "variant", None)
    if args.command in stages.PER_DATASET + stages.PER_VARIANT and not dataset:
        raise UsageError(f"{args.command}: --dataset is required with --params")
    if args.command in stages.PER_VARIANT and not variant:
        raise UsageError(f"{args.command}: --variant is required with --params")
    if dataset and dataset not in params["datasets"]:
        raise UsageError(f"--dataset {dataset!r}: not defined under datasets in {args.params}")
    if variant and variant not in config.expand_variants(params["variants"]):
        raise UsageError(f"--variant {variant!r}: not defined under variants in {args.params}")
    settings = stages.job_settings(params, args.command, dataset, variant)
    from . import tracking

    # DVC has no start hook: every stage refuses a store that cannot work (missing driver, corrupt file), so
    # the first job stops the pipeline; training also needs an online server to answer, not after it ran
    tracking.preflight(tracking.resolve_uri(params["tracking"]["uri"]),
                       reach=args.command == "train" and params["tracking"]["mode"] == "online")
    return settings


def declared_paths(stage: str, settings: dict) -> dict:
    """A job's named inputs and outputs from the stage's declaration (the paths its rule names too)."""
    names = {k: settings[k] for k in ("dataset", "variant") if k in settings}
    extra = {}
    if "loader" in settings:
        extra["source"] = pipeline.source_of(settings)
    if stage == "train" and settings["model"].get("warm_start"):
        extra["init"] = stages.MODEL.format(dataset=names["dataset"], variant=settings["model"]["warm_start"])
    figures = settings.get("figures", True)
    return {"inputs": pipeline.inputs(stage, pipeline.job_pairs(settings), settings.get("datasets", []), **names,
                                      **extra, figures=figures),
            "outputs": pipeline.outputs(stage, **names, figures=figures)}


def run_stage(stage: str, settings: dict, threads: int = 0, paths: dict | None = None) -> None:
    """Run one job of a stage on `paths` (what its rule passes) or else on its declared paths."""
    paths = paths or declared_paths(stage, settings)
    inputs = paths["inputs"]
    # modules (the code, the catalog) are dependencies, not something read from the working directory
    data = {k: v for k, v in inputs.items() if k != "code" and v != stages.CATALOG}
    missing = [p for p in pipeline.flat(data) if not Path(p).exists()]
    if missing:
        raise UsageError(f"{stage}: missing input {missing[0]} (run the pipeline: snakemake or dvc repro)")
    declared = stages.STAGES[stage]
    runner = getattr(importlib.import_module(f"mlbasics.{declared.module}"), declared.function)
    runner(settings, inputs, paths["outputs"], threads=threads)


def write_dvc_yaml(params_path: Path, output: Path, check: bool = False) -> int:
    params = config.load_params(params_path)
    header = ("# Generated by `python -m mlbasics dvc-yaml` from params.yaml and src/mlbasics/pipeline.py.\n"
              "# Do not edit: change params.yaml (the grid) and regenerate. Snakemake runs the same graph.\n")
    text = header + yaml.safe_dump(pipeline.dvc_yaml(params), sort_keys=False, width=120)
    if check:
        current = output.read_text() if output.exists() else ""
        if current != text:
            print(f"{output} is out of date with {params_path}: run `python -m mlbasics dvc-yaml`", file=sys.stderr)
            return 1
        return 0
    from .files import write_text

    write_text(output, text)
    print(f"wrote {output} ({len(config.grid(params))} dataset x variant pairs)")
    return 0


def fetch(params: dict, datasets: list[str] | None = None) -> int:
    """Run the download stage of every dataset (or the ones named); report every failure, not just the first."""
    from .download import DownloadError

    chosen = datasets or params["run"]["datasets"]
    for name in chosen:
        if name not in params["datasets"]:
            raise UsageError(f"--dataset {name!r}: not defined under datasets")
    failed = 0
    for name in chosen:
        try:
            settings = stages.stage_settings(params, "download", name)
            run_stage("download", {**settings, "policy": config.fetch_policy(params)})
        except DownloadError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
    print(f"fetch: {len(chosen) - failed} of {len(chosen)} datasets ready in {params['download']['cache_dir']}")
    return 1 if failed else 0


def serve(args: argparse.Namespace, track: dict) -> int:
    """Run `mlflow server` on 127.0.0.1 in the foreground (Ctrl-C stops it)."""
    import os

    from . import tracking

    server = track["server"]
    command = tracking.server_command(args.port or server["port"],
                                      args.backend_store_uri or server["backend_store_uri"],
                                      args.artifacts_destination or server["artifacts_destination"])
    url = f"http://127.0.0.1:{command[command.index('--port') + 1]}"
    print(f"mlflow server on {url} (point the pipeline at it: tracking.uri or MLFLOW_TRACKING_URI); the runs: "
          f"{tracking.runs_page(url)}", flush=True)
    os.execv(command[0], command)
    return 0  # not reached


def compare(args: argparse.Namespace, track: dict) -> int:
    from . import tracking
    from .compare import leaderboard, write_leaderboard

    uri = args.uri or tracking.resolve_uri(track["uri"])
    store = tracking.local_store(uri)
    if store is not None and not store.exists():  # MLflow would create an empty store just to find no runs
        raise UsageError(f"no runs yet: {store} does not exist (run the pipeline first: snakemake --cores 2, "
                         "or dvc repro)")
    rows = leaderboard(uri, args.experiment or track["experiment"], include_replaced=args.all)
    if args.dataset:
        rows = [r for r in rows if r["dataset"] in args.dataset]
    if not rows:
        raise UsageError(f"no runs in {uri} (experiment {args.experiment or track['experiment']})")
    print(write_leaderboard(rows, args.csv))
    if args.csv:
        print(f"wrote {args.csv} ({len(rows)} runs)")
    return 0


def pull(args: argparse.Namespace, track: dict) -> int:
    """A finished run, shared through a DVC remote (`dvc push` where it ran), into this clone: `dvc pull` fetches
    every output; `snakemake --touch` marks them up to date in Snakemake's terms (it compares file times, and a pull
    writes files in any order); the run records are imported into this clone's MLflow store. Afterwards neither
    `dvc repro` nor `snakemake` has anything to do."""
    import subprocess

    from . import tracking

    steps = [[sys.executable, "-m", "dvc", "pull", *(["-r", args.remote] if args.remote else [])],
             [sys.executable, "-m", "snakemake", "--touch", "--cores", "1", "--quiet"]]
    for command in steps:
        print(f"pull: {' '.join(command[2:])}", flush=True)
        if subprocess.run(command).returncode != 0:
            raise UsageError(f"pull: `{' '.join(command[2:])}` failed (its output is above)")
    params = config.load_params(args.params)
    records = [stages.RUN_RECORD.format(dataset=d, variant=v) for d, v in config.grid(params)]
    uri = tracking.resolve_uri(track["uri"])
    summary = tracking.import_records(uri, track["experiment"], records, track.get("log_models", True))
    print(f"pull: {summary['runs']} runs in {uri} (experiment {track['experiment']}), "
          f"{summary['imported_now']} imported now")
    return 0


SERVICES = {"server": serve, "compare": compare, "pull": pull}


def on_grid(args: argparse.Namespace) -> int:
    """The commands that read merged params files: fetch, progress, validate (which prints the grid)."""
    paths = args.params or [Path("params.yaml")]
    params = config.load_params(paths)
    if args.command == "fetch":
        return fetch(params, args.dataset)
    if args.command == "progress":
        from .progress import show

        show(Path.cwd(), config.grid(params), {"stats": stages.RUN_STATS, "metrics": stages.METRICS}, args.watch)
        return 0
    print(f"{', '.join(map(str, paths))}: ok, {len(config.grid(params))} runs: "
          + ", ".join(f"{d}/{v}" for d, v in config.grid(params)))
    left = config.left_out(params)
    if left:  # the method rule (method_rules.TAKES), said once so nobody wonders where a run went
        print(f"left out ({len(left)}; reference methods run on tables, fisher and likelihood only classify): "
              + ", ".join(f"{d}/{v} ({why})" for d, v, why in left))
    return 0


def main(argv: list[str] | None = None) -> int:
    from .check import GateError
    from .download import DownloadError
    from .formats import FormatError
    from .tracking import TrackingError

    args = _parser().parse_args(argv)
    try:
        if args.command in ("validate", "fetch", "progress"):
            return on_grid(args)
        if args.command == "worker":
            from . import worker

            if args.serve:
                return worker.serve(args.serve, args.watch, main)
            return worker.run_with_worker(args.argv[1:] if args.argv[:1] == ["--"] else args.argv)
        if args.command == "dvc-yaml":
            return write_dvc_yaml(args.params, args.output, args.check)
        if args.command in SERVICES:
            return SERVICES[args.command](args, config.load_params(args.params)["tracking"])
        run_stage(args.command, settings_from_args(args), args.threads,
                  config.parse_inline(args.paths) if args.paths else None)
        return 0
    except (config.ParamsError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (DownloadError, FormatError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except GateError as exc:
        print(exc, file=sys.stderr)
        return 1
    except TrackingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
