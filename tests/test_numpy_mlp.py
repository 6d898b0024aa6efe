"""The from-scratch NumPy MLP: its backpropagated gradients equal TensorFlow's (GradientTape on the identical
Keras model, float64) to 1e-5, and it learns the Gaussian toy."""

from __future__ import annotations

import numpy as np
import pytest

from mlbasics.data import preprocess
from mlbasics.data.loaders import embedded
from mlbasics.methods import mlp, numpy_mlp
from mlbasics.params import config
from tests.helpers import fit_mlp

SPEC = {**config.model_defaults(), "hidden_layers": [5, 4], "backend": "numpy", "optimizer": "sgd"}


def keras_gradients(params, x, y, spec, n_classes):
    """Loss gradients of the identical Keras model (float64), by tf.GradientTape."""
    import keras
    import tensorflow as tf

    keras.config.set_floatx("float64")
    try:
        model = mlp.build_mlp(x.shape[1], n_classes, spec)
        model.set_weights([a for layer in params for a in layer])
        loss_fn = {0: keras.losses.MeanSquaredError(), 2: keras.losses.BinaryCrossentropy()}.get(
            n_classes, keras.losses.SparseCategoricalCrossentropy()
        )
        with tf.GradientTape() as tape:
            out = model(x, training=True)
            target = y.reshape(-1, 1).astype(np.float64) if n_classes in (0, 2) else y
            penalties = [tf.cast(v, tf.float64) for v in model.losses] + [tf.constant(0.0, tf.float64)]
            value = tf.cast(loss_fn(target, out), tf.float64) + tf.add_n(penalties)
        grads = tape.gradient(value, model.trainable_weights)
    finally:
        keras.config.set_floatx("float32")
    return float(value), [g.numpy() for g in grads]


@pytest.mark.parametrize("activation", ["sigmoid", "relu", "tanh", "leaky_relu", "swish", "elu", "gelu"])
@pytest.mark.parametrize("n_classes", [0, 2, 3])
def test_backprop_matches_gradient_tape(activation, n_classes):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3))
    y = rng.normal(size=16) if n_classes == 0 else rng.integers(0, n_classes, 16)
    spec = {**SPEC, "activation": activation, "l2": 0.01}
    params = numpy_mlp.init_weights([3, 5, 4, n_classes if n_classes > 2 else 1], spec, rng)
    regression = n_classes == 0
    params = [(w, rng.normal(0, 0.1, b.shape)) for w, b in params]  # non-zero biases exercise db too
    tf_loss, tf_grads = keras_gradients(params, x, y, spec, n_classes)
    assert numpy_mlp.loss(params, x, y, activation, 0.01, spec, regression) == pytest.approx(tf_loss, abs=1e-5)
    ours = [g for layer in numpy_mlp.gradients(params, x, y, activation, 0.01, spec, regression) for g in layer]
    for mine, theirs in zip(ours, tf_grads, strict=True):
        np.testing.assert_allclose(mine, theirs, atol=1e-5, rtol=1e-5)


def test_numpy_backend_learns_the_gaussian_toy():
    arrays, _ = preprocess.preprocess(
        embedded.gaussians(2000, seed=1), split={"train": 0.6, "validation": 0.2, "test": 0.2}, seed=0
    )
    spec = {
        **SPEC,
        "activation": "sigmoid",
        "hidden_layers": [8],
        "learning_rate": 0.5,
        "momentum": 0.5,
        "epochs": 15,
        "batch_size": 32,
    }
    model, rows, stats = fit_mlp(arrays, 2, spec, seed=0)
    assert rows[-1][1] < rows[0][1] and stats["epochs_run"] == 15
    predicted = (model.predict(arrays["x_test"], verbose=0)[:, 0] > 0.5).astype(int)
    assert np.mean(predicted == arrays["y_test"]) >= 0.90  # the Keras model carries the NumPy-trained weights
    _, again, _ = fit_mlp(arrays, 2, spec, seed=0)
    assert again == rows  # deterministic
