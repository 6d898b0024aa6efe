"""The command line's grammar: a subcommand per stage (what both engines call) and the tools beside them."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlbasics.pipeline import declarations as stages


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mlbasics",
        description="the pipeline's stages (what Snakemake and DVC call) and the tools beside them",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for stage in stages.STAGES:
        p = sub.add_parser(stage, help=stages.STAGES[stage].help)
        source = p.add_mutually_exclusive_group(required=True)
        source.add_argument("--params", type=Path, help="params file to read (e.g. params.yaml)")
        source.add_argument("--settings", help="the stage's resolved settings as JSON (what Snakemake passes)")
        if stage in stages.PER_DATASET + stages.PER_VARIANT + stages.PER_FOLD:
            p.add_argument("--dataset", help="dataset id (with --params)")
        if stage in stages.PER_VARIANT + stages.PER_FOLD:
            p.add_argument("--variant", help="variant id (with --params)")
        if stage in stages.PER_FOLD:
            p.add_argument("--fold", type=int, help="the fold (0 .. split.folds - 1) it is scored on (with --params)")
        p.add_argument(
            "--paths",
            help="the job's named inputs and outputs as JSON (what a Snakemake rule passes; "
            "default: the stage's declared paths)",
        )
        p.add_argument("--threads", type=int, default=0, help="CPU threads for TensorFlow (0: all)")
        if stage == "download":
            p.add_argument("--fetch-policy", help="mirrors, retries, timeout as JSON (with --settings)")
    _tool_parsers(sub)
    return parser


def _tool_parsers(sub) -> None:
    """The commands beside the stages: fetch, validate, server, compare, progress, worker, dvc-yaml."""
    p = sub.add_parser("fetch", help="download and verify every dataset the params need, and nothing else")
    p.add_argument(
        "--params",
        type=Path,
        action="append",
        help="params file; repeat to merge several, later ones winning (default: params.yaml)",
    )
    p.add_argument("--dataset", action="append", help="only this dataset (repeatable)")
    p = sub.add_parser("validate", help="check a params file against the schema; print the grid")
    p.add_argument(
        "--params",
        type=Path,
        action="append",
        help="params file; repeat to merge several, later ones winning (default: params.yaml)",
    )
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
    p = sub.add_parser(
        "pull",
        help="bring a finished run from the DVC remote into this clone: dvc pull, mark "
        "Snakemake's outputs up to date, import the runs into this clone's MLflow store",
    )
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--remote", help="the DVC remote (default: the default remote)")
    p = sub.add_parser("progress", help="every training of the grid: done, or epoch k of N, losses, time left")
    p.add_argument(
        "--params",
        type=Path,
        action="append",
        help="params file; repeat to merge several, later ones winning (default: params.yaml)",
    )
    p.add_argument(
        "--watch",
        type=float,
        nargs="?",
        const=2.0,
        default=0.0,
        help="refresh every WATCH seconds (default 2) until every training is evaluated",
    )
    p = sub.add_parser(
        "worker",
        help="run a command with a warm worker for its jobs: "
        "`python -m mlbasics worker -- dvc repro` (Snakemake starts one itself)",
    )
    p.add_argument("--serve", help=argparse.SUPPRESS)  # the worker process itself (socket path)
    p.add_argument("--watch", type=int, help=argparse.SUPPRESS)  # ...and the process it serves
    p.add_argument("argv", nargs=argparse.REMAINDER, metavar="command", help="the command, after --")
    p = sub.add_parser(
        "apply",
        help="score new ROOT files with trained variants: a friend file per input, entry-aligned, one score branch "
        "per variant (as TMVA's Reader)",
    )
    p.add_argument("--dataset", required=True, help="the dataset the variants were trained on")
    p.add_argument("--variant", action="append", required=True, help="a trained variant (repeatable)")
    p.add_argument(
        "--input",
        action="append",
        required=True,
        metavar="FILE[:TREE]",
        help="a ROOT file (a glob: quote it) and its tree (default: the file's only tree); repeatable",
    )
    p.add_argument("--output", type=Path, required=True, help="the folder the friend files are written to")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for TensorFlow (0: all)")
    p.add_argument(
        "--folds",
        choices=["average", "by-fold"],
        default="average",
        help="a k-fold variant (split.folds): the mean of its fold models (data; default), or each event by the "
        "model of its own fold, by split.fold_by (the simulated events it was trained on)",
    )
    p = sub.add_parser(
        "apply-report",
        help="the application report of an apply set (params' apply block): each input's response, stacked by process",
    )
    p.add_argument("--set", required=True, help="the apply set's name")
    p.add_argument("--params", type=Path, default=Path("params.yaml"), help="the params file holding the set")
    p.add_argument("--settings", help="the job's settings as JSON (what Snakemake passes), instead of --params")
    p = sub.add_parser(
        "apply-fetch", help="download and verify an apply set's pinned files into the cache (params' apply block)"
    )
    p.add_argument("--set", required=True, help="the apply set's name")
    p.add_argument("--params", type=Path, default=Path("params.yaml"), help="the params file holding the set")
    p.add_argument("--settings", help="the job's settings as JSON (what Snakemake passes), instead of --params")
    p = sub.add_parser("dvc-yaml", help="generate dvc.yaml from params.yaml (the grid and the stage graph)")
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--output", type=Path, default=Path("dvc.yaml"))
    p.add_argument("--check", action="store_true", help="exit 1 if the output file is out of date")
