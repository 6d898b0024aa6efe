"""TensorBoard logs of an MLP training - what the lecture shows in TensorBoard: the loss and the metric per epoch,
training and validation overlaid (runs `train` and `validation`, tags `epoch_loss`, `epoch_<metric>`, as Keras' own
TensorBoard callback names them), and the model's graph, under logs/tensorboard/<dataset>/<variant>
(`tensorboard --logdir logs/tensorboard`). Written beside training, never read by it: every other output keeps
its bytes. A resumed training adds its epochs; a fresh one starts the folder anew.
"""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path("logs/tensorboard")


def folder_of(dataset: str, variant: str, fold: int | None = None) -> Path:
    """Where a run's logs go: <ROOT>/<dataset>/<variant>[/fold-<i>]."""
    folder = ROOT / dataset / variant
    return folder / f"fold-{fold}" if fold is not None else folder


class Log:
    """One training's event files: `epoch` after each epoch, `graph` once, `close` at the end."""

    def __init__(self, folder: str | Path, fresh: bool = True):
        import tensorflow as tf

        if fresh:
            shutil.rmtree(folder, ignore_errors=True)
        self.tf = tf
        self.writers = {
            part: tf.summary.create_file_writer(str(Path(folder) / part)) for part in ("train", "validation")
        }

    def graph(self, model, n_inputs: int) -> None:
        """The model's forward pass (inference) as TensorBoard's Graphs tab draws it."""
        tf = self.tf
        traced = tf.function(lambda x: model(x, training=False))
        concrete = traced.get_concrete_function(tf.TensorSpec([None, n_inputs], tf.float32))
        with self.writers["train"].as_default():
            tf.summary.graph(concrete.graph)

    def epoch(self, row: list, columns: list[str]) -> None:
        """One history row ([epoch, loss, metric, val_loss, val_metric]) named by `columns`."""
        for name, value in zip(columns[1:], row[1:], strict=True):
            part, tag = ("validation", name[4:]) if name.startswith("val_") else ("train", name)
            with self.writers[part].as_default():
                self.tf.summary.scalar(f"epoch_{tag}", float(value), step=int(row[0]))

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()


class NoLog:
    """What a training without logs writes to: nothing."""

    def epoch(self, row: list, columns: list[str]) -> None:
        pass

    def close(self) -> None:
        pass


def opened(folder: str | Path | None, model, n_inputs: int, fresh: bool = True) -> Log | NoLog:
    """The log of a training into `folder` (None: NoLog), the model's graph written when `fresh`."""
    if folder is None:
        return NoLog()
    board = Log(folder, fresh)
    if fresh:
        board.graph(model, n_inputs)
    return board


def write_history(folder: str | Path | None, model, n_inputs: int, rows: list[list], columns: list[str]) -> None:
    """A finished training's whole history at once (the NumPy MLP's: its loop knows no TensorFlow)."""
    board = opened(folder, model, n_inputs)
    for row in rows:
        board.epoch(row, columns)
    board.close()
