"""The method seam: everything the train and evaluate stages ask of a model, whatever the model is.

A method fits on the split data (returning one history row per epoch or boosting iteration, columns
`tasks.history_columns`), predicts scores (a sigmoid or a value per row, or one probability per class), saves and
loads itself in a safe format of its own (no pickle a user did not ask for), shows its input weights where it has
them, and logs itself to MLflow in its flavour with a signature; where it can, it says which inputs matter
(`importance`). A model is saved as a folder holding the method's own file. The MLP (`method: mlp`) has two
backends, both saved as .keras: the Keras network trained by our compiled epoch engine, and the lecture's NumPy
network; the reference methods (BDT, random forest, Fisher, likelihood, k-NN) are scikit-learn estimators saved
with skops (reference/, one module each, found by registry.py). Adding a reference method: its module in
reference/ and its schema block (docs/architecture.md).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from pathlib import Path
from typing import ClassVar, Protocol

import numpy as np

from mlbasics.core import provenance
from mlbasics.core.files import atomic_dir
from mlbasics.core.runtime import configure_tensorflow, distribution_strategy, tune_allocator
from mlbasics.core.tasks import history_columns
from mlbasics.data.event_weights import split_weights
from mlbasics.methods import tensorboard_logs
from mlbasics.methods.checkpoint import Checkpoint, checkpoint_key
from mlbasics.methods.epochs import EpochLoop, KerasEpochs, epoch_order, reset_dropout_seeds
from mlbasics.methods.mlp import (
    build_mlp,
    log_saved_model,
    native_bfloat16,
    precision_of,
    register_custom_layers,
    save_model,
    set_precision,
    warm_start,
)
from mlbasics.methods.registry import REFERENCE_CLASSES as REFERENCE_METHODS


class Method(Protocol):
    """What a trained (or trainable) model offers the stages."""

    name: ClassVar[str]
    flavour: ClassVar[str]  # the MLflow flavour its model is logged with
    step: ClassVar[str | None]  # what a history row is: "epoch", "iteration"; None: fitted in one step, one row
    ranks_inputs: ClassVar[bool]  # whether `importance` can say anything (the evaluation loads the model for it)
    logs_saved_file: ClassVar[bool]  # log_model reads the saved folder itself: no need to load the model for it

    def fit(
        self,
        arrays: dict[str, np.ndarray],
        task: str,
        n_classes: int,
        seed: int,
        *,
        checkpoint_dir: str | Path | None = None,
        init_model: str | Path | None = None,
        verbose: int = 0,
        threads: int = 0,
        progress=None,
        tensorboard: str | Path | None = None,
    ) -> tuple[list[list], dict]:
        """Train on x_/y_train, validating on x_/y_val; (history rows, run statistics). `progress` hears of every
        epoch or boosting iteration; an MLP logs them for TensorBoard into `tensorboard` (tensorboard_logs.py)."""

    def total_steps(self) -> int:
        """The epochs or boosting iterations it will run at most (1: fitted in one step)."""

    def predict(self, x: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        """Scores (float32), computed `batch_size` rows at a time."""

    def save(self, path: str | Path) -> None: ...

    def input_weights(self) -> np.ndarray | None:
        """The first layer's weights (features x units), drawn for images; None where there are none."""

    def log_model(self, folder: str | Path, example: np.ndarray, outputs: np.ndarray) -> str:
        """Log the model saved in `folder` to the active MLflow run, with a signature from `example` (a few test
        rows) and the model's `outputs` on them; its MLflow model id. No input example: MLflow would load the
        saved model again to validate it (~0.2 s a run; its own advice is a signature instead)."""

    def importance(
        self, x: np.ndarray, y: np.ndarray, w: np.ndarray | None, task: str, seed: int
    ) -> tuple[str, np.ndarray, np.ndarray | None] | None:
        """(what it measures, one value per input, their errors or None) on the test sample; None without."""


class KerasMLP:
    """The Keras MLP of mlp.py, trained epoch by epoch: deterministic (one seed drives weights, shuffle and
    dropout), resumable (checkpointed every few seconds, checkpoint.py) and fast (a whole epoch is one compiled call,
    epochs.py)."""

    name, flavour = "keras", "tensorflow"
    FILE = "model.keras"  # inside the model folder
    step = "epoch"  # what a history row is (None: fitted in one step, one row)
    ranks_inputs = False  # no cheap importance (below)
    logs_saved_file = True

    def __init__(self, spec: dict, model=None):
        self.spec, self.model = spec, model

    def total_steps(self) -> int:
        return self.spec["epochs"]

    def fit(
        self,
        arrays,
        task,
        n_classes,
        seed,
        *,
        checkpoint_dir=None,
        init_model=None,
        verbose=0,
        threads=0,
        progress=None,
        tensorboard=None,
    ):
        import tensorflow as tf

        spec = self.spec
        _seed_everything(seed)
        # hashing the data costs a pass over it: only when there is a checkpoint to match
        checkpoint = Checkpoint(checkpoint_dir, checkpoint_key(arrays, spec, seed) if checkpoint_dir else "")
        strategy = distribution_strategy()
        self.model, record, best_weights = checkpoint.load() or self._build(
            arrays, n_classes, checkpoint, strategy, init_model
        )
        y_dtype = np.float32 if task == "regression" else arrays["y_train"].dtype  # float targets
        splits = (
            arrays["x_train"],
            arrays["y_train"].astype(y_dtype, copy=False),
            arrays["x_val"],
            arrays["y_val"].astype(y_dtype),
        )
        # once (convert_to_tensor copies 3x faster than tf.constant): every epoch gathers from these
        x, y, x_val, y_val = (tf.convert_to_tensor(a) for a in splits)
        w, w_val = (
            None if a is None else tf.convert_to_tensor(a) for a in split_weights(arrays, spec["event_weights"])
        )
        # several GPUs: Keras' fit does the data-parallel step; otherwise our compiled epoch
        loop = (KerasEpochs if strategy else EpochLoop)(
            self.model, task, spec["batch_size"], max(spec["batch_size"], 256)
        )
        stopping = spec.get("early_stopping")
        precision = _precision(spec)
        started, trained, start_epoch = time.perf_counter(), 0, record["epoch"]
        began, ended = time.time(), []
        board = tensorboard_logs.opened(tensorboard, self.model, arrays["x_train"].shape[1], fresh=start_epoch == 0)
        for epoch in range(start_epoch, spec["epochs"]):
            if record["stopped_early"]:
                break
            reset_dropout_seeds(self.model, seed, epoch)
            loss, metric = loop.train(x, y, tf.constant(epoch_order(int(y.shape[0]), seed, epoch)), w)
            val_loss, val_metric = loop.evaluate(x_val, y_val, w_val)
            trained += int(y.shape[0])
            record["history"].append([epoch + 1, *(float(v) for v in (loss, metric, val_loss, val_metric))])
            record["epoch"] = epoch + 1
            ended.append([epoch + 1, int(time.time() * 1000)])
            if progress:
                progress.update(epoch + 1, record["history"][-1], history_columns(task))
            board.epoch(record["history"][-1], history_columns(task))
            if verbose:
                _print_epoch(record, spec["epochs"], history_columns(task))
            if stopping:
                best_weights = _early_stopping(record, stopping, float(val_loss), self.model, best_weights)
            if checkpoint.due(last_epoch=record["epoch"] == spec["epochs"]):
                checkpoint.save(self.model, record, best_weights if stopping else None)
        if stopping and stopping.get("restore_best_weights", True) and best_weights is not None:
            self.model.set_weights(best_weights)
        board.close()
        elapsed = time.perf_counter() - started
        stats = provenance.fit_stats(
            elapsed, trained, record["epoch"], record["stopped_early"], start_epoch, began, ended
        )
        return record["history"], {**stats, "precision": precision}

    def _build(self, arrays: dict, n_classes: int, checkpoint: Checkpoint, strategy, init_model):
        """(model, record, best weights) of a run that starts from scratch (or warm-started from another model)."""
        checkpoint.clear()  # another configuration's epochs (or none): never mixed with this run's
        set_precision(self.spec)
        steps_per_epoch = math.ceil(len(arrays["y_train"]) / self.spec["batch_size"])
        with strategy.scope() if strategy else contextlib.nullcontext():
            model = build_mlp(arrays["x_train"].shape[1], n_classes, self.spec, steps_per_epoch)
        if init_model:  # the parent's model folder
            warm_start(model, Path(init_model) / self.FILE)
        return model, {"epoch": 0, "history": [], "best_val_loss": None, "wait": 0, "stopped_early": False}, None

    def predict(self, x, batch_size=4096):
        # the model called on `batch_size` rows at a time: ~100x cheaper than model.predict on these small models
        # (which builds a tf.data pipeline and traces a function per call) and deterministic all the same
        return np.concatenate(
            [
                np.asarray(self.model(x[i : i + batch_size], training=False))
                for i in range(0, max(len(x), 1), batch_size)
            ]
        )

    def save(self, path):
        with atomic_dir(path) as folder:
            save_model(self.model, folder / self.FILE)

    @classmethod
    def load(cls, spec: dict, path: str | Path) -> KerasMLP:
        import keras

        register_custom_layers()
        return cls(spec, keras.saving.load_model(Path(path) / cls.FILE))

    def input_weights(self):
        for layer in self.model.layers:
            if getattr(layer, "kernel", None) is not None:
                return np.asarray(layer.kernel)
        return None

    def importance(self, x, y, w, task, seed):
        return None  # an MLP has no cheap one (a permutation per input costs a prediction per pixel on images)

    def log_model(self, folder, example, outputs):
        from mlflow.models import infer_signature

        return log_saved_model(Path(folder) / self.FILE, infer_signature(example, outputs))


class NumpyMLP(KerasMLP):
    """The lecture's from-scratch NumPy MLP (numpy_mlp.py); its trained weights go into the identical Keras
    model, which is what is saved, evaluated and logged."""

    name = "numpy"

    def fit(
        self,
        arrays,
        task,
        n_classes,
        seed,
        *,
        checkpoint_dir=None,
        init_model=None,
        verbose=0,
        threads=0,
        progress=None,
        tensorboard=None,
    ):
        from mlbasics.methods import numpy_mlp

        if "w_train" in arrays:  # the from-scratch network is the lecture's: plain means, no sample weights
            print("backend numpy: event weights are not used in training (evaluation uses them)", flush=True)
        _seed_everything(seed)
        started, began = time.perf_counter(), time.time()
        params, rows = numpy_mlp.train(arrays, n_classes, self.spec, seed)
        elapsed = time.perf_counter() - started
        if progress:
            progress.update(len(rows), rows[-1], history_columns(task), force=True)
        self.model = build_mlp(arrays["x_train"].shape[1], n_classes, {**self.spec, "dropout": 0.0})
        self.model.set_weights([array.astype(np.float32) for layer in params for array in layer])
        tensorboard_logs.write_history(tensorboard, self.model, arrays["x_train"].shape[1], rows, history_columns(task))
        return rows, provenance.fit_stats(elapsed, len(arrays["y_train"]) * len(rows), len(rows), False, 0, began)


MLP_BACKENDS: dict[str, type[KerasMLP]] = {"keras": KerasMLP, "numpy": NumpyMLP}


def method_class(spec: dict) -> type:
    """The method a model spec asks for: its `method`, and for the MLP its `backend`."""
    method = spec.get("method", "mlp")
    return MLP_BACKENDS[spec.get("backend", "keras")] if method == "mlp" else REFERENCE_METHODS[method]


def create(spec: dict) -> Method:
    return method_class(spec)(spec)


def load(spec: dict, path: str | Path) -> Method:
    """A trained model from its folder (the MODEL output: the method's own file inside). The last one loaded is
    kept: evaluate reads it, then logging it to MLflow reads it again (a folder replaced since is read anew)."""
    found = os.stat(path)
    key = (os.path.realpath(path), found.st_ino, found.st_mtime_ns, json.dumps(spec, sort_keys=True, default=str))
    if key not in _LOADED:
        _LOADED.clear()
        _LOADED[key] = method_class(spec).load(spec, path)
    return _LOADED[key]


_LOADED: dict[tuple, Method] = {}


def log_model(spec: dict, folder: str | Path, example: np.ndarray, outputs: np.ndarray | None) -> str:
    """Log the trained model in `folder` to the active MLflow run (Method.log_model); `outputs`: its scores on
    `example` (None: computed here, loading the model)."""
    kind = method_class(spec)
    method = kind(spec) if kind.logs_saved_file and outputs is not None else load(spec, folder)
    return method.log_model(folder, example, method.predict(example) if outputs is None else outputs)


def prepare(spec: dict, threads: int) -> None:
    """Set up the process for the method: TensorFlow's threads for the MLP (reference methods take the job's
    threads in fit, and never start TensorFlow)."""
    if method_class(spec) in MLP_BACKENDS.values():
        configure_tensorflow(threads)


def _precision(spec: dict) -> str:
    """The model's precision; the job log says when bfloat16 runs emulated."""
    precision = precision_of(spec)
    if precision == "bfloat16" and not native_bfloat16():
        print(
            "precision bfloat16: this machine computes bfloat16 only emulated (no GPU from Ampere on, no CPU "
            "with AVX512_BF16 or AMX) - slower than float32",
            flush=True,
        )
    return precision


def _seed_everything(seed: int) -> None:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    tune_allocator()


def _early_stopping(record: dict, stopping: dict, val_loss: float, model, best_weights):
    """Keras' EarlyStopping rule, its counters in the record (so they resume too); the best weights so far."""
    best = record["best_val_loss"]
    if best is None or val_loss < best - stopping.get("min_delta", 0.0):
        record["best_val_loss"], record["wait"] = val_loss, 0
        return model.get_weights()
    record["wait"] += 1
    record["stopped_early"] = record["wait"] >= stopping["patience"]
    return best_weights


def _print_epoch(record: dict, epochs: int, columns: list[str]) -> None:
    values = zip(columns[1:], record["history"][-1][1:], strict=True)
    print(
        f"epoch {record['epoch']}/{epochs}: " + ", ".join(f"{name} {value:.4f}" for name, value in values), flush=True
    )
