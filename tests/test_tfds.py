"""A TensorFlow Datasets source by name: a real TFDS dataset written to a data_dir by TFDS itself (no network
here), found by name by the download stage and read, resized, by the dataset stage."""

from __future__ import annotations

import numpy as np
import pytest

from mlbasics.cli import run_stage
from mlbasics.data import arrays as data
from mlbasics.data import download
from mlbasics.params import config
from tests.helpers import ROOT, settings_for


def write_tfds_dataset(data_dir, name="toy_pictures"):
    """20 colour pictures (40x30), two classes, in TFDS' own format (TFRecord shards + dataset_info.json)."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (20, 40, 30, 3), dtype=np.uint8)
    labels = np.arange(20) % 2

    def part(rows):
        return tf.data.Dataset.from_tensor_slices({"image": images[rows], "label": labels[rows]})

    features = tfds.features.FeaturesDict(
        {"image": tfds.features.Image(shape=(40, 30, 3)), "label": tfds.features.ClassLabel(names=["horse", "human"])}
    )
    splits = {"train": part(slice(0, 15)), "test": part(slice(15, 20))}
    tfds.dataset_builders.store_as_tfds_dataset(
        name=name,
        version="1.0.0",
        data_dir=str(data_dir),
        features=features,
        description="test pictures",
        split_datasets=splits,
    )


def params_with(options):
    raw = config.load_params(ROOT / "params.yaml")
    raw["datasets"]["pictures"] = {
        "loader": "tfds",
        "options": options,
        "preprocess": {"pixel_scale": 255},
        "model": {},
    }
    return config.validate_params(raw)


def test_a_tfds_dataset_by_name_with_resize(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_tfds_dataset(tmp_path / "tfds")
    params = params_with({"name": "toy_pictures", "data_dir": str(tmp_path / "tfds"), "resize": [16, 12]})
    for stage in ("download", "dataset"):
        run_stage(stage, settings_for(params, stage, "pictures"))
    ds = data.load("data/raw/pictures.npz")
    assert ds.x.shape == (20, 16, 12) and ds.class_names == ["horse", "human"]  # greyscale by default
    assert sorted(np.bincount(ds.y).tolist()) == [10, 10]
    assert (tmp_path / "reports/pictures/preview.png").is_file()


def test_an_unknown_tfds_name_is_a_clear_error(tmp_path):
    policy = {**config.section_defaults("download"), "cache_dir": str(tmp_path / "cache")}
    with pytest.raises(download.DownloadError) as info:
        download.fetch("pictures", "tfds", {"name": "no_such_dataset_here"}, policy)
    message = str(info.value)
    assert "dataset 'pictures': TFDS could not prepare 'no_such_dataset_here'" in message
    assert "not found" in message and len(message.splitlines()) == 2
