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

from mlbasics import config, datasets, preprocess
from tests.conftest import engine_env

SPEC = {**config.model_defaults(), "hidden_layers": [64, 64], "dropout": 0.2, "epochs": 25, "batch_size": 16,
        "learning_rate": 0.005}
SETTINGS = {"dataset": "toy", "variant": "v", "seed": 3, "model": SPEC}


def prepare(folder):
    arrays, scaler = preprocess.preprocess(datasets.gaussians(6000, seed=2), split={"train": 0.6, "validation": 0.2,
                                           "test": 0.2}, seed=0)
    preprocess.save(arrays, ["a", "b"], folder / "data/processed/toy/data.npz", scaler,
                    folder / "data/processed/toy/scaler.json")
    return folder


def train_command():
    return [sys.executable, "-m", "mlbasics", "train", "--settings", json.dumps(SETTINGS), "--threads", "1"]


def weights(folder):
    import keras

    model = keras.saving.load_model(folder / "models/toy/v/model.keras")
    return [w.tobytes() for w in model.get_weights()]


def history(folder) -> bytes:
    return (folder / "models/toy/v/history.csv").read_bytes()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder = prepare(tmp_path_factory.mktemp("uninterrupted"))
    subprocess.run(train_command(), cwd=folder, env=engine_env(), check=True, capture_output=True)
    return folder


def evaluate(folder) -> bytes:
    settings = {**SETTINGS, "tracking": {"uri": f"sqlite:///{folder}/mlflow.db", "experiment": "resume"}}
    subprocess.run([sys.executable, "-m", "mlbasics", "evaluate", "--settings", json.dumps(settings)], cwd=folder,
                   env=engine_env(), check=True, capture_output=True)
    return (folder / "reports/toy/v/metrics.json").read_bytes()


def test_two_runs_give_identical_bytes(tmp_path, uninterrupted):
    again = prepare(tmp_path)
    subprocess.run(train_command(), cwd=again, env=engine_env(), check=True, capture_output=True)
    assert history(again) == history(uninterrupted)
    assert weights(again) == weights(uninterrupted)
    assert evaluate(again) == evaluate(uninterrupted)


def test_a_killed_training_job_resumes_and_ends_with_the_same_weights(tmp_path, uninterrupted):
    folder = prepare(tmp_path)
    state = folder / "models/toy/v/checkpoint/state.json"
    job = subprocess.Popen(train_command(), cwd=folder, env=engine_env(), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and job.poll() is None:
        if state.is_file() and json.loads(state.read_text())["epoch"] >= 3:
            break
        time.sleep(0.05)
    assert job.poll() is None, "the job finished before it could be killed; make it longer"
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    killed_at = json.loads(state.read_text())["epoch"]
    assert 3 <= killed_at < SPEC["epochs"] and not (folder / "models/toy/v/model.keras").exists()

    subprocess.run(train_command(), cwd=folder, env=engine_env(), check=True, capture_output=True)
    stats = json.loads((folder / "models/toy/v/run_stats.json").read_text())
    assert stats["resumed_from_epoch"] == killed_at and stats["epochs_run"] == SPEC["epochs"]
    assert weights(folder) == weights(uninterrupted)
    assert history(folder) == history(uninterrupted)
    assert not (folder / "models/toy/v/checkpoint").exists(), "the checkpoint goes once the job is done"
    assert np.isfinite(stats["samples_per_s"])
