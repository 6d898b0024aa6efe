"""Real MNIST test digits (../shared/data/mnist-t10k, IDX .gz) served by a loopback mirror go through the
real download, dataset and preprocess stages; a short training run scores >= 0.90 on held-out real digits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlbasics import cli
from mlbasics.data import arrays as data
from mlbasics.data import preprocess
from mlbasics.evaluation import evaluate
from mlbasics.params import config
from mlbasics.pipeline import declarations as stages
from tests import loopback
from tests.helpers import ROOT, fit_mlp, settings_for

# the workplace's copy next to the checkout; MNIST_T10K_DIR points elsewhere (e.g. from a clone in /tmp)
SHARED = Path(os.environ.get("MNIST_T10K_DIR", ROOT.parent / "shared" / "data" / "mnist-t10k"))
# sha256 of this (recompressed) copy's .gz files, from its README; the canonical origin is the real one
FILES = [
    {
        "name": "t10k-images-idx3-ubyte.gz",
        "sha256": "167310007f03058885c7e95e6c0b19c20de5c7fd3031f4cbdadc9014a523d80b",
        "url": "https://storage.googleapis.com/cvdf-datasets/mnist/t10k-images-idx3-ubyte.gz",
    },
    {
        "name": "t10k-labels-idx1-ubyte.gz",
        "sha256": "fc607395669ec21321ea83e4b82c0544b7e8e63ff5b34337c06bc0a17cc0da3c",
        "url": "https://storage.googleapis.com/cvdf-datasets/mnist/t10k-labels-idx1-ubyte.gz",
    },
]


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"real MNIST test digits not present at {SHARED}")
def test_real_mnist_digits_through_a_loopback_mirror_reach_90_percent(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    raw = config.load_params(ROOT / "params.yaml")
    raw["datasets"]["t10k"] = {
        "loader": "idx",
        "options": {"files": FILES, "images": [FILES[0]["name"]], "labels": [FILES[1]["name"]]},
        "preprocess": {"pixel_scale": 255, "flatten": True, "scaler": "none"},
        "model": {"hidden_layers": [128], "epochs": 4, "batch_size": 64},
    }
    with loopback.serve(SHARED) as server:
        raw["download"] = {"cache_dir": "cache", "mirrors": [server.url], "retries": 0, "timeout": 30}
        params = config.validate_params(raw)
        for stage in ("download", "dataset", "preprocess"):
            cli.run_stage(stage, settings_for(params, stage, "t10k"))
        assert server.requests == ["/t10k-images-idx3-ubyte.gz", "/t10k-labels-idx1-ubyte.gz"]

    digits = data.load("data/raw/t10k.npz")
    assert digits.x.shape == (10000, 28, 28)
    assert digits.y.tolist().count(1) == 1135 and abs(digits.x.mean() - 33.79) < 0.01  # the README's numbers
    split = preprocess.load("data/processed/t10k/data.npz")
    arrays, class_names = split.arrays, split.class_names
    settings = stages.stage_settings(params, "train", "t10k", "baseline")
    model, _, _ = fit_mlp(arrays, len(class_names), settings["model"], settings["seed"])
    predicted = evaluate.classes_of(model.predict(arrays["x_test"], verbose=0))
    accuracy = evaluate.classification_metrics(arrays["y_test"], predicted, class_names)["accuracy"]
    assert accuracy >= 0.90, f"test accuracy on real digits {accuracy:.4f}"
