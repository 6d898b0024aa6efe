"""Train: a Keras 3 MLP built from a spec, validated every epoch; saves the model and a per-epoch history."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import preprocess
from .io import atomic_path, write_csv

HISTORY_COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]


def configure_tensorflow(threads: int) -> None:
    """Quiet TensorFlow and limit it to the job's threads (0 = all cores). Call before any TF op runs."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import tensorflow as tf

    if threads > 0 and tf.config.threading.get_intra_op_parallelism_threads() != threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # TF already ran ops in this process (a library caller): keep its pools
            pass


def task_for(n_classes: int) -> str:
    if n_classes < 2:
        raise ValueError(f"need at least 2 classes, got {n_classes}")
    return "binary" if n_classes == 2 else "multiclass"


def make_optimizer(spec: dict):
    import keras

    name, lr = spec["optimizer"], spec["learning_rate"]
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=spec.get("momentum", 0.0))
    known = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop,
             "adagrad": keras.optimizers.Adagrad}
    if name not in known:
        raise ValueError(f"unknown optimizer {name!r} (known: sgd, {', '.join(known)})")
    return known[name](learning_rate=lr)


def build_mlp(n_features: int, n_classes: int, spec: dict):
    """Dense layers from `spec`; the output layer and loss follow the task (sigmoid+BCE or softmax+CE)."""
    import keras
    from keras import layers

    l2 = keras.regularizers.L2(spec["l2"]) if spec.get("l2") else None
    inputs = keras.Input(shape=(n_features,), name="features")
    x = inputs
    for i, units in enumerate(spec["hidden_layers"]):
        x = layers.Dense(units, activation=spec["activation"], kernel_regularizer=l2, name=f"hidden_{i + 1}")(x)
        if spec.get("dropout"):
            x = layers.Dropout(spec["dropout"], name=f"dropout_{i + 1}")(x)
    if task_for(n_classes) == "binary":
        outputs, loss = layers.Dense(1, activation="sigmoid", name="output")(x), "binary_crossentropy"
    else:
        outputs = layers.Dense(n_classes, activation="softmax", name="output")(x)
        loss = "sparse_categorical_crossentropy"
    model = keras.Model(inputs, outputs, name="mlp")
    model.compile(optimizer=make_optimizer(spec), loss=loss, metrics=["accuracy"])
    return model


def fit(arrays: dict[str, np.ndarray], n_classes: int, spec: dict, seed: int, verbose: int = 0):
    """Build and train; return the model and the history as rows matching HISTORY_COLUMNS."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    model = build_mlp(arrays["x_train"].shape[1], n_classes, spec)
    history = model.fit(
        arrays["x_train"], arrays["y_train"],
        validation_data=(arrays["x_val"], arrays["y_val"]),
        epochs=spec["epochs"], batch_size=spec["batch_size"], shuffle=True, verbose=verbose,
    )
    h = history.history
    rows = [[epoch + 1, *(float(h[k][epoch]) for k in HISTORY_COLUMNS[1:])] for epoch in range(len(h["loss"]))]
    return model, rows


def save_model(model, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        model.save(tmp)


def run(settings: dict, inputs: dict, outputs: dict, threads: int = 0) -> None:
    """The train stage: processed data in, model.keras and history.csv out."""
    configure_tensorflow(threads)
    arrays, class_names = preprocess.load(inputs["data"])
    model, rows = fit(arrays, len(class_names), settings["model"], settings["seed"], verbose=2)
    save_model(model, outputs["model"])
    write_csv(outputs["history"], HISTORY_COLUMNS, rows)
