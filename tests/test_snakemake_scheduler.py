"""The work-around for Snakemake's multiplying scheduler timers: the real JobScheduler gets it, and however often
its loop asks for a re-evaluation, one timer is pending and releases the loop once."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

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
