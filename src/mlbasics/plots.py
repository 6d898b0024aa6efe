"""Figures (matplotlib, PNG): training curves, confusion matrices, variant comparisons."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from .io import atomic_path


def _save(fig, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def _column(rows: list[dict], key: str) -> np.ndarray:
    return np.array([float(r[key]) for r in rows])


def training_curves(history: list[dict], title: str, path: str | Path) -> None:
    """Train vs validation loss and accuracy per epoch: the overtraining picture."""
    epochs = _column(history, "epoch")
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        ax.plot(epochs, _column(history, metric), label="train")
        ax.plot(epochs, _column(history, f"val_{metric}"), label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    _save(fig, path)


def confusion(matrix: np.ndarray, class_names: list[str], title: str, path: str | Path) -> None:
    """Row-normalised confusion matrix (true class per row), counts written in the cells."""
    matrix = np.asarray(matrix)
    norm = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    n = len(class_names)
    size = max(3.5, 0.45 * n + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_title(title)
    _save(fig, path)


def comparison(histories: dict[str, list[dict]], title: str, path: str | Path) -> None:
    """All variants overlaid: validation (solid) and train (dashed) loss and accuracy."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (variant, history) in enumerate(histories.items()):
        epochs = _column(history, "epoch")
        color = colors[k % len(colors)]
        for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
            ax.plot(epochs, _column(history, f"val_{metric}"), color=color, label=variant)
            ax.plot(epochs, _column(history, metric), color=color, linestyle="--", alpha=0.6)
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    axes[0].legend(title="validation (solid), train (dashed)", fontsize=8, title_fontsize=8)
    fig.suptitle(title)
    _save(fig, path)
