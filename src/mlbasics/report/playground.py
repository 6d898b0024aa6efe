"""The playground (the lecture's exercise 3, playground.tensorflow.org on the project's own runs): one
self-contained HTML page per dataset - no server, no download - where a student picks a setting with the controls
(activation, learning rate, hidden layers: whatever the dataset's MLP variants differ in) and sees that run's
decision boundary over the training points and its loss curves at once. Drawn in the browser from the runs'
numbers embedded in the page: each variant's response on a 50 x 50 grid (from scores.npz), its history, and a
sample of the training points. Datasets that are not two classes of two inputs get a page saying so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlbasics.core.files import read_csv, write_text
from mlbasics.data import preprocess

KEYS = ("activation", "learning_rate", "hidden_layers", "optimizer", "dropout", "l2")  # what the controls may offer
GRID = 50  # cells a side (the training stage's 200 x 200 grid, every 4th point)
POINTS = 600  # training points drawn


def page(dataset: str, settings: dict[str, dict], inputs: dict, path: str | Path) -> None:
    """reports/<dataset>/playground.html. `settings`: each MLP variant's KEYS (the others are left out);
    `inputs`: the processed data, each variant's history and scores (in the page's variant order)."""
    from mlbasics.report.pages import _env  # (pages imports this module: its environment, when it runs)

    split = preprocess.load(inputs["data"], skip=("x_val",))
    runs = _runs(settings, inputs) if split.task == "binary" and split.arrays["x_test"].shape[1] == 2 else {}
    controls = {
        k: sorted({_text(s[k]) for s in settings.values()}) for k in KEYS if k in next(iter(settings.values()), {})
    }
    controls = {k: values for k, values in controls.items() if len(values) > 1}
    data = {"runs": runs, "controls": controls, **(_frame(split) if runs else {})}
    html = _env().get_template("playground.html.j2").render(dataset=dataset, data=data, usable=bool(runs))
    write_text(path, html)


def _runs(settings: dict[str, dict], inputs: dict) -> dict:
    found = {}
    for variant, history, scores in zip(inputs["variants"], inputs["history"], inputs["scores"], strict=True):
        if variant not in settings:  # a reference method: no activation, no learning rate to play with
            continue
        with np.load(scores) as saved:
            if "boundary" not in saved:  # a k-fold variant's pooled scores hold no grid
                continue
            side = round(np.sqrt(len(saved["boundary"])))
            grid = saved["boundary"][:, 0].reshape(side, side)[:: side // GRID, :: side // GRID]
        rows = read_csv(history)
        found[variant] = {
            "settings": {k: _text(v) for k, v in settings[variant].items()},
            "grid": np.round(grid, 3).tolist(),
            "loss": [round(float(r["loss"]), 5) for r in rows],
            "val_loss": [round(float(r["val_loss"]), 5) for r in rows],
        }
    return found


def _frame(split: preprocess.Split) -> dict:
    """The grid's extent (the training stage's: the test points' range and 0.5 beyond) and the training points."""
    x_test, x, y = split.arrays["x_test"], split.arrays["x_train"], split.arrays["y_train"]
    keep = np.random.default_rng(0).permutation(len(y))[:POINTS]
    return {
        "extent": [
            float(x_test[:, 0].min() - 0.5),
            float(x_test[:, 0].max() + 0.5),
            float(x_test[:, 1].min() - 0.5),
            float(x_test[:, 1].max() + 0.5),
        ],
        "points": np.round(x[keep], 3).tolist(),
        "labels": y[keep].astype(int).tolist(),
        "classes": list(split.class_names),
    }


def _text(value) -> str:
    """A setting as the controls show it: [32, 32] -> "32, 32", 0.01 -> "0.01"."""
    return ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
