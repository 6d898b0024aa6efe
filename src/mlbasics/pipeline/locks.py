"""Snakemake's locks after a Snakemake that was killed (SIGKILL, a lost login session, a power cut): it leaves
`.snakemake/locks/` behind, and the next run stops with a LockException asking for `--unlock`. Where no Snakemake
process runs in the folder any more - told from /proc, so Linux only; elsewhere nothing is removed - those locks
are stale, and the next run removes them itself and says so. Light imports only: the Snakefile reads it.
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


def _running_here(root: Path) -> bool | None:
    """Whether another Snakemake process runs with `root` as its working folder; None where it cannot be told."""
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
                return True
        except OSError:  # gone meanwhile, or another user's
            continue
    return False


def clear_stale(root: Path) -> list[Path]:
    """Remove Snakemake's lock files in `root` when no other Snakemake runs there; the files removed."""
    found = sorted((root / ".snakemake" / "locks").glob("*.lock"))
    if not found or _running_here(root) is not False:
        return []
    for path in found:
        path.unlink(missing_ok=True)
    return found
