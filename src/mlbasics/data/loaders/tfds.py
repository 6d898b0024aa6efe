"""The tfds loader: any TensorFlow Datasets image classification set, prepared by the download stage."""

from __future__ import annotations

import numpy as np

from mlbasics.core import formats
from mlbasics.data.arrays import Dataset
from mlbasics.data.loaders.base import Loader


def tfds(
    receipt: dict, name: str, split: str = "all", data_dir: str | None = None, resize: list[int] | None = None
) -> Dataset:
    """Any TensorFlow Datasets image classification set, prepared by the download stage (no network here);
    `resize` [height, width] makes images of different sizes stackable."""
    import tensorflow as tf
    import tensorflow_datasets as tfds_lib

    prepared = receipt["tfds"]
    builder = tfds_lib.builder(prepared["name"], data_dir=prepared["data_dir"])
    split = "+".join(builder.info.splits) if split == "all" else split
    image_key, label_key = builder.info.supervised_keys or ("image", "label")
    data = builder.as_dataset(split=split, shuffle_files=False).map(lambda ex: (ex[image_key], ex[label_key]))
    if resize:
        data = data.map(lambda image, label: (tf.image.resize(image, resize, antialias=True), label))
    images, labels = [], []
    for image, label in tfds_lib.as_numpy(data):
        images.append(image)
        labels.append(int(label))
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise formats.FormatError(f"TFDS {name!r}: images come in {len(shapes)} sizes; set options.resize")
    x = np.stack(images)
    if x.ndim == 4 and x.shape[-1] == 1:  # greyscale images come with a channel axis
        x = x[..., 0]
    names = list(builder.info.features[label_key].names)
    return Dataset(x if x.dtype == np.uint8 else x.astype(np.float32), np.array(labels, np.int64), names)


LOADERS = [
    Loader(
        "tfds",
        tfds,
        options=frozenset({"name", "split", "data_dir", "resize", "seed"}),
        required=frozenset({"name"}),
        images=True,
        receipt=True,
    ),
]
