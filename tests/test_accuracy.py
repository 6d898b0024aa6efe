"""The default params.yaml reaches the accuracy the lecture expects: each dataset's baseline, trained by the
real stage code on the real data with the default settings, scored on its held-out test split."""

import pytest

from mlbasics.data import loaders as datasets
from mlbasics.data import preprocess
from mlbasics.evaluation import evaluate
from mlbasics.params import config
from mlbasics.pipeline import declarations as stages
from tests.helpers import ROOT, fit_mlp

MINIMUM = {"gaussians": 0.90, "iris": 0.90, "digits": 0.93, "mnist5k": 0.88}


@pytest.mark.parametrize("dataset", list(MINIMUM))
def test_baseline_test_accuracy(dataset):
    params = config.load_params(ROOT / "params.yaml")
    source = stages.stage_settings(params, "dataset", dataset)
    prep = stages.stage_settings(params, "preprocess", dataset)
    raw = datasets.make(source["loader"], source["options"])
    arrays, _ = preprocess.preprocess(
        raw,
        split=prep["split"],
        seed=prep["seed"],
        pixel_scale=prep["pixel_scale"],
        flatten=prep["flatten"],
        scaler=prep["scaler"],
    )
    settings = stages.stage_settings(params, "train", dataset, "baseline")
    model, _, _ = fit_mlp(arrays, len(raw.class_names), settings["model"], settings["seed"])
    predicted = evaluate.classes_of(model.predict(arrays["x_test"], verbose=0))
    accuracy = evaluate.classification_metrics(arrays["y_test"], predicted, raw.class_names)["accuracy"]
    assert accuracy >= MINIMUM[dataset], f"{dataset} baseline test accuracy {accuracy:.4f}"
