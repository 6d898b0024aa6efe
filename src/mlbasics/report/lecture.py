"""The lecture's pictures: the activations with their formulas and derivatives (on the index), and on a dataset's
page every variant's decision boundary side by side, for two classes of two inputs - for the lecture's two
Gaussians (means (-1,-1) and (1,1), unit variance) with the best any classifier can do: the Bayes boundary
x0 + x1 = 0 and the Bayes accuracy Phi(sqrt 2) = 0.921, which the variants reach. The boundaries go into the page
itself (a PNG as a data URI): the page stays one file with the others.
"""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path

import numpy as np

from mlbasics.core.plots import PALETTE, class_colours, plt, save_figure
from mlbasics.data import preprocess
from mlbasics.evaluation.response import boundary_grid

BAYES_ACCURACY = 0.5 * (1 + math.erf(1.0))  # Phi(sqrt 2): the two Gaussians' means are 2 sqrt 2 apart, sigma 1
AFFINE = ("standard", "minmax", "robust", "none")  # scalers that keep a straight line straight (per-axis)


def bayes_line(scaler: preprocess.Scaler) -> tuple[float, float] | None:
    """The two Gaussians' Bayes boundary x0 + x1 = 0 in the scaled inputs the models see, as z1 = a z0 + b (x =
    z scale + offset); None where the scaling bends or turns it."""
    if scaler.kind not in AFFINE:
        return None
    (o0, o1), (s0, s1) = scaler.offset, scaler.scale
    return float(-s0 / s1), float(-(o0 + o1) / s1)


def boundaries(data: str, scaler: dict, scores: dict[str, str], accuracy: dict[str, float], loader: str) -> str | None:
    """The figure as a PNG data URI (None where the processed `data` is not two classes of two inputs, or in k
    folds): one panel per variant - its response over the plane (the training stage's grid in scores.npz), the 0.5
    contour, training points - and the Bayes boundary for the two Gaussians."""
    if preprocess.is_folded(data):  # the pooled scores hold no grid
        return None
    split = preprocess.load(data, skip=("x_val",))
    x_test = split.arrays["x_test"]
    if split.task != "binary" or x_test.ndim != 2 or x_test.shape[1] != 2:
        return None
    grids = {}
    for variant, path in scores.items():
        with np.load(path) as saved:
            if "boundary" in saved:
                grids[variant] = saved["boundary"][:, 0]
    if not grids:
        return None
    gx, gy = boundary_grid(x_test)
    line = bayes_line(preprocess.Scaler.from_dict(scaler)) if loader == "gaussians" else None
    fig = _figure(split, grids, accuracy, gx, gy, line)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _figure(split, grids: dict, accuracy: dict, gx: np.ndarray, gy: np.ndarray, line):
    cols = min(4, len(grids))
    rows = -(-len(grids) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 3.3 * rows + 0.6), squeeze=False)
    colours = class_colours(split.class_names)
    x, y = split.arrays["x_train"], split.arrays["y_train"]
    keep = np.random.default_rng(0).permutation(len(y))[:400]
    for ax, (variant, grid) in zip(axes.flat, grids.items(), strict=False):
        response = grid.reshape(gx.shape)
        ax.contourf(gx, gy, response, levels=[0, 0.5, 1], colors=[colours[n] for n in split.class_names], alpha=0.25)
        ax.contour(gx, gy, response, levels=[0.5], colors="black", linewidths=1.2)
        for k, name in enumerate(split.class_names):
            mask = y[keep] == k
            ax.scatter(x[keep][mask, 0], x[keep][mask, 1], s=5, color=colours[name], alpha=0.6)
        if line:
            ax.plot(gx[0], line[0] * gx[0] + line[1], "--", color="black", lw=1.2)
            ax.set_ylim(gy[0, 0], gy[-1, 0])
        ax.set_title(f"{variant}: test accuracy {accuracy.get(variant, float('nan')):.3f}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.flat[len(grids) :]:
        ax.axis("off")
    bayes = (
        f"; dashed: the Bayes boundary $x_0 + x_1 = 0$, the best accuracy on an endless sample "
        f"$\\Phi(\\sqrt{{2}})$ = {BAYES_ACCURACY:.3f}"
        if line
        else ""
    )
    fig.suptitle(f"decision boundaries (solid: response 0.5) over training points{bayes}", fontsize=10)
    fig.tight_layout()
    return fig


def activation_table(functions: dict, path: str | Path, formulas: dict | None = None) -> None:
    """One panel per activation: f(x) solid, f'(x) dashed, with their formulas (`formulas`: name -> (f, f') as
    mathtext) written in the panel."""
    x = np.linspace(-4, 4, 401)
    n = len(functions)
    cols = 3
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.9 * rows), sharex=True)
    for ax, (name, (f, df)) in zip(axes.flat, functions.items(), strict=False):
        ax.axhline(0, color="0.8", lw=0.8)
        ax.axvline(0, color="0.8", lw=0.8)
        ax.plot(x, f(x), color=PALETTE[0], label="f(x)")
        ax.plot(x, df(x), "--", color=PALETTE[2], label="f'(x)")
        ax.set_title(name)
        ax.set_ylim(-2.2, 4.2)
        ax.grid(alpha=0.3)
        if formulas and name in formulas:
            value, slope = formulas[name]
            ax.text(
                0.03,
                0.96,
                f"f = {value}\nf' = {slope}",
                transform=ax.transAxes,
                va="top",
                fontsize=7.5,
                bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none"},
            )
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle("hidden-layer activations and their derivatives (leaky ReLU drawn with a = 0.1)")
    fig.tight_layout()
    save_figure(fig, path, laid_out=True)
