"""The engines' locks. Snakemake's after a Snakemake that was killed (SIGKILL, a lost login session, a power cut):
it leaves `.snakemake/locks/` behind, and the next run stops with a LockException asking for `--unlock`. Where no
Snakemake process runs in the folder any more - told from /proc, so Linux only; elsewhere nothing is removed -
those locks are stale, and the next run removes them itself and says so.

And the two engines on one project: Snakemake and DVC write the same outputs, and neither knows the other's
locks, so `dvc repro` beside a running Snakemake rebuilt files under it. A Snakemake refuses to start while a DVC
command holds paths of the project (`.dvc/tmp/rwlock`, with a live process), and a DVC job refuses to run while a
Snakemake runs in the project: one line each, naming the other. Light imports only: the Snakefile reads it.
"""

from __future__ import annotations

import os
from pathlib import Path


def _is_snakemake(argv: list[str]) -> bool:
    """A Python process running Snakemake (`python -m snakemake`, or its console script), not a wrapper such as
    `timeout ... snakemake` or a shell that names it."""
    if not argv or not Path(argv[0]).name.startswith("python"):
        return False
    return argv[1:3] == ["-m", "snakemake"] or (len(argv) > 1 and Path(argv[1]).name == "snakemake")


def snakemake_here(root: Path) -> int | None:
    """The process id of another Snakemake running with `root` as its working folder, or None (also where it
    cannot be told)."""
    return _running_here(root) or None


def _running_here(root: Path) -> int | bool | None:
    """Another Snakemake process's id with `root` as its working folder, False for none; None where it cannot be
    told (no /proc)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    me, here = os.getpid(), root.resolve()
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            argv = [os.fsdecode(part) for part in (entry / "cmdline").read_bytes().split(b"\0")]
            if _is_snakemake(argv) and Path(os.readlink(entry / "cwd")) == here:
                return int(entry.name)
        except OSError:  # gone meanwhile, or another user's
            continue
    return False


def dvc_here(root: Path) -> tuple[int, str] | None:
    """A live DVC command holding paths of the project at `root` (its read/write lock): (process id, command)."""
    import json

    try:
        held = json.loads((root / ".dvc" / "tmp" / "rwlock").read_text() or "{}")
    except (OSError, ValueError):
        return None
    for entries in (*held.get("write", {}).values(), *held.get("read", {}).values()):
        for entry in entries if isinstance(entries, list) else [entries]:
            pid = entry.get("pid") if isinstance(entry, dict) else None
            if isinstance(pid, int) and pid != os.getpid() and _alive(pid):
                return pid, str(entry.get("cmd", "dvc"))
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's: alive
        return True
    return True


def clear_stale(root: Path, settle_s: float = 5.0) -> list[Path]:
    """Remove Snakemake's lock files in `root` when no other Snakemake runs there; the files removed. Careful on
    purpose, since removing a live run's locks would let two runs write the same files: the locks must be older than
    `settle_s` (a Snakemake that has just taken them is not mistaken for a dead one), and two looks at the
    processes, apart, must both find none."""
    import time

    found = sorted((root / ".snakemake" / "locks").glob("*.lock"))
    try:
        if not found or time.time() - max(p.stat().st_mtime for p in found) < settle_s:
            return []
    except OSError:  # removed meanwhile (the run that held them ended)
        return []
    for look in range(2):
        if _running_here(root) is not False:  # a live one, or one that cannot be told apart
            return []
        if not look:
            time.sleep(0.2)
    for path in found:
        path.unlink(missing_ok=True)
    return found
