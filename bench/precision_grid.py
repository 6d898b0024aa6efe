"""The default grid's MLP variants in float32 and in mixed bfloat16 (config/bfloat16.yaml), from scratch in one
run: per (dataset, variant) the headline test number of each precision, their difference, and the training time
of each (summed `train_wall_s`, one thread per job); the ratio of the summed training times.

    .venv/bin/python bench/precision_grid.py [--cores 2]

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grid_dryrun import copy_files  # bench/ is on sys.path when a script here runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlbasics-bench-bf16-") as tmp:
        project = Path(tmp) / "project"
        copy_files(project)
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "snakemake",
                "--cores",
                str(args.cores),
                "--configfile",
                "config/bfloat16.yaml",
                "--quiet",
            ],
            cwd=project,
            env=env,
            check=True,
        )
        wall = time.perf_counter() - started
        headlines = json.loads((project / "reports" / "metrics.json").read_text())
        rows, times = [], {"float32": 0.0, "bfloat16": 0.0}
        for dataset, runs in headlines.items():
            for variant in [v for v in runs if not v.endswith("-bf16")]:
                if f"{variant}-bf16" not in runs:
                    continue  # a reference method: no precision
                name = next(iter(runs[variant]))  # the headline number (ROC AUC, accuracy)
                seconds = [
                    json.loads((project / "models" / dataset / v / "run_stats.json").read_text())["train_wall_s"]
                    for v in (variant, f"{variant}-bf16")
                ]
                times["float32"] += seconds[0]
                times["bfloat16"] += seconds[1]
                rows.append(
                    {
                        "dataset": dataset,
                        "variant": variant,
                        "metric": name,
                        "float32": runs[variant][name],
                        "bfloat16": runs[f"{variant}-bf16"][name],
                        "train_s_float32": seconds[0],
                        "train_s_bfloat16": seconds[1],
                    }
                )
    print(f"{'run':<22}{'metric':<10}{'float32':>10}{'bfloat16':>10}{'diff':>9}{'train s f32':>13}{'bf16':>8}")
    for r in rows:
        print(
            f"{r['dataset'] + '/' + r['variant']:<22}{r['metric']:<10}{r['float32']:>10.4f}{r['bfloat16']:>10.4f}"
            f"{r['bfloat16'] - r['float32']:>+9.4f}{r['train_s_float32']:>13.2f}{r['train_s_bfloat16']:>8.2f}"
        )
    ratio = times["bfloat16"] / times["float32"]
    print(
        f"summed training: float32 {times['float32']:.1f} s, bfloat16 {times['bfloat16']:.1f} s "
        f"(bfloat16 / float32 {ratio:.2f}); the whole run {wall:.0f} s"
    )
    print(
        json.dumps(
            {
                "bench": "precision_grid",
                "cores": args.cores,
                "wall_s": round(wall, 1),
                "train_s": {k: round(v, 2) for k, v in times.items()},
                "ratio": round(ratio, 3),
                "runs": rows,
            }
        )
    )


if __name__ == "__main__":
    main()
