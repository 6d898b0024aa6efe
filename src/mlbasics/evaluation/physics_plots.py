"""Figures the way a physicist reads them (TMVA's): the classifier response of the training sample (points with
error bars) over the test sample (filled step histograms) per class with each class's KS p-value; background
rejection against signal efficiency for every variant of a dataset; the input variables per class with their
separation, and their correlation matrices."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlbasics.core.plots import (  # plots chose the non-interactive backend
    PALETTE,
    REST,
    class_colours,
    fixed_margins,
    legend,
    plt,
    save_figure,
)


def _histogram(values: np.ndarray, w: np.ndarray | None, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A density histogram and its statistical errors (sqrt of the summed squared weights)."""
    counts, _ = np.histogram(values, edges, weights=w)
    squares, _ = np.histogram(values, edges, weights=None if w is None else w**2)
    norm = counts.sum() * np.diff(edges) if counts.sum() else np.ones(len(counts))
    return counts / norm, np.sqrt(squares) / norm


def response_panel(ax, classes: list[dict], edges: np.ndarray, xlabel: str, colours: dict | None = None) -> None:
    """classes: {name, train, w_train, test, w_test, p} - test filled, train as points, p-value in the legend;
    each class in its colour (class_colours)."""
    centres = 0.5 * (edges[1:] + edges[:-1])
    colours = colours or class_colours([c["name"] for c in classes])
    for c in classes:
        colour = colours.get(c["name"], REST)
        test, _ = _histogram(c["test"], c["w_test"], edges)
        train, errors = _histogram(c["train"], c["w_train"], edges)
        ax.stairs(test, edges, fill=True, alpha=0.3, color=colour, label=f"{c['name']} (test)")
        ax.stairs(test, edges, color=colour)
        ks = f", KS p = {c['p']:.3g}" if c.get("p") is not None else ""
        ax.errorbar(centres, train, yerr=errors, fmt="o", ms=3, color=colour, label=f"{c['name']} (train){ks}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("1/N dN/dx (each class's histogram of unit area)")
    ax.locator_params(nbins=4)  # fewer ticks to lay out and draw: a fifth of ten panels' time
    ax.legend(fontsize=7)


def response(
    panels: list[tuple[str, list[dict]]], title: str, path: str | Path, xlabel: str = "response", bins: int = 40
) -> None:
    """One figure: a panel per (panel title, classes) - one for a binary classifier, one per class otherwise, at
    most five in a row (ten digits: two rows of five, not one image 52 inches wide)."""
    values = np.concatenate([np.r_[c["train"], c["test"]] for _, classes in panels for c in classes])
    low, high = np.percentile(values, [0.0, 100.0] if xlabel == "response" else [0.5, 99.5])
    edges = np.linspace(low, high if high > low else low + 1.0, bins + 1)
    rows = -(-len(panels) // 5)
    cols = -(-len(panels) // rows)  # the rows filled evenly: six panels are two rows of three
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.0 * rows), squeeze=False)
    named = list(dict.fromkeys(c["name"] for _, classes in panels for c in classes if c["name"] != "rest"))
    colours = class_colours(named)  # a class in one colour on every panel (and every figure)
    for ax, (name, classes) in zip(axes.flat, panels, strict=False):
        response_panel(ax, classes, edges, xlabel, colours)
        ax.set_title(name, fontsize=9)
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    fig.suptitle(title)
    # one drawing pass less than tight_layout (a third of 10 panels' time)
    fixed_margins(fig, cols, rows, top=0.62 if rows == 1 else 0.7, vgap=0.8)
    save_figure(fig, path, laid_out=True)


def rejection_panel(ax, curves: dict[str, tuple[np.ndarray, np.ndarray]], colours: dict | None = None) -> None:
    """Background rejection 1/eff_B against signal efficiency on a log axis (as ATLAS and CMS draw it), one line
    per variant in its colour (the page's variant_colours)."""
    for k, (name, (signal_eff, background_eff)) in enumerate(curves.items()):
        kept = background_eff > 0  # no background left: an infinite rejection, off the axis
        colour = (colours or {}).get(name, PALETTE[k % len(PALETTE)])
        ax.plot(signal_eff[kept], 1 / background_eff[kept], color=colour, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("signal efficiency \u03b5_S")
    ax.set_ylabel("background rejection 1/\u03b5_B")
    ax.set_xlim(0, 1)
    ax.grid(alpha=0.3, which="both")
    legend(ax, len(curves), corner=(0.97, 0.97), fontsize=7)  # above the falling curves
    ax.set_title("test sample", fontsize=9)


def inputs(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray | None,
    class_names: list[str],
    names: list[str],
    separations: list[float],
    title: str,
    path: str | Path,
    max_inputs: int = 16,
    columns: list[int] | None = None,
) -> None:
    """Each input's distribution per class (step histograms, normalised), the separation in the title; the
    columns of x that `columns` lists (all by default), each read as float64 on its own: no copy of x."""
    columns = list(range(x.shape[1])) if columns is None else list(columns)
    shown = min(len(columns), max_inputs)
    cols = min(4, shown)
    rows = -(-shown // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.7 * rows), squeeze=False)
    colours = class_colours(class_names)
    for j, ax in enumerate(axes.flat):
        if j >= shown:
            ax.axis("off")
            continue
        if j % cols == 0:
            ax.set_ylabel("1/N dN/dx", fontsize=7)  # each class's histogram of unit area
        column = np.asarray(x[:, columns[j]], np.float64)  # one column as float64 at a time, whatever x's type
        edges = np.histogram_bin_edges(np.percentile(column, [0.5, 99.5]), bins=30)
        for k, name in enumerate(class_names):
            mask = y == k
            density, _ = _histogram(column[mask], None if w is None else w[mask], edges)
            ax.stairs(density, edges, color=colours[name], label=name)
        ax.set_title(f"{names[j]}  <S\u00b2> = {separations[j]:.3f}", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.locator_params(nbins=4)  # fewer ticks to lay out and draw (16 panels: a fifth of the time)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(title)
    fixed_margins(fig, cols, rows, left=0.45, bottom=0.35, top=0.62, gap=0.45, vgap=0.55)
    save_figure(fig, path, laid_out=True)


def correlations(matrices: dict[str, np.ndarray], names: list[str], title: str, path: str | Path) -> None:
    """The linear correlation matrix of the inputs, one per class."""
    n = len(names)
    fig, axes = plt.subplots(
        1, len(matrices), figsize=(0.5 * n * len(matrices) + 3.5, 0.45 * n + 2.2), layout="constrained", squeeze=False
    )
    for ax, (name, matrix) in zip(axes[0], matrices.items(), strict=True):
        image = ax.imshow(matrix * 100, cmap="RdBu_r", vmin=-100, vmax=100)
        ax.set_xticks(range(n), names, rotation=90, fontsize=7)
        ax.set_yticks(range(n), names, fontsize=7)
        if n <= 12:
            for i in range(n):
                for j in range(n):
                    ax.text(j, i, f"{matrix[i, j] * 100:.0f}", ha="center", va="center", fontsize=6)
        ax.set_title(f"{name}: correlation (%)", fontsize=9)
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8)
    fig.suptitle(title)
    save_figure(fig, path)
