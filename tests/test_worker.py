"""The warm worker with the real train and evaluate stages: a job run by it gives the bytes of a lone process;
the scheduler's signals reach the job; killing a job, the worker or the process that started it leaves no
process behind; and the killed job resumes to the same weights."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlbasics.methods.checkpoint import Checkpoint
from mlbasics.pipeline import worker
from tests.helpers import engine_env
from tests.test_resume import (
    EVERY_EPOCH,
    evaluate,
    history,
    prepare,
    train_command,
    uninterrupted,  # noqa: F401 (a fixture)
    weights,
)

pytestmark = pytest.mark.engine


def start_worker(ready: bool = True) -> tuple[dict, dict]:
    """A worker served for this test process (once it is ready, unless told not to wait); (its handle, the
    environment that sends jobs to it)."""
    handle = worker.start()
    where = os.environ.pop(worker.ENV)  # only the jobs given `env` use it, not every later test's subprocess
    imported = Path(handle["folder"]) / "ready"  # the worker writes it once everything is imported
    if not ready:
        assert not imported.exists(), "still importing"
        return handle, engine_env(**{worker.ENV: where})
    deadline = time.monotonic() + 180
    while not imported.exists() and time.monotonic() < deadline:
        assert handle["process"].poll() is None, "the worker exited while importing"
        time.sleep(0.2)
    assert imported.exists(), "the worker did not get ready"
    return handle, engine_env(**{worker.ENV: where})


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    """(handle, environment, the file the worker writes a line per job to)."""
    stats = tmp_path_factory.mktemp("worker") / "jobs.jsonl"
    os.environ[worker.ENV_STATS] = str(stats)  # the worker reads it from its own environment
    try:
        handle, env = start_worker()
    finally:
        del os.environ[worker.ENV_STATS]
    yield handle, env, stats
    worker.stop(handle)
    assert not os.path.exists(handle["folder"]), "the worker's socket folder is removed"


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":  # exited, waiting for its parent to read the status
            return True
        time.sleep(0.1)
    return False


def start_training(folder: Path, env: dict) -> subprocess.Popen:
    job = subprocess.Popen(
        train_command(),
        cwd=folder,
        env={**env, **EVERY_EPOCH},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while job.poll() is None and time.monotonic() < deadline:
        if Checkpoint.last_epoch(folder / "models/toy/v/checkpoint") >= 3:
            return job
        time.sleep(0.05)
    raise AssertionError(f"the job ended before it could be interrupted: {job.communicate()}")


def test_a_job_in_the_worker_gives_the_bytes_of_a_lone_process(tmp_path, uninterrupted, warm):  # noqa: F811
    folder = prepare(tmp_path)
    started = time.monotonic()
    subprocess.run(train_command(), cwd=folder, env=warm[1], check=True, capture_output=True)
    stats = json.loads((folder / "models/toy/v/run_stats.json").read_text())
    assert stats.get("warm_worker") is True, "the job did not run in the worker"
    assert history(folder) == history(uninterrupted) and weights(folder) == weights(uninterrupted)
    print(f"train job in the worker: {time.monotonic() - started:.1f} s wall, {stats['train_wall_s']} s training")
    assert evaluate(folder, warm[1]) == evaluate(uninterrupted), "metrics.json: the same bytes"
    assert (folder / "reports/toy/v/predictions.csv").read_bytes() == (
        uninterrupted / "reports/toy/v/predictions.csv"
    ).read_bytes()
    # the exit status and the one-line error of a bad request come back as a lone process gives them
    bad = subprocess.run(
        [sys.executable, "-m", "mlbasics", "train", "--params", "params.yaml", "--dataset", "nope", "--variant", "v"],
        cwd=folder,
        env=warm[1],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "params.yaml" in bad.stderr and "Traceback" not in bad.stderr
    # a line per job for benchmarks: stage, exit status, and the CPU the kernel counted for the job's child
    jobs = [json.loads(line) for line in warm[2].read_text().splitlines()]
    ours = [j for j in jobs if Path(j["cwd"]).resolve() == folder.resolve()]
    assert [(j["argv"][0], j["exit"]) for j in ours] == [("train", 0), ("evaluate", 0), ("train", 2)], jobs
    trained = ours[0]
    assert stats["train_wall_s"] < trained["wall_s"] and 0.5 * stats["train_wall_s"] < trained["cpu_s"], trained


def test_a_signal_reaches_the_job_and_the_rerun_resumes(tmp_path, uninterrupted, warm):  # noqa: F811
    folder = prepare(tmp_path)
    job = start_training(folder, warm[1])
    running = children_of(warm[0]["process"].pid)
    assert len(running) == 1, "the job runs in a child of the worker"
    job.send_signal(signal.SIGTERM)
    job.communicate(timeout=60)
    assert job.returncode == -signal.SIGTERM, "the job ends as a lone process does on SIGTERM"
    assert gone(running[0]) and not children_of(warm[0]["process"].pid)
    subprocess.run(train_command(), cwd=folder, env=warm[1], check=True, capture_output=True)
    stats = json.loads((folder / "models/toy/v/run_stats.json").read_text())
    assert stats["resumed_from_epoch"] >= 3
    assert weights(folder) == weights(uninterrupted) and history(folder) == history(uninterrupted)


def test_a_killed_worker_takes_its_jobs_along_and_they_resume_without_it(tmp_path, uninterrupted):  # noqa: F811
    handle, env = start_worker(ready=False)
    try:
        folder = prepare(tmp_path)
        job = start_training(folder, env)  # started while the worker imports: it waits for it, then runs there
        [child] = children_of(handle["process"].pid)
        handle["process"].kill()
        _, err = job.communicate(timeout=60)
        assert job.returncode == 1 and "the mlbasics worker stopped while running this job" in err
        assert gone(child), "the job's process died with the worker"
    finally:
        worker.stop(handle)
    subprocess.run(train_command(), cwd=folder, env=engine_env(MLBASICS_NO_WORKER="1"), check=True, capture_output=True)
    assert json.loads((folder / "models/toy/v/run_stats.json").read_text()).get("warm_worker") is None
    assert weights(folder) == weights(uninterrupted) and history(folder) == history(uninterrupted)


def test_the_worker_ends_with_the_pipeline_that_started_it_even_when_killed(tmp_path):
    wrapper = subprocess.Popen(
        [sys.executable, "-m", "mlbasics", "worker", "--", "sleep", "20"],
        cwd=tmp_path,
        env=engine_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not children_of(wrapper.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    served = [pid for pid in children_of(wrapper.pid) if b"--serve" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert served, "the wrapper started a worker"
    wrapper.kill()  # no clean-up code runs: the parent-death signal and the worker's polling end it
    wrapper.wait()
    assert gone(served[0], within=15), "the worker outlived the pipeline"


def test_a_bundle_starts_one_worker_and_its_steps_none(monkeypatch):
    """Only a SLURM bundle's own Snakemake starts a worker (test_slurm shows its trainings ran there); its steps'
    Snakemake processes inherit that one, and a lone batch job or a local run starts none here."""
    monkeypatch.setenv("SLURM_JOB_ID", "7")
    monkeypatch.setenv(worker.ENV, json.dumps({"socket": "/nowhere", "pid": 1, "slurm_job": "7"}))
    assert worker.start_in_group_job(True) is None, "a step of the bundle: its bundle's worker serves it"
    assert worker.start_in_group_job(False) is None, "not a bundle"
    monkeypatch.delenv("SLURM_JOB_ID")
    assert worker.start_in_group_job(True) is None, "not in SLURM"


def test_what_the_worker_works_out_once_for_mlflow_is_what_mlflow_computes(tmp_path):
    """worker.warm_caches (run before the worker forks its jobs): MLflow's map of installed packages is built and
    its store's newest schema revision is the one alembic finds; a new store is created and opened again (its
    schema checked against that revision) as without it. In a process of its own: it changes MLflow's state."""
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code = f"""
from mlflow.store.db import utils
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
from mlflow.utils import requirements_utils

from mlbasics.pipeline import worker

original = utils._get_latest_schema_revision
fresh = original()
worker.warm_caches()
assert "numpy" in requirements_utils._MODULES_TO_PACKAGES
assert utils._get_latest_schema_revision is not original, "not memoized: did MLflow rename it?"
assert utils._get_latest_schema_revision() == fresh
SqlAlchemyStore("{store}", "{tmp_path / "artifacts"}").create_experiment("e")  # a new store: created
assert SqlAlchemyStore("{store}", "{tmp_path / "artifacts"}").get_experiment_by_name("e")  # opened: checked
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_folders_of_workers_killed_without_cleaning_up_are_removed_at_the_next_start(tmp_path):
    """A worker and its pipeline both SIGKILLed leave their socket folder; the next start removes it, and leaves
    a live worker's folder and one too young to judge (being set up) alone."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folders = {name: tmp_path / f"{worker.PREFIX}{name}" for name in ("dead", "alive", "young", "no-pid")}
    for name, folder in folders.items():
        folder.mkdir()
        if name != "no-pid":
            (folder / "pid").write_text(str(os.getpid() if name == "alive" else dead.pid))
        if name != "young":
            os.utime(folder, (time.time() - 600, time.time() - 600))
    (tmp_path / "unrelated").mkdir()
    removed = worker.remove_stale(str(tmp_path))
    assert sorted(removed) == sorted(str(folders[name]) for name in ("dead", "no-pid"))
    assert folders["alive"].exists() and folders["young"].exists() and (tmp_path / "unrelated").exists()


def test_data_stages_start_while_the_worker_still_imports_tensorflow(tmp_path):
    """The worker imports in stages: a download and a dataset job run in it before it has everything (TensorFlow,
    MLflow) imported - they do not wait for what they never use."""
    from mlbasics.params import config
    from mlbasics.pipeline import declarations as stages
    from tests.helpers import ROOT

    params = config.load_params(ROOT / "params.yaml")
    handle, env = start_worker(ready=False)
    try:
        for stage in ("download", "dataset"):
            settings = stages.job_settings(params, stage, "gaussians")
            job = subprocess.Popen(
                [sys.executable, "-m", "mlbasics", stage, "--settings", json.dumps(settings)],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            seen = False
            while job.poll() is None:
                seen = seen or bool(children_of(handle["process"].pid))
                time.sleep(0.01)
            assert job.returncode == 0, job.communicate()
            assert seen, f"the {stage} job ran in the worker"
        assert not (Path(handle["folder"]) / "ready").exists(), "before the worker had imported everything"
        assert (tmp_path / stages.RAW.format(dataset="gaussians")).exists()
    finally:
        worker.stop(handle)


def test_a_job_waiting_for_a_worker_that_dies_runs_itself(tmp_path, uninterrupted):  # noqa: F811
    """A training job connected while the worker still imports; the worker dies before starting it: nothing ran
    there, so the job runs in its own process - to the same bytes."""
    handle, env = start_worker(ready=False)
    try:
        folder = prepare(tmp_path)
        job = subprocess.Popen(
            train_command(), cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        time.sleep(1.0)  # connected (a client takes ~0.1 s), while the worker imports for ~10 s
        assert not children_of(handle["process"].pid), "not started yet: training waits for TensorFlow"
        handle["process"].kill()
        _, err = job.communicate(timeout=300)
        assert job.returncode == 0, err
    finally:
        worker.stop(handle)
    assert json.loads((folder / "models/toy/v/run_stats.json").read_text()).get("warm_worker") is None
    assert weights(folder) == weights(uninterrupted) and history(folder) == history(uninterrupted)


def test_a_job_told_to_stop_while_it_waits_runs_nothing_even_when_its_worker_dies(tmp_path):
    """A SIGTERM to a job waiting for the worker's imports (the pipeline ending) is its end: when the worker dies
    before starting it, the job does not fall back to running the stage itself."""
    handle, env = start_worker(ready=False)
    try:
        folder = prepare(tmp_path)
        job = subprocess.Popen(
            train_command(), cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        time.sleep(1.0)  # connected and waiting: training needs TensorFlow, which the worker imports later
        assert not children_of(handle["process"].pid)
        job.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        handle["process"].kill()
        _, err = job.communicate(timeout=120)
        assert job.returncode == -signal.SIGTERM, f"ends as a lone process does on SIGTERM: {err[-2000:]}"
    finally:
        worker.stop(handle)
    assert not (folder / "models/toy/v/run_stats.json").exists(), "nothing trained"
