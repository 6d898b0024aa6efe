"""The diagnostics figure of a run: panels side by side, each drawn into a subfigure - ROC curves, the first test
images with their predictions, the first-layer weights, a 2-D decision boundary, regression residuals."""

from __future__ import annotations

from pathlib import Path

import matplotlib.patches
import numpy as np
from matplotlib.colors import ListedColormap

from mlbasics.core.plots import class_colours, plt, save_figure  # plots chose the non-interactive backend
from mlbasics.evaluation.response import boundary_grid


def roc_panel(sub, curves: dict[str, tuple[np.ndarray, np.ndarray, float]]) -> None:
    """ROC curves (false vs true positive rate) with their AUC: one for a binary task, one per class
    (one-vs-rest) for a multi-class task."""
    ax = sub.subplots()
    for name, (fpr, tpr, auc) in curves.items():
        ax.plot(fpr, tpr, lw=1.2, label=f"{name} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("ROC, test set" if len(curves) == 1 else "ROC one-vs-rest, test set")


def _mosaic(tiles: list[np.ndarray], cols: int, gap: float) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Tiles of one shape side by side in one image, `gap` (a fraction of a tile) blank (NaN) between them:
    one axes draws what a grid of axes per tile drew (an axes costs 15 ms to make and draw); the tiles' top-left
    corners."""
    h, w = tiles[0].shape
    dy, dx = h + round(gap * h), w + max(1, round(0.1 * w))
    rows = -(-len(tiles) // cols)
    out = np.full((rows * dy - (dy - h), cols * dx - (dx - w)), np.nan)
    corners = []
    for k, tile in enumerate(tiles):
        top, left = (k // cols) * dy, (k % cols) * dx
        out[top : top + h, left : left + w] = tile
        corners.append((top, left))
    return out, corners


def _mosaic_axes(sub, mosaic: np.ndarray, cmap: str, limits: tuple[float, float]):
    ax = sub.add_axes((0.02, 0.02, 0.96, 0.86))
    colours = plt.get_cmap(cmap).with_extremes(bad="white")
    ax.imshow(mosaic, cmap=colours, vmin=limits[0], vmax=limits[1], interpolation="nearest")
    ax.axis("off")
    return ax


def test_images_panel(sub, images: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str]) -> None:
    """The first 25 test images titled 'true -> predicted'; wrong predictions in red with a red frame."""
    grey = [image.mean(axis=-1) if image.ndim == 3 else image for image in images[:25]]
    scaled = [(g - g.min()) / (np.ptp(g) or 1.0) for g in grey]  # each image its own grey scale
    mosaic, corners = _mosaic(scaled, 5, gap=0.45)
    ax = _mosaic_axes(sub, mosaic, "gray", (0.0, 1.0))
    h, w = scaled[0].shape
    for k, (top, left) in enumerate(corners):
        wrong = y_true[k] != y_pred[k]
        colour = "red" if wrong else "black"
        ax.add_patch(
            matplotlib.patches.Rectangle(
                (left - 0.5, top - 0.5), w, h, fill=False, edgecolor="red" if wrong else "0.8", lw=2 if wrong else 0.5
            )
        )
        ax.text(
            left + w / 2 - 0.5,
            top - 0.08 * h,
            f"{class_names[y_true[k]]}\u2192{class_names[y_pred[k]]}",
            ha="center",
            va="bottom",
            fontsize=7,
            color=colour,
        )
    errors = int((y_true[:25] != y_pred[:25]).sum())
    sub.suptitle(f"first 25 test images, true\u2192predicted ({errors} wrong, red)", fontsize=9)


def weights_panel(sub, kernel: np.ndarray, image_shape: tuple[int, ...]) -> None:
    """The input weights of the first 16 hidden units drawn as images: what each unit looks for."""
    tiles = []
    for k in range(min(16, kernel.shape[1])):
        w = kernel[:, k].reshape(image_shape)
        w = w.mean(axis=-1) if w.ndim == 3 else w
        tiles.append(w / (float(np.abs(w).max()) or 1.0))  # each unit its own scale, symmetric around 0
    _mosaic_axes(sub, _mosaic(tiles, 4, gap=0.1)[0], "coolwarm", (-1.0, 1.0))
    sub.suptitle("first-layer weights, 16 hidden units (red +, blue \u2212)", fontsize=9)


def templates_panel(sub, templates: np.ndarray, image_shape: tuple[int, ...], class_names: list[str]) -> None:
    """Each class's template (mlp.class_templates) as an image, red where a bright pixel raises the class's
    score, blue where it lowers it; the classes in order, five to a row."""
    tiles = []
    for k in range(templates.shape[1]):
        w = templates[:, k].reshape(image_shape)
        w = w.mean(axis=-1) if w.ndim == 3 else w
        tiles.append(w / (float(np.abs(w).max()) or 1.0))
    _mosaic_axes(sub, _mosaic(tiles, 5, gap=0.1)[0], "coolwarm", (-1.0, 1.0))
    names = ", ".join(class_names[:10]) + (" ..." if len(class_names) > 10 else "")
    sub.suptitle(f"class templates: the layers' weights multiplied ({names})", fontsize=9)


def boundary_panel(sub, regions: np.ndarray, x: np.ndarray, y: np.ndarray, class_names: list[str]) -> None:
    """The decision boundary of a 2-D classifier over its test points `x` (the lecture's toy picture): `regions`,
    the predicted class at each point of response.boundary_grid(x)."""
    ax = sub.subplots()
    gx, gy = boundary_grid(x)
    regions = regions.reshape(gx.shape)
    n = len(class_names)
    colours = class_colours(class_names)
    regions_map = ListedColormap([colours[name] for name in class_names])
    ax.contourf(gx, gy, regions, levels=np.arange(n + 1) - 0.5, cmap=regions_map, alpha=0.25)
    for k, name in enumerate(class_names):
        mask = y == k
        ax.scatter(x[mask, 0], x[mask, 1], s=8, color=colours[name], label=name, edgecolors="none")
    ax.set_xlabel("feature 0 (scaled)")
    ax.set_ylabel("feature 1 (scaled)")
    ax.legend(fontsize=7, markerscale=1.5)
    ax.set_title("decision boundary, test points")


def residuals_panel(sub, y_true: np.ndarray, y_pred: np.ndarray) -> None:
    """Regression: the distribution of test residuals (predicted - true)."""
    ax = sub.subplots()
    residuals = y_pred - y_true
    spread = float(np.ptp(residuals))  # numpy refuses 40 bins over a (near-)zero range
    ax.hist(
        residuals, bins=40 if spread > 1e-6 * (1 + abs(float(residuals.mean()))) else 1, color="tab:blue", alpha=0.8
    )
    ax.axvline(0, color="black", lw=1)
    ax.set_xlabel("predicted \u2212 true")
    ax.set_ylabel("test samples")
    ax.grid(alpha=0.3)
    ax.set_title(f"residuals: mean {residuals.mean():+.3g}, std {residuals.std():.3g}")


def draw(title: str, panels: list, path: str | Path) -> None:
    """Side by side under the title, the panels that apply to this run: each a function taking a subfigure, laid
    out within it by its own margins (no cropping pass: a third of the figure's time)."""
    fig = plt.figure(figsize=(4.4 * len(panels), 5.0))
    body = fig.subfigures(2, 1, height_ratios=[0.4, 4.6])[1]  # the title's strip above
    for sub, draw in zip(np.atleast_1d(body.subfigures(1, len(panels))), panels, strict=True):
        draw(sub)
    fig.suptitle(title, y=0.99, va="top")
    save_figure(fig, path, laid_out=True)
