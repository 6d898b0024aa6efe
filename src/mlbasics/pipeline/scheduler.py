"""A work-around for Snakemake's scheduler spinning on large grids (Snakemake 9, read at 9.27.1).

Snakemake always has a job rate limiter (`--max-jobs-per-timespan`, default 100/1s), and with it every pass of
its scheduling loop arms a new one-second `threading.Timer` that starts another pass
(`JobScheduler._schedule_reevalutation`). Passes caused by anything else - each job that ends - arm one more, so
the number of timers alive grows by one per finished job, each re-arming itself every second: after N jobs the
scheduler makes ~N passes a second, each checking the inputs of every ready job. Profiled on a 100-variant sweep
(208 jobs): 13,226 passes, most of Snakemake's 190 s; on the 200-variant sweep Snakemake's own process used
218 s of CPU - half of one of the two cores - doing nothing useful.

Here a scheduler keeps at most one pending re-evaluation: one timer is enough, since the pass it starts arms the
next one if the limit still holds jobs back. The timer is a daemon, so it does not hold Snakemake's exit for up to
a second either. The same jobs run to the same outputs; only the idle passes go.
"""

from __future__ import annotations

import sys
import threading

_PENDING = "_mlbasics_reevaluation_pending"


def coalesce_reevaluations() -> bool:
    """Patch Snakemake's JobScheduler (in this process) to keep one pending re-evaluation. The method is private:
    where this Snakemake has none (another version), nothing is patched, one line says so, and False returns."""
    try:
        from snakemake.scheduling.job_scheduler import JobScheduler
    except ImportError:
        JobScheduler = None
    original = getattr(JobScheduler, "_schedule_reevalutation", None)
    if original is None:
        print(
            "mlbasics: this Snakemake's scheduler has no JobScheduler._schedule_reevalutation; its re-evaluations are "
            "left as they are (large grids may keep Snakemake's own process busy: src/mlbasics/pipeline/scheduler.py)",
            file=sys.stderr,
        )
        return False
    if getattr(original, "coalesced", False):
        return True
    lock = threading.Lock()

    def schedule_reevaluation(self, delay) -> None:
        with lock:
            if getattr(self, _PENDING, False):
                return  # the pending one starts a pass, which re-arms if still needed
            setattr(self, _PENDING, True)

        def fire() -> None:
            with lock:
                setattr(self, _PENDING, False)
            self._open_jobs.release()

        timer = threading.Timer(delay, fire)
        timer.daemon = True
        timer.start()

    schedule_reevaluation.coalesced = True
    JobScheduler._schedule_reevalutation = schedule_reevaluation
    return True
