"""What a pipeline run costs beyond its training: the default grid from scratch, with and without the warm worker.

For each mode, in a fresh copy of the project (no mlflow.db, no downloads but the embedded data), runs
`snakemake --cores N` and prints, from that one run:
  - the wall time, and the summed in-process training time (`train_wall_s` of every run_stats.json);
  - their ratio wall / (training / cores): 1.0 would be a pipeline that costs nothing but its training;
  - per (dataset, variant): the train job's and the evaluate job's time (from Snakemake's log: job start to
    "Finished", 1 s resolution) minus its training time - the fixed cost each variant pays;
  - where the CPU went: the run's processes all together (the kernel's account of Snakemake and everything it
    waited for), the cores' idle time (cores x wall minus that), and with the worker the CPU of its jobs by stage
    (the file MLBASICS_WORKER_STATS names: a line per job) - the rest is Snakemake, the worker's imports and the
    jobs' client processes;
  - the lowest ratio this run's CPU allows, whatever the scheduling: wall >= CPU / cores, so the ratio >= CPU /
    training ("floor"); and, from the worker's account, the same floor were the evaluate stage's CPU zero.

    .venv/bin/python bench/pipeline_overhead.py [--cores 2] [--modes worker,no-worker] [--configfile F] [--until RULE]

`--until train` stops after the trainings (Snakemake's --until: no evaluation, report or MLflow run): the ratio of
the pipeline up to its trained models, to set beside the whole run's - what the stages after training add.

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grid_dryrun import copy_files  # bench/ is on sys.path when a script here runs

from mlbasics.pipeline import worker

ROOT = Path(__file__).resolve().parents[1]
STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")


def job_times(log: str) -> dict[tuple[str, str], float]:
    """(rule, jobid) -> seconds from Snakemake's console log: a job's block and its "Finished jobid" line each
    follow a time stamp."""
    started, times, stamp, rule = {}, {}, None, None
    for line in log.splitlines():
        if m := STAMP.match(line.strip()):
            stamp = dt.datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y")
        elif m := re.match(r"^(?:local)?rule (\w+):$", line.strip()):
            rule = m.group(1)
        elif (m := re.match(r"^jobid: (\d+)$", line.strip())) and rule:
            started[m.group(1)] = (rule, stamp)
            rule = None
        elif (m := re.match(r"^Finished jobid: (\d+)", line.strip())) and m.group(1) in started:
            name, began = started[m.group(1)]
            times[(name, m.group(1))] = (stamp - began).total_seconds()
    return times


def run_mode(mode: str, cores: int, configfile: str | None, until: str | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"mlbasics-bench-{mode}-") as tmp:
        project = Path(tmp) / "project"
        copy_files(project)
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        if mode == "no-worker":
            env[worker.ENV_OFF] = "1"
        command = [sys.executable, "-m", "snakemake", "--cores", str(cores)]
        if configfile:
            command += ["--configfile", str(Path(configfile).resolve())]
        if until:
            command += ["--until", until]
        job_stats = Path(tmp) / "jobs.jsonl"
        env[worker.ENV_STATS] = str(job_stats)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - began
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            sys.exit(f"{mode}: snakemake exited {done.returncode}\n{done.stderr[-3000:]}")
        stats = [json.loads(p.read_text()) for p in project.glob("models/*/*/run_stats.json")]
        training = sum(s["train_wall_s"] for s in stats)
        jobs = job_times(done.stdout + done.stderr)
        per_pair = sum(t for (rule, _), t in jobs.items() if rule in ("train", "evaluate"))
        pairs = len(stats)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        by_stage = cpu_by_stage(job_stats)
        return {
            "mode": mode,
            "wall_s": round(wall, 1),
            "training_s": round(training, 1),
            "pairs": pairs,
            "ratio": round(wall / (training / cores), 2),
            "overhead_per_pair_s": round((per_pair - training) / pairs, 2),
            "warm_jobs": sum(1 for s in stats if s.get("warm_worker")),
            "cpu_s": round(cpu, 1),
            "idle_core_s": round(cores * wall - cpu, 1),
            "cpu_by_stage_s": by_stage,
        } | floors(cpu, training, by_stage)


def floors(cpu: float, training: float, by_stage: dict[str, float]) -> dict:
    """The lowest ratios the run's CPU allows (wall >= CPU / cores): as run, and without the evaluate stage's CPU."""
    result = {"ratio_floor": round(cpu / training, 2)}
    if "evaluate" in by_stage:
        result["ratio_floor_without_evaluate"] = round((cpu - by_stage["evaluate"]) / training, 2)
    return result


STAGE_GROUPS = {
    "download": "data",
    "dataset": "data",
    "preprocess": "data",
    "train": "train",
    "evaluate": "evaluate",
    "report": "report",
}  # the rest (track, check, summary): aggregates


def cpu_by_stage(path: Path) -> dict[str, float]:
    """CPU seconds of the worker's jobs by stage (its MLBASICS_WORKER_STATS file; empty without a worker)."""
    totals: dict[str, float] = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        job = json.loads(line)
        group = STAGE_GROUPS.get(job["argv"][0] if job["argv"] else "", "aggregates")
        totals[group] = totals.get(group, 0.0) + job["cpu_s"]
    return {group: round(seconds, 2) for group, seconds in totals.items()}


def describe_cpu(r: dict, cores: int) -> str:
    """One line: where the run's CPU went."""
    text = (
        f"{'':>12}CPU {r['cpu_s']:.1f} s of {cores} x wall = {cores * r['wall_s']:.1f} core-s "
        f"(idle {r['idle_core_s']:.1f})"
    )
    if r["cpu_by_stage_s"]:
        jobs = sum(r["cpu_by_stage_s"].values())
        parts = ", ".join(f"{name} {seconds:.1f}" for name, seconds in sorted(r["cpu_by_stage_s"].items()))
        text += (
            f"; the worker's jobs {jobs:.1f} s ({parts}; training {r['training_s']:.1f} of train's), "
            f"the rest (Snakemake, the worker's imports, the jobs' clients) {r['cpu_s'] - jobs:.1f} s"
        )
    text += f"\n{'':>12}lowest ratio this CPU allows (CPU / training) {r['ratio_floor']:.2f}"
    if "ratio_floor_without_evaluate" in r:
        text += f", with the evaluate stage's CPU left out {r['ratio_floor_without_evaluate']:.2f}"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--modes", default="worker,no-worker")
    parser.add_argument("--configfile", help="merged over params.yaml (e.g. config/sweep-200.yaml)")
    parser.add_argument("--until", help="stop after this rule's jobs (e.g. train: the pipeline up to trained models)")
    args = parser.parse_args()
    results = [run_mode(mode, args.cores, args.configfile, args.until) for mode in args.modes.split(",")]
    for r in results:
        print(
            f"{r['mode']:>10}: wall {r['wall_s']:7.1f} s, training {r['training_s']:7.1f} s "
            f"({r['pairs']} runs, {r['warm_jobs']} trained in the worker), wall / (training / {args.cores} cores) "
            f"= {r['ratio']:.2f}, overhead per (dataset, variant) {r['overhead_per_pair_s']:.1f} s"
        )
        print(describe_cpu(r, args.cores))
    if len(results) == 2:
        print(f"speed-up of the whole run: {results[1]['wall_s'] / results[0]['wall_s']:.2f}x")
    print(
        json.dumps(
            {
                "bench": "pipeline_overhead",
                "cores": args.cores,
                "configfile": args.configfile,
                "until": args.until,
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
