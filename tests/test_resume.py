"""Determinism and resume through the real train stage command: two runs give identical bytes; a training job
SIGKILLed after a few epochs resumes on rerun from its checkpoint and ends with exactly the weights of an
uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from mlbasics.data import preprocess
from mlbasics.data.loaders import embedded
from mlbasics.methods.checkpoint import Checkpoint
from mlbasics.params import config
from mlbasics.stages.settings import select
from tests.helpers import engine_env

pytestmark = pytest.mark.engine  # real training jobs in subprocesses: ~2 min, too slow for the fast tier
EVERY_EPOCH = {"MLBASICS_CHECKPOINT_EVERY_S": "0"}  # killed jobs: a checkpoint per epoch to be killed after

SPEC = {
    **config.model_defaults(),
    "hidden_layers": [64, 64],
    "dropout": 0.2,
    "epochs": 25,
    "batch_size": 16,
    "learning_rate": 0.005,
}
SETTINGS = {
    "dataset": "toy",
    "variant": "v",
    "seed": 3,
    "model": SPEC,
    "overtraining": config.section_defaults("overtraining"),
    "bootstrap": config.section_defaults("bootstrap"),
}  # what the engines pass


def prepare(folder):
    arrays, scaler = preprocess.preprocess(
        embedded.gaussians(6000, seed=2), split={"train": 0.6, "validation": 0.2, "test": 0.2}, seed=0
    )
    preprocess.save(
        arrays, ["a", "b"], folder / "data/processed/toy/data.npz", scaler, folder / "data/processed/toy/scaler.json"
    )
    return folder


def train_command():
    return [
        sys.executable,
        "-m",
        "mlbasics",
        "train",
        "--settings",
        json.dumps(select("train", SETTINGS)),
        "--threads",
        "1",
    ]


def weights(folder):
    import keras

    model = keras.saving.load_model(folder / "models/toy/v/model/model.keras")
    return [w.tobytes() for w in model.get_weights()]


def history(folder) -> bytes:
    return (folder / "models/toy/v/history.csv").read_bytes()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder = prepare(tmp_path_factory.mktemp("uninterrupted"))
    subprocess.run(train_command(), cwd=folder, env=engine_env(), check=True, capture_output=True)
    return folder


def evaluate(folder, env: dict | None = None) -> bytes:
    settings = {**SETTINGS, "tracking": {"uri": f"sqlite:///{folder}/mlflow.db", "experiment": "resume"}}
    subprocess.run(
        [sys.executable, "-m", "mlbasics", "evaluate", "--settings", json.dumps(select("evaluate", settings))],
        cwd=folder,
        env=env or engine_env(),
        check=True,
        capture_output=True,
    )
    return (folder / "reports/toy/v/metrics.json").read_bytes()


def test_two_runs_give_identical_bytes(tmp_path, uninterrupted):
    again = prepare(tmp_path)
    subprocess.run(train_command(), cwd=again, env=engine_env(), check=True, capture_output=True)
    assert history(again) == history(uninterrupted)
    assert weights(again) == weights(uninterrupted)
    assert evaluate(again) == evaluate(uninterrupted)


def test_a_killed_training_job_resumes_and_ends_with_the_same_weights(tmp_path, uninterrupted):
    folder = prepare(tmp_path)
    checkpoints = folder / "models/toy/v/checkpoint"
    job = subprocess.Popen(
        train_command(),
        cwd=folder,
        env=engine_env(**EVERY_EPOCH),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and job.poll() is None:
        if Checkpoint.last_epoch(checkpoints) >= 3:
            break
        time.sleep(0.05)
    assert job.poll() is None, "the job finished before it could be killed; make it longer"
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    killed_at = Checkpoint.last_epoch(checkpoints)
    assert 3 <= killed_at < SPEC["epochs"] and not (folder / "models/toy/v/model").exists()

    subprocess.run(train_command(), cwd=folder, env=engine_env(), check=True, capture_output=True)
    stats = json.loads((folder / "models/toy/v/run_stats.json").read_text())
    assert stats["resumed_from_epoch"] == killed_at and stats["epochs_run"] == SPEC["epochs"]
    assert weights(folder) == weights(uninterrupted)
    assert history(folder) == history(uninterrupted)
    assert not (folder / "models/toy/v/checkpoint").exists(), "the checkpoint goes once the job is done"
    assert np.isfinite(stats["samples_per_s"])


def test_ctrl_c_stops_a_training_job_in_one_line_and_the_rerun_resumes_to_the_same_weights(tmp_path, uninterrupted):
    """SIGINT (Ctrl-C in a terminal, or Snakemake passing it on) ends a training with exit status 130 and one line
    saying how to go on - no TensorFlow stack - and the rerun resumes from the checkpoint to the same bytes."""
    folder = prepare(tmp_path)
    checkpoints = folder / "models/toy/v/checkpoint"
    job = subprocess.Popen(
        train_command(),
        cwd=folder,
        env=engine_env(**EVERY_EPOCH, MLBASICS_NO_WORKER="1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # as a terminal's job gets it: a shell's background job (CI's, say) inherits SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and job.poll() is None and Checkpoint.last_epoch(checkpoints) < 2:
        time.sleep(0.05)
    assert job.poll() is None, "the job finished before it could be interrupted; make it longer"
    job.send_signal(signal.SIGINT)
    _, err = job.communicate(timeout=120)
    assert job.returncode == 130, err[-3000:]
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("interrupted: train stopped; run the")
    subprocess.run(train_command(), cwd=folder, env=engine_env(), check=True, capture_output=True)
    assert json.loads((folder / "models/toy/v/run_stats.json").read_text())["resumed_from_epoch"] >= 2
    assert weights(folder) == weights(uninterrupted) and history(folder) == history(uninterrupted)


def test_a_killed_snakemake_is_finished_by_the_same_command_with_the_bytes_of_an_uninterrupted_run(tmp_path):
    """SIGKILL of a whole Snakemake run mid-training (its jobs and worker with it: a lost session, a crash); the
    same command again removes the locks it left (saying so), reruns the unfinished jobs, resumes the training
    from its checkpoint, and ends with the history, metrics and weights of a run never interrupted."""
    import keras

    from mlbasics.methods.mlp import register_custom_layers
    from mlbasics.pipeline import declarations as stages
    from tests.helpers import copy_project, run, tiny_params

    params = tiny_params()
    params["run"] = {"datasets": ["gaussians"], "variants": ["baseline"]}
    params["datasets"]["gaussians"]["options"]["n_samples"] = 4000
    params["datasets"]["gaussians"]["model"].update(hidden_layers=[64, 64], epochs=12, batch_size=16)
    target = stages.METRICS.format(dataset="gaussians", variant="baseline")
    command = [sys.executable, "-m", "snakemake", "--cores", "1", target]
    killed, reference = (copy_project(tmp_path / name, params) for name in ("killed", "reference"))
    engine = subprocess.Popen(
        command,
        cwd=killed,
        env=engine_env(**EVERY_EPOCH),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    checkpoints = killed / "models/gaussians/baseline/checkpoint"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and engine.poll() is None and Checkpoint.last_epoch(checkpoints) < 3:
        time.sleep(0.05)
    assert engine.poll() is None, "the run finished before it could be killed; make it longer"
    os.killpg(engine.pid, signal.SIGKILL)
    engine.wait()
    assert list((killed / ".snakemake" / "locks").iterdir()), "the killed Snakemake left its locks"
    again = run(command, cwd=killed)
    assert "removed the locks of an earlier Snakemake" in again.stderr
    stats = json.loads((killed / stages.RUN_STATS.format(dataset="gaussians", variant="baseline")).read_text())
    assert stats["resumed_from_epoch"] >= 3
    run(command, cwd=reference)
    register_custom_layers()
    for template in (stages.HISTORY, stages.METRICS):
        path = template.format(dataset="gaussians", variant="baseline")
        assert (killed / path).read_bytes() == (reference / path).read_bytes(), path
    model = stages.MODEL.format(dataset="gaussians", variant="baseline") + "/model.keras"
    assert [w.tobytes() for w in keras.saving.load_model(killed / model).get_weights()] == [
        w.tobytes() for w in keras.saving.load_model(reference / model).get_weights()
    ]


# The fault injector: SIGKILL this training job right after one step of one epoch's checkpoint save.
KILL_AT = """
import os, signal, sys
from mlbasics import cli
from mlbasics.methods.checkpoint import Checkpoint
step, epoch = sys.argv[1], int(sys.argv[2])
def reached(self, at, at_epoch):
    if (at, at_epoch) == (step, epoch):
        os.kill(os.getpid(), signal.SIGKILL)
Checkpoint.reached = reached
sys.exit(cli.main(sys.argv[3:]))
"""
# Trains (or resumes) and evaluates in each folder in turn, in one process: one TensorFlow import for all.
FINISH = """
import json, os, sys
from mlbasics import cli
from mlbasics.stages.settings import select
for folder in sys.argv[2:]:
    os.chdir(folder)
    for stage in ("train", "evaluate"):
        settings = json.dumps(select(stage, json.loads(sys.argv[1])))
        assert cli.main([stage, "--settings", settings, "--threads", "1"]) == 0, (folder, stage)
"""
STOPPING = {
    **SETTINGS,
    "model": {**SPEC, "epochs": 5, "batch_size": 64, "early_stopping": {"patience": 50}},
    "tracking": {"uri": "sqlite:///mlflow.db", "experiment": "resume", "mode": "offline"},
}


def test_a_kill_at_any_step_of_the_checkpoint_save_resumes_to_the_same_bytes(tmp_path):
    """SIGKILL after each step of epoch 3's save (temporary folder made, model, best weights, record written,
    epoch committed, older epochs pruned): every resumed run ends byte-identical to an uninterrupted one."""
    settings = json.dumps(STOPPING)  # train's part for the killed jobs; FINISH picks each stage's
    reference = prepare(tmp_path / "reference")
    killed = {step: prepare(tmp_path / step) for step in Checkpoint.SAVE_STEPS}
    jobs = {
        step: subprocess.Popen(
            [
                sys.executable,
                "-c",
                KILL_AT,
                step,
                "3",
                "train",
                "--settings",
                json.dumps(select("train", STOPPING)),
                "--threads",
                "1",
            ],
            cwd=folder,
            env=engine_env(**EVERY_EPOCH),
            stdout=subprocess.DEVNULL,
            stderr=(folder / "stderr.txt").open("w"),
        )
        for step, folder in killed.items()
    }  # all at once: one job's kill does not depend on another's
    for step, job in jobs.items():
        folder = killed[step]
        assert job.wait(timeout=600) == -signal.SIGKILL, (folder / "stderr.txt").read_text()[-2000:]
        committed = Checkpoint.last_epoch(folder / "models/toy/v/checkpoint")
        assert committed == (3 if step in ("commit", "prune") else 2), step
        assert not (folder / "models/toy/v/model").exists()
    folders = [str(reference), *map(str, killed.values())]
    finishing = [
        subprocess.Popen([sys.executable, "-c", FINISH, settings, *half], env=engine_env(), stdout=subprocess.DEVNULL)
        for half in (folders[::2], folders[1::2])
    ]
    assert [job.wait(timeout=600) for job in finishing] == [0, 0]
    for step, folder in killed.items():
        stats = json.loads((folder / "models/toy/v/run_stats.json").read_text())
        assert stats["resumed_from_epoch"] == (3 if step in ("commit", "prune") else 2), step
        assert history(folder) == history(reference), step
        assert weights(folder) == weights(reference), step
        metrics = "reports/toy/v/metrics.json"
        assert (folder / metrics).read_bytes() == (reference / metrics).read_bytes(), step
        assert not (folder / "models/toy/v/checkpoint").exists()
