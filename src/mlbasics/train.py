"""The train stage, top-down: load the split data, build (or resume) the model, train it epoch by epoch with
validation, save the model, a per-epoch history and the run's statistics.

- deterministic: one seed drives weights, the per-epoch shuffle and dropout, with TensorFlow's deterministic
  ops, so two runs give identical bytes (epochs.py);
- resumable: every epoch is checkpointed, so a killed job continues where it stopped and ends with the same
  weights as an uninterrupted run (checkpoint.py);
- fast: a whole epoch is one compiled call, Adam a fused kernel (epochs.py).
The model itself is built in mlp.py; the NumPy backend (numpy_mlp.py) trains the same network by hand.
"""

from __future__ import annotations

import contextlib
import math
import os
import resource
import time
from pathlib import Path

import numpy as np

from . import preprocess
from .checkpoint import Checkpoint, checkpoint_folder, checkpoint_key
from .epochs import EpochLoop, KerasEpochs, epoch_order, reset_dropout_seeds
from .errors import ParamsError
from .io import write_csv, write_json
from .mlp import build_mlp, history_columns, save_model, set_precision, task_for, warm_start
from .runtime import configure_tensorflow, distribution_strategy, tune_allocator


def fit(arrays: dict[str, np.ndarray], n_classes: int, spec: dict, seed: int, verbose: int = 0,
        checkpoint_dir: str | Path | None = None, init_model: str | Path | None = None):
    """Build (or resume) and train; return (model, history rows matching `history_columns`, statistics).

    `checkpoint_dir` enables resuming; `init_model` warm-starts from another model's weights."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    tune_allocator()
    if spec.get("backend") == "numpy":
        return _fit_numpy(arrays, n_classes, spec, seed)
    # hashing the data costs a pass over it: only when there is a checkpoint to match
    checkpoint = Checkpoint(checkpoint_dir, checkpoint_key(arrays, spec, seed) if checkpoint_dir else "")
    resumed = checkpoint.load()
    strategy = distribution_strategy()
    model, record, best_weights = resumed or _build(arrays, n_classes, spec, checkpoint, strategy, init_model)
    task = task_for(n_classes, spec.get("task", "auto"))
    y_dtype = np.float32 if n_classes == 0 else arrays["y_train"].dtype  # float targets for regression
    splits = (arrays["x_train"], arrays["y_train"].astype(y_dtype, copy=False), arrays["x_val"],
              arrays["y_val"].astype(y_dtype))
    # once (convert_to_tensor copies 3x faster than tf.constant): every epoch gathers from these
    x, y, x_val, y_val = (tf.convert_to_tensor(a) for a in splits)
    # several GPUs: Keras' fit does the data-parallel step; otherwise our compiled epoch
    loop = (KerasEpochs if strategy else EpochLoop)(model, task, spec["batch_size"], max(spec["batch_size"], 256))
    stopping = spec.get("early_stopping")
    started, trained, start_epoch = time.perf_counter(), 0, record["epoch"]
    for epoch in range(start_epoch, spec["epochs"]):
        if record["stopped_early"]:
            break
        reset_dropout_seeds(model, seed, epoch)
        loss, metric = loop.train(x, y, tf.constant(epoch_order(int(y.shape[0]), seed, epoch)))
        val_loss, val_metric = loop.evaluate(x_val, y_val)
        trained += int(y.shape[0])
        record["history"].append([epoch + 1, *(float(v) for v in (loss, metric, val_loss, val_metric))])
        record["epoch"] = epoch + 1
        if verbose:
            _print_epoch(record, spec["epochs"], history_columns(task))
        if stopping:
            best_weights = _early_stopping(record, stopping, float(val_loss), model, best_weights)
        checkpoint.save(model, record, best_weights if stopping else None)
    if stopping and stopping.get("restore_best_weights", True) and best_weights is not None:
        model.set_weights(best_weights)
    return model, record["history"], _stats(time.perf_counter() - started, trained, record, start_epoch)


def _build(arrays: dict, n_classes: int, spec: dict, checkpoint: Checkpoint, strategy, init_model):
    """(model, record, best weights) of a run that starts from scratch (or warm-started from another model)."""
    checkpoint.clear()  # another configuration's epochs (or none): never mixed with this run's
    set_precision(spec)
    steps_per_epoch = math.ceil(len(arrays["y_train"]) / spec["batch_size"])
    with strategy.scope() if strategy else contextlib.nullcontext():
        model = build_mlp(arrays["x_train"].shape[1], n_classes, spec, steps_per_epoch)
    if init_model:
        warm_start(model, init_model)
    return model, {"epoch": 0, "history": [], "best_val_loss": None, "wait": 0, "stopped_early": False}, None


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
    print(f"epoch {record['epoch']}/{epochs}: " + ", ".join(f"{name} {value:.4f}" for name, value in values),
          flush=True)


def _stats(elapsed: float, trained: int, record: dict, start_epoch: int) -> dict:
    return {"train_wall_s": round(elapsed, 3), "samples_per_s": round(trained / elapsed, 1) if elapsed else 0.0,
            "epochs_run": record["epoch"], "stopped_early": record["stopped_early"],
            "resumed_from_epoch": start_epoch,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def _fit_numpy(arrays: dict[str, np.ndarray], n_classes: int, spec: dict, seed: int):
    """The from-scratch NumPy MLP; its weights then go into the identical Keras model that is saved."""
    from . import numpy_mlp

    started = time.perf_counter()
    params, rows = numpy_mlp.train(arrays, n_classes, spec, seed)
    elapsed = time.perf_counter() - started
    model = build_mlp(arrays["x_train"].shape[1], n_classes, {**spec, "dropout": 0.0})
    model.set_weights([array.astype(np.float32) for layer in params for array in layer])
    stats = {"train_wall_s": round(elapsed, 3), "samples_per_s": round(len(arrays["y_train"]) * len(rows) / elapsed, 1),
             "epochs_run": len(rows), "stopped_early": False, "resumed_from_epoch": 0,
             "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    return model, rows, stats



def run(settings: dict, inputs: dict, outputs: dict, threads: int = 0) -> None:
    """The train stage: processed data in, model.keras, history.csv and run_stats.json out."""
    arrays, class_names = preprocess.load(inputs["data"])
    try:  # before TensorFlow starts: a task the data cannot have is a params mistake
        task_for(len(class_names), settings["model"].get("task", "auto"))
    except ValueError as exc:
        raise ParamsError(f"datasets.{settings.get('dataset')}.model.task (variant {settings.get('variant')}): "
                          f"{exc}") from None
    configure_tensorflow(threads)
    folder = checkpoint_folder(outputs["model"])
    model, rows, stats = fit(arrays, len(class_names), settings["model"], settings["seed"], verbose=2,
                             checkpoint_dir=folder, init_model=inputs.get("init"))
    save_model(model, outputs["model"])
    write_csv(outputs["history"], history_columns(task_for(len(class_names), settings["model"].get("task", "auto"))),
              rows)
    from .provenance import device

    # where it trained (a GPU node, a SLURM job): evaluation may run elsewhere, so it is recorded here
    where = {"device": device(), **{key: os.environ[name] for key, name in (
        ("slurm_job_id", "SLURM_JOB_ID"), ("cuda_visible_devices", "CUDA_VISIBLE_DEVICES")) if name in os.environ}}
    write_json(outputs["stats"], {**stats, "threads": threads, **where})
    Checkpoint(folder, "").clear()
