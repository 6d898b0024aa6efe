"""`python -m mlbasics progress` while a real training job runs: the grid's trainings, the running one with its epoch
k of N, last losses, seconds per epoch and time left (read from the progress.json the job keeps), then done. The
SLURM test checks the same for a training running as a SLURM job."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest

from tests.helpers import copy_project, engine_env, run, tiny_params

pytestmark = pytest.mark.engine
CLI = [sys.executable, "-m", "mlbasics"]


def progress_row(project, run_name: str) -> str:
    out = run([*CLI, "progress"], cwd=project, COLUMNS="200").stdout
    return next(line for line in out.splitlines() if run_name in line)


def test_progress_shows_a_running_local_training_with_its_epoch_and_time_left(tmp_path):
    params = tiny_params()
    params["run"] = {"datasets": ["gaussians"], "variants": ["baseline", "dropout"]}
    params["datasets"]["gaussians"]["options"]["n_samples"] = 6000
    params["datasets"]["gaussians"]["model"]["epochs"] = 150
    project = copy_project(tmp_path / "project", params)
    for stage in ("download", "dataset", "preprocess"):
        run([*CLI, stage, "--params", "params.yaml", "--dataset", "gaussians"], cwd=project)
    assert "pending" in progress_row(project, "gaussians/baseline")
    job = subprocess.Popen(
        [*CLI, "train", "--params", "params.yaml", "--dataset", "gaussians", "--variant", "baseline"],
        cwd=project,
        env=engine_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline, row = time.monotonic() + 300, ""
        while time.monotonic() < deadline and job.poll() is None:
            row = progress_row(project, "gaussians/baseline")
            if re.search(r"\s\d+/150\s", row):  # running: epoch k of 150
                break
            time.sleep(0.5)
        assert re.search(r"gaussians/baseline\s+(\d+)/150\s+[\d.]+ / [\d.]+\s+[\d.]+ s/ep\s+\d+ s", row), row
    finally:
        job.wait(timeout=600)
    assert job.returncode == 0
    assert re.search(r"done\s+150\s", progress_row(project, "gaussians/baseline"))
    assert "pending" in progress_row(project, "gaussians/dropout")
