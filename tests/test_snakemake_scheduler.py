"""Snakemake's own machinery and ours beside it: the work-around for its multiplying scheduler timers (the real
JobScheduler gets it, and however often its loop asks for a re-evaluation, one timer is pending and releases the
loop once), the stale locks of a killed Snakemake, and Snakemake and DVC kept off one project at the same time."""

from __future__ import annotations

import os
import threading
import time
from types import SimpleNamespace

import pytest
from snakemake.scheduling.job_scheduler import JobScheduler

from mlbasics.pipeline import scheduler as snakemake_scheduler


def test_snakemakes_scheduler_is_patched_once():
    assert snakemake_scheduler.coalesce_reevaluations()
    patched = JobScheduler._schedule_reevalutation
    assert getattr(patched, "coalesced", False)
    assert snakemake_scheduler.coalesce_reevaluations()  # again: nothing wrapped twice
    assert JobScheduler._schedule_reevalutation is patched


def test_many_requests_arm_one_daemon_timer_that_releases_the_loop_once():
    snakemake_scheduler.coalesce_reevaluations()
    scheduler = SimpleNamespace(_open_jobs=threading.Semaphore(0))  # what the method touches of a scheduler
    before = {t.ident for t in threading.enumerate()}
    for _ in range(50):  # 50 finished jobs' passes, each asking for a re-evaluation
        JobScheduler._schedule_reevalutation(scheduler, 0.2)
    timers = [t for t in threading.enumerate() if t.ident not in before]
    assert len(timers) == 1 and timers[0].daemon  # does not hold Snakemake's exit
    assert scheduler._open_jobs.acquire(timeout=2)
    time.sleep(0.3)
    assert not scheduler._open_jobs.acquire(blocking=False), "released more than once"
    JobScheduler._schedule_reevalutation(scheduler, 0.05)  # the pass it started may arm the next one
    assert scheduler._open_jobs.acquire(timeout=2)


def test_a_snakemake_without_the_private_method_is_left_alone_with_one_line(monkeypatch, capsys):
    monkeypatch.delattr(JobScheduler, "_schedule_reevalutation")
    assert snakemake_scheduler.coalesce_reevaluations() is False
    assert not hasattr(JobScheduler, "_schedule_reevalutation")
    said = capsys.readouterr().err.strip().splitlines()
    assert len(said) == 1 and "re-evaluations are left as they are" in said[0]


def test_a_killed_snakemakes_locks_are_removed_only_when_no_snakemake_runs_in_the_folder(tmp_path):
    """pipeline/locks.py: lock files with no Snakemake process in the folder are stale and removed; while one
    runs there (a Python process running a `snakemake` script, here a stand-in that sleeps) they stay; wrappers
    that merely name snakemake (timeout, a shell) do not count."""
    import subprocess
    import sys

    from mlbasics.pipeline import locks

    folder = tmp_path / ".snakemake" / "locks"
    folder.mkdir(parents=True)
    for name in ("0.input.lock", "0.output.lock"):
        (folder / name).write_text("x")
        os.utime(folder / name, (time.time() - 60, time.time() - 60))  # taken a minute ago
    assert locks._is_snakemake(["/venv/bin/python", "-m", "snakemake", "--cores", "2"])
    assert locks._is_snakemake(["/venv/bin/python3.11", "/venv/bin/snakemake", "-n"])
    assert not locks._is_snakemake(["timeout", "300", "/venv/bin/snakemake"])
    assert not locks._is_snakemake(["bash", "-c", "snakemake --cores 2"])
    (tmp_path / "snakemake").write_text("import time\ntime.sleep(60)\n")
    live = subprocess.Popen([sys.executable, str(tmp_path / "snakemake")], cwd=tmp_path)
    deadline = time.monotonic() + 10  # until the stand-in shows in /proc as the process it is
    while time.monotonic() < deadline and locks.snakemake_here(tmp_path) != live.pid:
        time.sleep(0.05)
    try:
        assert locks.clear_stale(tmp_path) == [] and len(list(folder.iterdir())) == 2
    finally:
        live.kill()
        live.wait()
    assert [p.name for p in locks.clear_stale(tmp_path)] == ["0.input.lock", "0.output.lock"]
    assert list(folder.iterdir()) == []
    (folder / "0.input.lock").write_text("x")  # just taken: a Snakemake starting now, not a dead one
    assert locks.clear_stale(tmp_path) == [] and list(folder.iterdir())


@pytest.mark.engine
def test_snakemake_and_dvc_do_not_run_on_one_project_at_once(tmp_path):
    """While a DVC command holds paths of the project (its .dvc/tmp/rwlock, a live process) Snakemake does not
    start; while a Snakemake runs in the project a DVC job (a stage from params) does not run: one line each."""
    import json
    import subprocess
    import sys

    from tests.helpers import copy_project, run, tiny_params

    project = copy_project(tmp_path / "project", tiny_params())
    sleeper = tmp_path / "snakemake"  # a stand-in for a running Snakemake, then for a running dvc
    sleeper.write_text("import time\ntime.sleep(120)\n")
    other = subprocess.Popen([sys.executable, str(sleeper)], cwd=project)
    try:
        (project / ".dvc" / "tmp").mkdir(parents=True)
        lock = {"write": {"data/raw/iris.npz": {"pid": other.pid, "cmd": "dvc repro"}}, "read": {}}
        (project / ".dvc" / "tmp" / "rwlock").write_text(json.dumps(lock))
        started = run([sys.executable, "-m", "snakemake", "--cores", "1"], cwd=project, check=False)
        assert started.returncode != 0
        assert f"dvc is running in this project (pid {other.pid}: dvc repro)" in started.stdout + started.stderr
        assert not (project / "data" / "raw" / "iris.npz").exists()
        (project / ".dvc" / "tmp" / "rwlock").unlink()
        job = run(
            [sys.executable, "-m", "mlbasics", "dataset", "--params", "params.yaml", "--dataset", "iris"],
            cwd=project,
            check=False,
        )
        assert job.returncode == 2 and job.stderr.strip().splitlines() == [
            f"error: dataset: a Snakemake (pid {other.pid}) is running in this project: let it finish or stop it "
            "first; it writes the same outputs"
        ]
    finally:
        other.kill()
        other.wait()
