"""The lecture's "simple neural network in pure Python" (exercise 1): an MLP in NumPy with the forward pass,
backpropagation and (mini-batch) gradient descent written out, as a model backend of the same grid
(`backend: numpy`). The trained weights are handed to an identical Keras model, so evaluation, reports and
MLflow treat both backends alike.

Layers: h_k = f(h_{k-1} W_k + b_k); the output is a sigmoid unit (two classes, binary cross-entropy), a
softmax (cross-entropy), or a linear unit (regression, mean squared error). Computed in float64: this
backend is for reading and checking, not for speed.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.special import expit, log_softmax, softmax

from mlbasics.methods.activations import functions

Params = list[tuple[np.ndarray, np.ndarray]]


def init_weights(sizes: list[int], spec: dict, rng: np.random.Generator) -> Params:
    """Kernels from the spec's initialiser (the same formulas as Keras), biases zero."""
    kind, width = spec.get("initializer", "glorot_uniform"), spec.get("init_scale", 0.05)
    params = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        if kind == "glorot_uniform":
            limit = np.sqrt(6 / (fan_in + fan_out))
            w = rng.uniform(-limit, limit, (fan_in, fan_out))
        elif kind == "glorot_normal":
            w = rng.normal(0, np.sqrt(2 / (fan_in + fan_out)), (fan_in, fan_out))
        elif kind == "he_uniform":
            limit = np.sqrt(6 / fan_in)
            w = rng.uniform(-limit, limit, (fan_in, fan_out))
        elif kind == "he_normal":
            w = rng.normal(0, np.sqrt(2 / fan_in), (fan_in, fan_out))
        elif kind == "random_uniform":
            w = rng.uniform(-width, width, (fan_in, fan_out))
        else:  # random_normal
            w = rng.normal(0, width, (fan_in, fan_out))
        params.append((w, np.zeros(fan_out)))
    return params


def forward(
    params: Params, x: np.ndarray, activation: str, spec: dict | None = None, regression: bool = False
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Output (probabilities, or values for regression), plus every layer's pre-activation z and activation a
    (for backpropagation)."""
    f, _ = functions(spec)[activation]
    a, zs, acts = x, [], [x]
    for k, (w, b) in enumerate(params):
        z = a @ w + b
        zs.append(z)
        if k < len(params) - 1:
            a = f(z)
        elif regression:
            a = z
        else:
            a = expit(z) if w.shape[1] == 1 else softmax(z, axis=1)
        acts.append(a)
    return a, zs, acts


def loss(
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    activation: str,
    l2: float = 0.0,
    spec: dict | None = None,
    regression: bool = False,
) -> float:
    """Mean cross-entropy (or squared error) plus l2 * sum of squared kernel entries (Keras' L2 regulariser)."""
    _, zs, _ = forward(params, x, activation, spec, regression)
    z = zs[-1]
    if regression:
        data = np.mean((z[:, 0] - y) ** 2)
    elif z.shape[1] == 1:  # binary cross-entropy from the logit, numerically stable
        data = np.mean(np.logaddexp(0, z[:, 0]) - y * z[:, 0])
    else:
        data = -np.mean(log_softmax(z, axis=1)[np.arange(len(y)), y])
    return float(data + l2 * sum(np.sum(w**2) for w, _ in params[:-1]))


def gradients(
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    activation: str,
    l2: float = 0.0,
    spec: dict | None = None,
    regression: bool = False,
) -> Params:
    """Backpropagation: dL/dW_k and dL/db_k for every layer."""
    _, df = functions(spec)[activation]
    out, zs, acts = forward(params, x, activation, spec, regression)
    n = len(y)
    # output layer: for sigmoid + BCE and softmax + CE alike, dL/dz = (prediction - target) / n;
    # for a linear unit + MSE it is twice that
    if regression:
        delta = 2 * (out - y[:, None]) / n
    elif out.shape[1] == 1:
        delta = (out - y[:, None]) / n
    else:
        delta = out.copy()
        delta[np.arange(n), y] -= 1
        delta /= n
    grads: Params = []
    for k in range(len(params) - 1, -1, -1):
        w, _ = params[k]
        dw = acts[k].T @ delta
        if k < len(params) - 1:  # the hidden kernels carry the L2 penalty (as built in Keras)
            dw = dw + 2 * l2 * w
        grads.append((dw, delta.sum(axis=0)))
        if k > 0:
            delta = (delta @ w.T) * df(zs[k - 1])
    return grads[::-1]


def accuracy(
    params: Params, x: np.ndarray, y: np.ndarray, activation: str, spec: dict | None = None, regression: bool = False
) -> float:
    """Classification accuracy, or for regression the mean absolute error (history's second column)."""
    out, _, _ = forward(params, x, activation, spec, regression)
    if regression:
        return float(np.mean(np.abs(out[:, 0] - y)))
    predicted = (out[:, 0] > 0.5).astype(int) if out.shape[1] == 1 else out.argmax(axis=1)
    return float(np.mean(predicted == y))


def train(arrays: dict[str, np.ndarray], n_classes: int, spec: dict, seed: int) -> tuple[Params, list[list]]:
    """Mini-batch gradient descent (with optional momentum); returns the weights and one history row per epoch
    (epoch, loss, accuracy, val_loss, val_accuracy), like the Keras backend."""
    regression = n_classes == 0
    target = np.float64 if regression else np.int64
    rng = np.random.default_rng(seed)
    x, y = arrays["x_train"].astype(np.float64), arrays["y_train"].astype(target)
    xv, yv = arrays["x_val"].astype(np.float64), arrays["y_val"].astype(target)
    outputs = n_classes if n_classes > 2 else 1
    params = init_weights([x.shape[1], *spec["hidden_layers"], outputs], spec, rng)
    velocity = [(np.zeros_like(w), np.zeros_like(b)) for w, b in params]
    act, l2, lr, mu = spec["activation"], spec.get("l2", 0.0), spec["learning_rate"], spec.get("momentum", 0.0)
    rows = []
    for epoch in range(spec["epochs"]):
        order = np.random.default_rng([seed, epoch]).permutation(len(y))
        for start in range(0, len(y), spec["batch_size"]):
            batch = order[start : start + spec["batch_size"]]
            grads = gradients(params, x[batch], y[batch], act, l2, spec, regression)
            velocity = [
                (mu * vw - lr * gw, mu * vb - lr * gb) for (vw, vb), (gw, gb) in zip(velocity, grads, strict=True)
            ]
            params = [(w + vw, b + vb) for (w, b), (vw, vb) in zip(params, velocity, strict=True)]
        rows.append(
            [
                epoch + 1,
                loss(params, x, y, act, l2, spec, regression),
                accuracy(params, x, y, act, spec, regression),
                loss(params, xv, yv, act, l2, spec, regression),
                accuracy(params, xv, yv, act, spec, regression),
            ]
        )
    return params, rows
