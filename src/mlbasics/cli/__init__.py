"""Command line: `python -m mlbasics <stage> ...`, the one entry point both Snakemake and DVC call.

A stage gets its settings either from a params file (DVC: `--params params.yaml --dataset D --variant V`)
or as the JSON Snakemake resolved from its merged config (`--settings '{...}'`); both go through
`pipeline.declarations.stage_settings`, so the two engines run the same thing. The grammar is parser.py, a
stage's job jobs.py, the other commands commands.py.
"""

from __future__ import annotations

import errno
import sys

from mlbasics.cli.commands import SERVICES, apply, apply_fetch, apply_report, on_grid, write_dvc_yaml
from mlbasics.cli.jobs import UsageError, run_stage, runner, settings_from_args  # noqa: F401 - the CLI's API
from mlbasics.cli.parser import parser
from mlbasics.params import config

WRITE_ERRORS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT}


def main(argv: list[str] | None = None) -> int:
    from mlbasics.core.formats import FormatError
    from mlbasics.data.download import DownloadError
    from mlbasics.report.gates import GateError
    from mlbasics.tracking.runs import TrackingError

    args = parser().parse_args(argv)
    try:
        if args.command in ("validate", "fetch", "progress"):
            return on_grid(args)
        if args.command == "worker":
            from mlbasics.pipeline import worker

            if args.serve:
                return worker.serve(args.serve, args.watch, main)
            return worker.run_with_worker(args.argv[1:] if args.argv[:1] == ["--"] else args.argv)
        if args.command == "apply":
            return apply(args)
        if args.command == "apply-report":
            return apply_report(args)
        if args.command == "apply-fetch":
            return apply_fetch(args)
        if args.command == "dvc-yaml":
            return write_dvc_yaml(args.params, args.output, args.check)
        if args.command in SERVICES:
            return SERVICES[args.command](args, config.load_params(args.params)["tracking"])
        run_stage(
            args.command,
            settings_from_args(args),
            args.threads,
            config.parse_inline(args.paths) if args.paths else None,
        )
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
    except OSError as exc:
        if exc.errno not in WRITE_ERRORS:
            raise
        # an output that cannot be written mid-way (a file made read-only, a full disk): the stage's outputs are
        # written beside themselves and renamed into place, so none is left half-written
        target = exc.filename2 or exc.filename or "an output"  # a rename into place names its target second
        print(f"error: cannot write {target}: {exc.strerror}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C: one line, not TensorFlow's stack; nothing half-written stays (atomic outputs)
        print(
            f"interrupted: {args.command} stopped; run the same command again to go on (a training resumes from "
            "its last checkpoint)",
            file=sys.stderr,
        )
        return 130
