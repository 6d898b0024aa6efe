"""Figures (matplotlib, PNG): training curves, confusion matrices, variant comparisons."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.font_manager
import matplotlib.pyplot as plt
import numpy as np

from mlbasics.core.files import atomic_path
from mlbasics.core.tasks import history_metric

# Colours: one per variant on every panel of a page, one per class on every figure. Petroff's ten colours (the
# accessible palette CMS adopted, mplhep's "petroff10"); a physics sample's signal is always red, its background
# always blue.
PALETTE = ["#3f90da", "#ffa90e", "#bd1f01", "#94a4a2", "#832db6", "#a96b59", "#e76300", "#b9ac70", "#717581", "#92dadd"]
FIXED = {"background": "#3f90da", "signal": "#bd1f01"}
DPI = 150
REST = "#555555"  # "every other class" beside one class (a multiclass response panel)


def class_colours(class_names: list[str]) -> dict[str, str]:
    """Each class's colour, the same on every figure: signal red and background blue, the other classes the
    palette's in the class order (without those two where a signal or background is among them)."""
    fixed = [FIXED[n] for n in class_names if n in FIXED]
    others = [c for c in PALETTE if c not in fixed]
    found, k = {}, 0
    for name in class_names:
        if name in FIXED:
            found[name] = FIXED[name]
        else:
            found[name], k = others[k % len(others)], k + 1
    return found


def variant_colours(variants: list[str]) -> dict[str, str]:
    """Each variant's colour on every panel of its dataset's page: the palette's, in the page's variant order."""
    return {v: PALETTE[k % len(PALETTE)] for k, v in enumerate(variants)}


def save_figure(fig, path: str | Path, laid_out: bool = False) -> None:
    """PNG at DPI (150: sharp on a laptop screen and in a thesis draft), cropped to what is drawn - unless
    `laid_out` (tight_layout or fixed_margins placed everything already): cropping costs one more drawing pass, a
    third of a 10-panel figure's time."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=DPI, bbox_inches=None if laid_out else "tight", metadata={"Software": None})
    plt.close(fig)


def fixed_margins(
    fig,
    columns: int,
    rows: int = 1,
    left: float = 0.65,
    right: float = 0.15,
    bottom: float = 0.5,
    top: float = 0.62,
    gap: float = 0.75,
    vgap: float = 0.6,
) -> None:
    """Margins and the gaps between panels in inches (room for tick labels, axis labels, titles and the
    suptitle): for figures whose labels are known numbers and words, what tight_layout would measure at the
    cost of a drawing pass; numbers on the y axes in short scientific form (9e5, 2e-5), which such margins fit.
    Save them with laid_out=True."""
    for ax in fig.axes:
        if ax.get_yscale() == "linear":  # a log axis labels its decades already
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))
    width, height = fig.get_size_inches()
    if fig.get_suptitle():  # a long title (a sweep point's variant name) widens the figure rather than overflow it
        width = max(width, text_inches(fig, fig.get_suptitle(), plt.rcParams["figure.titlesize"])[0] + 0.3)
        fig.set_size_inches(width, height)
    panel_width = (width - left - right - (columns - 1) * gap) / columns
    panel_height = (height - bottom - top - (rows - 1) * vgap) / rows
    fig.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        bottom=bottom / height,
        top=1 - top / height,
        wspace=gap / panel_width,
        hspace=vgap / panel_height,
    )


def text_inches(fig, text: str, size) -> tuple[float, float]:
    """(width, height) in inches of one line of text at font `size` as `fig` will draw it, measured without
    drawing anything."""
    prop = matplotlib.font_manager.FontProperties(size=size)
    found = fig.canvas.get_renderer().get_text_width_height_descent(text, prop, ismath=False)
    return found[0] / fig.dpi, found[1] / fig.dpi


def _column(rows: list[dict], key: str) -> np.ndarray:
    return np.array([float(r[key]) for r in rows])


def training_curves(
    history: list[dict], title: str, path: str | Path, judged: dict | None = None, step: str | None = "epoch"
) -> None:
    """Train vs validation loss and accuracy (or MAE) per epoch (or boosting iteration, `step`): the overtraining
    picture. With the overtraining analytics (`judged`), the best validation epoch is marked and the overfitting
    region shaded. A method fitted in one step (`step` None) has no curve: its train and validation values side
    by side."""
    epochs = _column(history, "epoch")
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, metric in zip(axes, ("loss", history_metric(history)), strict=True):
        if step is None:
            values = [_column(history, metric)[-1], _column(history, f"val_{metric}")[-1]]
            ax.bar(["train", "validation"], values, color=["C0", "C1"])
            ax.set_ylabel(metric)
            ax.set_title("fitted in one step: no learning curve", fontsize=9)
            continue
        ax.plot(epochs, _column(history, metric), label="train")
        ax.plot(epochs, _column(history, f"val_{metric}"), label="validation")
        if judged:
            ax.axvline(judged["best_epoch"], color="green", ls=":", label=f"best epoch {judged['best_epoch']}")
            if judged["overfitting_since"]:
                ax.axvspan(
                    judged["overfitting_since"],
                    epochs[-1],
                    color="red",
                    alpha=0.08,
                    label=f"overfitting since {judged['overfitting_since']}",
                )
        ax.set_xlabel(step)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{title}: {judged['verdict']}" if judged else title)
    fixed_margins(fig, 2, gap=0.85)
    save_figure(fig, path, laid_out=True)


def confusion(matrix: np.ndarray, class_names: list[str], title: str, path: str | Path) -> None:
    """Row-normalised confusion matrix (true class per row), counts written in the cells."""
    matrix = np.asarray(matrix)
    norm = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    n = len(class_names)
    fig, ax = plt.subplots()
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(n):
        for j in range(n):
            ax.text(
                j,
                i,
                str(matrix[i, j]),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if norm[i, j] > 0.5 else "black",
            )
    ax.set_title(title)
    _fit_square(fig, max(2.0, 0.45 * n), class_names, title)
    save_figure(fig, path, laid_out=True)


def _fit_square(fig, side: float, class_names: list[str], title: str, pad: float = 0.12) -> None:
    """Size the figure around a square matrix of `side` inches from its measured labels - class names along y
    and at 45 degrees along x, the axis labels, the title centred above (a long one widens the figure) - instead
    of a cropping pass over every drawn text."""
    names = [text_inches(fig, name, plt.rcParams["ytick.labelsize"]) for name in class_names]
    title_w, title_h = text_inches(fig, title, plt.rcParams["axes.titlesize"])
    label = 1.6 * plt.rcParams["font.size"] / 72 + 0.1  # an axis label and its gap to the tick labels
    overflow = max(0.0, (title_w - side) / 2) + pad  # each side of the axes, for a title wider than the matrix
    left = max(pad + label + max(w for w, _ in names) + 0.1, overflow)
    right, top = overflow, pad + 1.6 * title_h
    bottom = pad + label + 0.71 * max(w + h for w, h in names) + 0.1
    width, height = left + side + right, bottom + side + top
    fig.set_size_inches(width, height)
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height)


LEGEND_MAX = 12  # variants named in a legend; past that the colours repeat and the legend hides the curves


def legend(ax, count: int, corner: tuple[float, float] = (0.98, 0.98), **kwargs) -> None:
    """A legend naming each variant, or - for a sweep of more than LEGEND_MAX - only how many there are, at
    `corner` (axes fraction): a legend of 200 names is unreadable, and placing it cost seconds per figure; the
    leaderboard names the best."""
    if count <= LEGEND_MAX:
        ax.legend(**kwargs)
        return
    x, y = corner
    title = f"{kwargs['title']}\n" if kwargs.get("title") else ""
    ax.text(
        x,
        y,
        f"{title}{count} variants: the leaderboard ranks them",
        transform=ax.transAxes,
        fontsize=8,
        ha="right" if x > 0.5 else "left",
        va="top" if y > 0.5 else "bottom",
        bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none"},
    )


def every_class(y: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """At most `n` row indices, seeded, in a shuffled order, with every class among them: an equal share of each
    class (all of a smaller one), the rest from the others. A data file sorted by class (all the signal first)
    would otherwise show one class only."""
    rng = np.random.default_rng(seed)
    y = np.asarray(y)
    if len(y) <= n:
        return rng.permutation(len(y))
    groups = [rng.permutation(np.flatnonzero(y == k)) for k in np.unique(y)]
    share = max(1, n // len(groups))
    chosen = np.concatenate([g[:share] for g in groups])
    rest = np.concatenate([g[share:] for g in groups])
    chosen = np.concatenate([chosen, rng.permutation(rest)[: max(0, n - len(chosen))]])[:n]
    return rng.permutation(chosen)


def comparison(histories: dict[str, list[dict]], title: str, path: str | Path, extra_panel=None) -> None:
    """All variants overlaid: validation (solid) and train (dashed) loss and accuracy; `extra_panel(ax)` draws a
    third panel (the rejection curves of a signal/background dataset)."""
    save_figure(comparison_figure(histories, title, extra_panel), path, laid_out=True)


def comparison_figure(histories: dict[str, list[dict]], title: str, extra_panel=None):
    """comparison()'s figure: each variant in its colour (variant_colours) on every panel; `extra_panel(ax,
    colours)` draws the third."""
    fig, axes = plt.subplots(1, 3 if extra_panel else 2, figsize=(15 if extra_panel else 10, 3.8))
    colours = variant_colours(list(histories))
    names = ("loss", history_metric(next(iter(histories.values()))))
    for variant, history in histories.items():
        if len(history) < 2:  # fitted in one step: no curve to draw
            continue
        epochs = _column(history, "epoch")
        color = colours[variant]
        for ax, metric in zip(axes[:2], names, strict=True):
            ax.plot(epochs, _column(history, f"val_{metric}"), color=color, label=variant)
            ax.plot(epochs, _column(history, metric), color=color, linestyle="--", alpha=0.6)
    for ax, metric in zip(axes[:2], names, strict=True):
        ax.set_xlabel("epoch (boosting iteration for trees)")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    if extra_panel:
        extra_panel(axes[2], colours=colours)
    legend(axes[0], len(histories), title="validation (solid), train (dashed)", fontsize=8, title_fontsize=8)
    fig.suptitle(title)
    fixed_margins(fig, len(axes), gap=0.85)
    return fig


def _image_grid(fig, images: np.ndarray, labels: np.ndarray, class_names: list[str], title: str) -> None:
    axes = fig.subplots(5, 5, gridspec_kw={"wspace": 0.05, "hspace": 0.45})
    vmax = float(images[:25].max()) or 1.0  # one grey scale for all 25, so brightness compares across images
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= len(images):
            continue
        image = images[k]
        if image.ndim == 3:  # colour: matplotlib wants uint8 (or floats in 0..1)
            ax.imshow(np.clip(image, 0, 255).astype(np.uint8))
        else:
            ax.imshow(image, cmap="gray", vmin=0, vmax=vmax)
        ax.set_title(class_names[int(labels[k])], fontsize=7)
    fig.suptitle(title)


def preview(
    x: np.ndarray,
    y: np.ndarray,
    class_names: list[str],
    title: str,
    path: str | Path,
    colour: np.ndarray | None = None,
    feature_names: list[str] | None = None,
) -> None:
    """A first look at a dataset: 25 images with their class names (colour and greyscale side by side when the
    images were converted), or for tables the first two features coloured by class (drawn in a shuffled order,
    so that no class hides another) - sampled so that every class is there (every_class)."""
    if x.ndim >= 3:
        shown = every_class(y, 25)
        x, y, colour = x[shown], y[shown], None if colour is None else colour[shown]
        panels = [(colour, "colour"), (x, "greyscale")] if colour is not None else [(x, title)]
        fig = plt.figure(figsize=(4.6 * len(panels), 5.2))
        for sub, (images, name) in zip(np.atleast_1d(fig.subfigures(1, len(panels))), panels, strict=True):
            _image_grid(sub, images, y, class_names, f"{title}: {name}" if colour is not None else name)
        save_figure(fig, path)
        return
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    features = x.reshape(len(x), -1)
    if not class_names:  # regression: colour by the target value
        shown = slice(0, 2000)  # enough points to see the shape, few enough to stay legible
        second = features[shown, 1] if features.shape[1] > 1 else np.zeros(len(features[shown]))
        points = ax.scatter(features[shown, 0], second, c=y[shown], s=6, cmap="viridis")
        fig.colorbar(points, ax=ax, label="target")
    if class_names:
        order = every_class(y, 2000)
        colours = class_colours(class_names)
        second = features[order, 1] if features.shape[1] > 1 else np.zeros(len(order))
        palette = np.array([colours[name] for name in class_names])
        ax.scatter(features[order, 0], second, s=6, alpha=0.6, c=palette[y[order]])
        for name in class_names:  # legend entries
            ax.scatter([], [], s=6, color=colours[name], label=name)
    names = feature_names if feature_names and len(feature_names) == features.shape[1] else ["feature 0", "feature 1"]
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1] if features.shape[1] > 1 else "")
    if class_names:
        ax.legend(fontsize=7, markerscale=2)
    ax.set_title(f"{title}: first two inputs")
    save_figure(fig, path)


def predicted_vs_true(y_true: np.ndarray, y_pred: np.ndarray, title: str, path: str | Path) -> None:
    """Regression on the test set: each point a sample, the diagonal a perfect prediction."""
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    ax.scatter(y_true, y_pred, s=6, alpha=0.5)
    low, high = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
    ax.plot([low, high], [low, high], color="black", lw=1)
    ax.set_xlabel("true")
    ax.set_ylabel("predicted")
    ax.grid(alpha=0.3)
    ax.set_title(title)
    save_figure(fig, path)
