"""What a variant's figures cost its evaluation: the evaluate stage with and without them, on the same inputs.

In a fresh copy of the project, Snakemake trains a few (dataset, variant) pairs of the default grid; then each
pair's evaluate stage runs `--repeats` times with its four figures (learning curves, confusion, diagnostics,
training vs test response) and as many times without them (params' figures: {per_variant: false}), each run in a
child forked from one process that imported everything once (as the warm worker runs jobs), MLflow offline. Prints
the median seconds per evaluation both ways, their ratio and the matplotlib version, from one run; ends with one
JSON line. Run it under two matplotlib versions (PYTHONPATH=<a target dir> first) to compare them.

    .venv/bin/python bench/figure_cost.py [--pairs digits/baseline,hep/baseline,hep/bdt] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grid_dryrun import copy_files  # bench/ is on sys.path when a script here runs


def evaluate_once(params: dict, dataset: str, variant: str, figures: bool, out: Path) -> float:
    """Seconds of one evaluate stage in a forked child (outputs under `out`)."""
    from mlbasics.pipeline import declarations as stages
    from mlbasics.pipeline import graph as pipeline
    from mlbasics.stages import evaluate
    from mlbasics.stages.settings import parse

    settings = stages.job_settings(params, "evaluate", dataset, variant)
    settings["tracking"] = {**settings["tracking"], "mode": "offline"}
    settings["figures"] = figures
    inputs = pipeline.inputs("evaluate", [], [], dataset, variant, figures=figures)
    outputs = {k: str(out / Path(v).name) for k, v in pipeline.outputs("evaluate", dataset, variant, figures).items()}
    began = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            evaluate.run(parse("evaluate", settings), inputs, outputs, threads=1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if status:
        sys.exit(f"evaluate {dataset}/{variant} failed (status {status})")
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", default="digits/baseline,hep/baseline,hep/bdt")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    pairs = [tuple(p.split("/")) for p in args.pairs.split(",")]
    with tempfile.TemporaryDirectory(prefix="mlbasics-bench-figures-") as tmp:
        project = Path(tmp) / "project"
        copy_files(project)
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        targets = [f"models/{d}/{v}/scores.npz" for d, v in pairs]
        subprocess.run(
            [sys.executable, "-m", "snakemake", "--cores", "2", *targets],
            cwd=project,
            env=env,
            check=True,
            capture_output=True,
        )
        os.chdir(project)
        import matplotlib

        from mlbasics.params import config
        from mlbasics.pipeline import worker

        for module in worker.WARM:
            __import__(module)
        worker.warm_caches()
        params = config.load_params("params.yaml")
        results = []
        for dataset, variant in pairs:
            times = {
                figures: statistics.median(
                    evaluate_once(params, dataset, variant, figures, Path(tmp)) for _ in range(args.repeats)
                )
                for figures in (True, False)
            }
            results.append(
                {
                    "pair": f"{dataset}/{variant}",
                    "with_figures_s": round(times[True], 3),
                    "without_figures_s": round(times[False], 3),
                    "ratio": round(times[True] / times[False], 2),
                }
            )
            print(
                f"{dataset}/{variant}: evaluation {times[True]:.2f} s with its figures, {times[False]:.2f} s "
                f"without: {times[True] / times[False]:.2f}x (figures {times[True] - times[False]:.2f} s)"
            )
    print(f"matplotlib {matplotlib.__version__}")
    print(
        json.dumps(
            {"bench": "figure_cost", "matplotlib": matplotlib.__version__, "repeats": args.repeats, "results": results}
        )
    )


if __name__ == "__main__":
    main()
