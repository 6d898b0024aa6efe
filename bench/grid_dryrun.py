"""How long the engines take to plan a 1,000-variant grid (4 datasets x 250 sweep points), nothing run.

Writes the grid into a copy of the project (a `sweep` over learning_rate x dropout x l2 in params.yaml, the
dvc.yaml generated from it) and times, in one run:
  - `snakemake -n -q` (the DAG of ~2,000 jobs), the same with the slurm profile's resources evaluated, and
    plain `snakemake -n`, which also prints every job;
  - `dvc status` and `dvc stage list` over the same grid (DVC expands ~2,000 foreach stages; `dvc repro --dry`
    cannot plan past stages whose inputs do not exist yet, so it is not a dry run of a fresh grid).

    .venv/bin/python bench/grid_dryrun.py [--points 250] [--skip-dvc]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def grid_params(points: int) -> dict:
    """The default datasets with one swept variant of `points` combinations (learning_rate x dropout x l2)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    rates = [round(0.0005 * (k + 1), 5) for k in range(points // 10)]
    params["variants"]["grid"] = {
        "sweep": {"learning_rate": rates, "dropout": [0.0, 0.2, 0.5, 0.6, 0.7], "l2": [0.0, 0.001]}
    }
    params["run"]["variants"] = ["grid"]
    return params


def copy_files(dest: Path) -> None:
    """The project's tracked files (links as links) into dest: a fresh clone's working tree."""
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for rel in listed:
        src = ROOT / rel
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            (dest / rel).symlink_to(os.readlink(src))
        elif src.is_file():
            shutil.copy2(src, dest / rel)


def copy_project(dest: Path, params: dict) -> None:
    copy_files(dest)
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run([sys.executable, "-m", "mlbasics", "dvc-yaml"], cwd=dest, check=True, capture_output=True)
    for cmd in (
        ["git", "init", "-q"],
        ["git", "add", "-A"],
        ["git", "-c", "user.name=b", "-c", "user.email=b@example.invalid", "commit", "-qm", "grid"],
    ):
        subprocess.run(cmd, cwd=dest, check=True, capture_output=True)


REPEATS = 3


def timed(cmd: list[str], cwd: Path) -> tuple[float, str]:
    """The median wall time of REPEATS runs (the first one warms the file cache)."""
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return statistics.median(times), done.stdout + done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=250, help="sweep points per dataset (multiple of 10)")
    parser.add_argument("--skip-dvc", action="store_true")
    parser.add_argument("--repeats", type=int, default=3, help="runs per command; the median is reported")
    args = parser.parse_args()
    global REPEATS
    REPEATS = args.repeats
    params = grid_params(args.points)
    results: dict[str, float | int] = {"variants": args.points * len(params["run"]["datasets"])}
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        copy_project(project, params)
        snakemake = [str(BIN / "snakemake")]
        seconds, out = timed([*snakemake, "-n"], project)  # as typed: prints every job and why it would run
        total = [line.split()[-1] for line in out.splitlines() if line.startswith("total")]
        results.update(snakemake_jobs=int(total[0]) if total else -1, snakemake_dry_run_printing_s=round(seconds, 2))
        seconds, _ = timed([*snakemake, "-n", "-q"], project)  # the DAG alone
        results["snakemake_dry_run_s"] = round(seconds, 2)
        seconds, _ = timed([*snakemake, "-n", "-q", "--workflow-profile", "workflow/profiles/slurm"], project)
        results["snakemake_dry_run_slurm_profile_s"] = round(seconds, 2)
        if not args.skip_dvc:
            seconds, _ = timed([str(BIN / "dvc"), "status"], project)
            results["dvc_status_s"] = round(seconds, 2)
            seconds, _ = timed([str(BIN / "dvc"), "stage", "list"], project)
            results["dvc_stage_list_s"] = round(seconds, 2)
    for key, value in results.items():
        print(f"{key:36s} {value}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
