"""docs/error-bars.png: k folds, seeds and the best cut in one figure (docs/physics.md, "Error bars that hold").

The k-fold panel is the scheme the folds stage follows (data/folds.py); the seeds panel draws a toy's bootstrap
interval and seed spread with the rule the report applies; the best-cut panel computes the Asimov significance
of a toy's validation and test samples with the evaluation's own function (evaluation/response.py).

    .venv/bin/python scripts/error_bars_figure.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlbasics.core.plots import plt, save_figure
from mlbasics.evaluation.response import significance

OUT = Path(__file__).resolve().parents[1] / "docs" / "error-bars.png"
COLOURS = {"train": "#4c72b0", "validation": "#dd8452", "test": "#55a868"}


def folds_panel(ax, k: int = 5) -> None:
    """Model i trains on the other folds (less their validation share) and scores fold i."""
    for i in range(k):
        for j in range(k):
            part = "test" if i == j else "train"  # the test fold: all its events, its validation ones too
            width = 0.95 if i == j else 0.75
            ax.add_patch(plt.Rectangle((j, k - 1 - i), width, 0.8, color=COLOURS[part], alpha=0.85))
            if i != j:  # each training fold's validation events: early stopping, the best cut, the best variant
                ax.add_patch(plt.Rectangle((j + 0.75, k - 1 - i), 0.2, 0.8, color=COLOURS["validation"]))
        ax.text(-0.15, k - 0.6 - i, f"model {i}", ha="right", va="center", fontsize=8)
    for j in range(k):
        ax.text(j + 0.47, k + 0.1, f"fold {j}", ha="center", fontsize=8)
    for part, colour in COLOURS.items():
        ax.plot([], [], "s", color=colour, label=part)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, -0.28), ncol=3, fontsize=8, frameon=False)
    ax.set_xlim(-1.6, k + 0.1)
    ax.set_ylim(-0.3, k + 0.5)
    ax.axis("off")
    ax.set_title("k folds: every event scored once,\nby the model that never saw it", fontsize=9)


def seeds_panel(ax, rng: np.random.Generator) -> None:
    """Two variants' test AUC: the bootstrap interval (the test sample's luck) and N seeds (the training's)."""
    for x, centre in enumerate((0.842, 0.851)):  # baseline, dropout
        seeds = centre + rng.normal(0, 0.004, 5)
        ax.errorbar(
            x, centre, yerr=0.009, fmt="o", color="k", capsize=4, label="bootstrap interval" if x == 0 else None
        )
        ax.plot(np.full(5, x + 0.12), seeds, "x", color=COLOURS["validation"], label="5 seeds" if x == 0 else None)
    ax.set_xticks([0, 1], ["baseline", "dropout"])
    ax.set_xlim(-0.5, 1.6)
    ax.set_ylabel("test ROC AUC")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(
        "seeds: a difference's interval is widened\n" + r"by $1.96\,\sqrt{s_a^2 + s_b^2}$ before a winner is called",
        fontsize=9,
    )


def best_cut_panel(ax, rng: np.random.Generator) -> None:
    """The cut chosen where the validation sample's Z is highest with >= 10 background events left; its Z reported
    on the test sample."""
    cuts = np.linspace(0.0, 0.99, 200)
    found = {}
    for sample in ("validation", "test"):
        sig, bkg = rng.beta(5, 2, 600), rng.beta(2, 5, 500)
        kept = np.array([(bkg >= c).sum() for c in cuts])
        s = 50 * np.array([(sig >= c).mean() for c in cuts])
        found[sample] = (significance(s, 2000 * kept / len(bkg)), kept)
    z, kept = found["validation"]
    allowed = kept >= 10
    chosen = np.argmax(np.where(allowed, z, -1))
    ax.plot(cuts, z, color=COLOURS["validation"], label="validation: chooses")
    ax.plot(cuts, found["test"][0], color=COLOURS["test"], label="test: reports")
    ax.axvspan(cuts[allowed][-1], 1.0, color="0.85", label="< 10 background events")
    ax.axvline(cuts[chosen], color="k", ls="--", lw=0.8)
    ax.plot(cuts[chosen], found["test"][0][chosen], "o", color=COLOURS["test"])
    ax.set_xlabel("cut on the response")
    ax.set_ylabel("Asimov Z")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title("best cut: chosen on validation,\nreported on test", fontsize=9)


def main() -> None:
    rng = np.random.default_rng(7)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.0))
    folds_panel(axes[0])
    seeds_panel(axes[1], rng)
    best_cut_panel(axes[2], rng)
    fig.tight_layout()
    save_figure(fig, OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
