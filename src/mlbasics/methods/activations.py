"""The lecture's activation functions and their derivatives, in NumPy.

Used by the from-scratch MLP (backpropagation needs f'), and drawn as the report's activation table
(report/lecture.activation_table).
Parameterised ones take the model spec's leaky_slope, swish_beta and elu_alpha.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import erf, expit

SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805
Pair = tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]


def functions(spec: dict | None = None) -> dict[str, Pair]:
    """name -> (f, f') for every hidden-layer activation the model offers."""
    spec = spec or {}
    slope, beta, alpha = spec.get("leaky_slope", 0.01), spec.get("swish_beta", 1.0), spec.get("elu_alpha", 1.0)

    def sigmoid(x):
        return expit(x)

    def swish(x):
        return x * expit(beta * x)

    def d_swish(x):
        s = expit(beta * x)
        return s + beta * x * s * (1 - s)

    def gelu(x):  # exact (erf) form, as Keras' default
        return 0.5 * x * (1 + erf(x / np.sqrt(2)))

    def d_gelu(x):
        return 0.5 * (1 + erf(x / np.sqrt(2))) + x * np.exp(-0.5 * x**2) / np.sqrt(2 * np.pi)

    return {
        "linear": (lambda x: x, np.ones_like),
        "sigmoid": (sigmoid, lambda x: sigmoid(x) * (1 - sigmoid(x))),
        "tanh": (np.tanh, lambda x: 1 - np.tanh(x) ** 2),
        "relu": (lambda x: np.maximum(x, 0), lambda x: (x > 0).astype(x.dtype)),
        "leaky_relu": (lambda x: np.where(x > 0, x, slope * x), lambda x: np.where(x > 0, 1.0, slope).astype(x.dtype)),
        "swish": (swish, d_swish),
        "elu": (
            lambda x: np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))),
            lambda x: np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0))).astype(x.dtype),
        ),
        "selu": (
            lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0))),
            lambda x: SELU_SCALE * np.where(x > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(x, 0))).astype(x.dtype),
        ),
        "gelu": (gelu, d_gelu),
    }


# Each activation's formula and derivative as the lecture writes them (matplotlib mathtext), for the table
FORMULAS = {
    "linear": (r"$x$", r"$1$"),
    "sigmoid": (r"$\sigma(x) = 1 / (1 + e^{-x})$", r"$\sigma(1 - \sigma)$"),
    "tanh": (r"$\tanh x$", r"$1 - \tanh^2 x$"),
    "relu": (r"$\max(0, x)$", r"$[x > 0]$"),
    "leaky_relu": (r"$x$ ($x > 0$), $a x$", r"$1$, $a$"),
    "swish": (r"$x \, \sigma(\beta x)$", r"$\sigma + \beta x \sigma (1 - \sigma)$"),
    "elu": (r"$x$ ($x > 0$), $\alpha (e^x - 1)$", r"$1$, $\alpha e^x$"),
    "selu": (r"$\lambda x$, $\lambda \alpha (e^x - 1)$", r"$\lambda$, $\lambda \alpha e^x$"),
    "gelu": (r"$x \, \Phi(x)$", r"$\Phi(x) + x \, \varphi(x)$"),
}
TABLE_SLOPE = 0.1  # leaky ReLU's slope in the table: at the default 0.01 it is indistinguishable from ReLU
