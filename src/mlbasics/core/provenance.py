"""Provenance of a run: the code (git commit, dirty flag), the machine (host, device), the software versions, and
a fingerprint of everything that decides the result. Light imports: the evaluate stage and the train stage use
it without MLflow."""

from __future__ import annotations

import json
import os
import resource
import socket
import sys
from pathlib import Path


def git_state(cwd: str | Path = ".") -> dict[str, str]:
    """The commit checked out and whether the working tree differs from it ('unknown' outside git)."""
    import subprocess

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"git_commit": "unknown", "git_dirty": "unknown"}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_dirty": "unknown" if status is None else str(bool(status)).lower()}


def device() -> str:
    """What trained: the GPU model(s) TensorFlow sees, else the CPU model (a process that never imported
    TensorFlow - a reference method's - ran on the CPU)."""
    try:
        if "tensorflow" not in sys.modules:
            raise ImportError("no TensorFlow in this process")
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        names = [tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus]
        if names:
            return "GPU: " + ", ".join(names)
    except Exception:
        pass
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU: {cpu} x{os.cpu_count()}"


def versions() -> dict[str, str]:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    found = {"python_version": platform.python_version()}
    for package in ("tensorflow", "keras", "mlflow"):
        try:
            found[f"{package}_version"] = version(package)
        except PackageNotFoundError:
            found[f"{package}_version"] = "none"
    return found


def run_fingerprint(settings: dict, data_sha256: str, git: dict[str, str], software: dict[str, str]) -> dict[str, str]:
    """What decides a run's result, hashed: its resolved settings, its data, the code and the software. The
    same on every machine and every rerun of the same thing, so it goes into metrics.json too."""
    import hashlib

    params_sha = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
    whole = json.dumps([params_sha, data_sha256, git["git_commit"], software], sort_keys=True)
    return {
        "fingerprint": hashlib.sha256(whole.encode()).hexdigest()[:16],
        "params_sha256": params_sha,
        "data_sha256": data_sha256,
        "git_commit": git["git_commit"],
    }


def provenance_tags(prints: dict[str, str], git: dict[str, str], software: dict[str, str]) -> dict[str, str]:
    """Tags for a run: the fingerprint's parts plus where and how it ran."""
    tags = {**prints, **git, **software, "host": socket.gethostname(), "device": device()}
    if os.environ.get("SLURM_JOB_ID"):
        tags["slurm_job_id"] = os.environ["SLURM_JOB_ID"]
    return tags


def fit_stats(
    elapsed: float,
    trained: int,
    epochs_run: int,
    stopped_early: bool,
    start_epoch: int,
    started: float | None = None,
    ended: list[list[int]] | None = None,
) -> dict:
    """A training's run statistics (run_stats.json): wall time, samples/s (epochs x events per second), epochs or
    boosting iterations run, whether it stopped early or resumed, the process's peak memory; and when it ran - the
    start (`started`, Unix seconds) and each epoch's end (`ended`: [epoch, Unix ms] of the epochs this job ran),
    which MLflow shows as the run's times."""
    return {
        "train_wall_s": round(elapsed, 3),
        "samples_per_s": round(trained / elapsed, 1) if elapsed else 0.0,
        "epochs_run": epochs_run,
        "stopped_early": stopped_early,
        "resumed_from_epoch": start_epoch,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        **({"started_ms": int(started * 1000)} if started else {}),
        **({"epoch_end_ms": ended} if ended else {}),
    }
