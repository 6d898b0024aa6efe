"""Train: a Keras 3 MLP built from a spec, validated every epoch; saves the model, a per-epoch history and the
run's statistics.

The epoch loop is ours, so that it is
- deterministic: one seed drives weights, the per-epoch shuffle (a permutation drawn from (seed, epoch)) and
  dropout (its seed state reset from (seed, epoch) at the start of every epoch), with TensorFlow's
  deterministic ops, so two runs give identical bytes;
- resumable: after every epoch the model (with its optimizer state) and the history are checkpointed, so a
  killed job continues where it stopped and ends with the same weights as an uninterrupted run;
- fast: a whole epoch is one compiled call (a `tf.while_loop` over its batches, gathered from tensors made
  once), so Python and Keras' per-call machinery are out of the loop; Adam, the default, runs as TensorFlow's
  fused kernel (one op per variable instead of a dozen).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import resource
import shutil
import time
from pathlib import Path

import numpy as np

from . import preprocess
from .io import atomic_path, read_json, write_csv, write_json

HISTORY_COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]  # classification; see history_columns
PARAMETRISED = ("leaky_relu", "swish", "elu")  # activations with a parameter: a layer of their own


def configure_tensorflow(threads: int) -> None:
    """Quiet TensorFlow and limit it to the job's threads (0 = all cores). Call before any TF op runs."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import tensorflow as tf

    if threads > 0 and tf.config.threading.get_intra_op_parallelism_threads() != threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # TF already ran ops in this process (a library caller): keep its pools
            pass
    # the GPUs this job may use (SLURM sets CUDA_VISIBLE_DEVICES): take memory as needed, not the whole card,
    # so that several jobs can share one
    for gpu in tf.config.list_physical_devices("GPU"):
        with contextlib.suppress(RuntimeError):  # already initialised in this process
            tf.config.experimental.set_memory_growth(gpu, True)


@functools.cache
def tune_allocator() -> bool:
    """Keep freed memory in glibc's heap instead of unmapping it. TensorFlow mallocs and frees every step's
    megabyte-sized gradients; by default glibc serves those with mmap/munmap, so each step page-faults them
    in again until its adaptive threshold catches up - the first two epochs of the MNIST MLP ran 1.5 x slower.
    Fixed thresholds (what MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ would set at start-up) end that.
    Process-wide and idempotent; False where the C library is not glibc."""
    import ctypes
    import platform

    if platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3  # <malloc.h>
    return all(libc.mallopt(option, value) == 1 for option, value in (
        (m_mmap_threshold, 64 << 20), (m_trim_threshold, 1 << 30), (m_top_pad, 64 << 20)))


def distribution_strategy():
    """Data-parallel training over every visible GPU when there are several; None (the default strategy)
    on one GPU or on CPUs."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    return tf.distribute.MirroredStrategy() if len(gpus) > 1 else None


def set_precision(spec: dict) -> None:
    """Keras' global dtype policy for this model: mixed_float16 when asked for, float32 otherwise."""
    import keras

    keras.mixed_precision.set_global_policy("mixed_float16" if spec.get("mixed_precision") else "float32")


def task_for(n_classes: int, requested: str = "auto") -> str:
    """binary, multiclass or regression: from the data (no class names = float targets = regression), or as
    requested, which must fit the data."""
    found = "regression" if n_classes == 0 else "binary" if n_classes == 2 else "multiclass"
    if n_classes == 1:
        raise ValueError("need at least 2 classes, got 1")
    if requested not in ("auto", found):
        raise ValueError(f"task: {requested!r} does not fit the data, which is {found}"
                         + (f" ({n_classes} classes)" if n_classes else " (float targets)"))
    return found


def history_columns(task: str) -> list[str]:
    """history.csv's header: loss and the task's metric (accuracy, or mean absolute error), train and validation."""
    metric = "mae" if task == "regression" else "accuracy"
    return ["epoch", "loss", metric, "val_loss", f"val_{metric}"]


@functools.cache
def _swish_layer():
    """Swish with a slope: x * sigmoid(beta * x) (Keras' silu is beta = 1). Registered so .keras files load."""
    import keras

    @keras.saving.register_keras_serializable(package="mlbasics", name="Swish")
    class Swish(keras.layers.Layer):
        def __init__(self, beta: float = 1.0, **kwargs):
            super().__init__(**kwargs)
            self.beta = beta

        def call(self, x):
            return x * keras.ops.sigmoid(self.beta * x)

        def get_config(self):
            return {**super().get_config(), "beta": self.beta}

    return Swish


def register_custom_layers() -> None:
    """Make the custom layers known to Keras before loading a saved model."""
    _swish_layer()


def activation_layer(spec: dict, name: str):
    """The hidden-layer activation as a layer (so parameterised ones - leaky slope, swish beta, ELU alpha -
    are saved with the model)."""
    from keras import layers

    kind = spec["activation"]
    if kind == "leaky_relu":
        return layers.LeakyReLU(negative_slope=spec["leaky_slope"], name=name)
    if kind == "elu":
        return layers.ELU(alpha=spec["elu_alpha"], name=name)
    if kind == "swish":
        return _swish_layer()(beta=spec["swish_beta"], name=name)
    return layers.Activation(kind, name=name)


def make_initializer(spec: dict):
    import keras

    kind, width = spec["initializer"], spec["init_scale"]
    if kind == "random_normal":
        return keras.initializers.RandomNormal(stddev=width)
    if kind == "random_uniform":
        return keras.initializers.RandomUniform(minval=-width, maxval=width)
    return keras.initializers.get(kind)  # glorot_uniform, glorot_normal, he_normal, he_uniform


def learning_rate(spec: dict, steps_per_epoch: int):
    """A float, or a Keras schedule stepping per batch that follows the per-epoch rule in `lr_schedule`."""
    import keras

    lr, schedule = spec["learning_rate"], spec.get("lr_schedule")
    if not schedule:
        return lr
    kind = schedule["kind"]
    if kind == "exponential":
        return keras.optimizers.schedules.ExponentialDecay(
            lr, decay_steps=steps_per_epoch * schedule.get("decay_epochs", 1),
            decay_rate=schedule.get("decay_rate", 0.9))
    if kind == "cosine":
        return keras.optimizers.schedules.CosineDecay(lr, decay_steps=steps_per_epoch * spec["epochs"],
                                                      alpha=schedule.get("alpha", 0.0))
    return keras.optimizers.schedules.ExponentialDecay(  # step: lr x drop every `every` epochs
        lr, decay_steps=steps_per_epoch * schedule.get("every", 10), decay_rate=schedule.get("drop", 0.5),
        staircase=True)


def make_optimizer(spec: dict, steps_per_epoch: int = 1):
    import keras

    name, lr = spec["optimizer"], learning_rate(spec, steps_per_epoch)
    opt = keras.optimizers
    if name == "sgd":
        return opt.SGD(learning_rate=lr, momentum=spec.get("momentum", 0.0), nesterov=spec.get("nesterov", False))
    if name == "rmsprop":
        return opt.RMSprop(learning_rate=lr, rho=spec.get("rho", 0.9), momentum=spec.get("momentum", 0.0))
    if name == "adam":
        return opt.Adam(learning_rate=lr, beta_1=spec.get("beta_1", 0.9), beta_2=spec.get("beta_2", 0.999))
    if name == "adadelta":
        return opt.Adadelta(learning_rate=lr, rho=spec.get("rho", 0.95))
    if name == "adagrad":
        return opt.Adagrad(learning_rate=lr)
    if name == "ftrl":
        return opt.Ftrl(learning_rate=lr)
    raise ValueError(f"unknown optimizer {name!r} (known: sgd, rmsprop, adam, adadelta, adagrad, ftrl)")


def _dropout_rates(spec: dict) -> list[float]:
    rates = spec.get("dropout") or 0.0
    return list(rates) if isinstance(rates, list) else [rates] * len(spec["hidden_layers"])


def build_mlp(n_features: int, n_classes: int, spec: dict, steps_per_epoch: int = 1):
    """Dense layers from `spec`; the output layer and loss follow the task (sigmoid+BCE or softmax+CE)."""
    import keras
    from keras import layers

    l2 = keras.regularizers.L2(spec["l2"]) if spec.get("l2") else None
    inputs = keras.Input(shape=(n_features,), name="features")
    x = inputs
    for i, (units, rate) in enumerate(zip(spec["hidden_layers"], _dropout_rates(spec), strict=True)):
        # plain activations go inside the Dense layer, where TensorFlow fuses them with the matmul
        fused = spec["activation"] not in PARAMETRISED
        x = layers.Dense(units, activation=spec["activation"] if fused else None, name=f"hidden_{i + 1}",
                         kernel_initializer=make_initializer(spec), kernel_regularizer=l2)(x)
        if not fused:
            x = activation_layer(spec, f"activation_{i + 1}")(x)
        if rate:
            x = layers.Dropout(rate, name=f"dropout_{i + 1}")(x)
    out_init = make_initializer(spec)
    task = task_for(n_classes, spec.get("task", "auto"))
    if task == "binary":
        outputs = layers.Dense(1, activation="sigmoid", kernel_initializer=out_init, name="output",
                               dtype="float32")(x)
        loss = "binary_crossentropy"
    elif task == "multiclass":
        outputs = layers.Dense(n_classes, activation="softmax", kernel_initializer=out_init, name="output",
                               dtype="float32")(x)
        loss = "sparse_categorical_crossentropy"
    else:  # regression: a linear unit and the mean squared error
        outputs = layers.Dense(1, kernel_initializer=out_init, name="output",
                               dtype="float32")(x)
        loss = "mean_squared_error"
    model = keras.Model(inputs, outputs, name="mlp")
    model.compile(optimizer=make_optimizer(spec, steps_per_epoch), loss=loss,
                  metrics=["mae" if task == "regression" else "accuracy"])
    return model


def _reset_dropout_seeds(model, seed: int, epoch: int) -> None:
    """Dropout masks depend only on (seed, epoch, layer, step): a resumed run draws the same ones."""
    for i, layer in enumerate(model.layers):
        generator = getattr(layer, "seed_generator", None)
        if generator is not None:
            generator.state.assign(np.array([seed * 7919 + epoch, i], dtype=generator.state.dtype))


def _metric_sum(task: str, y, y_pred):
    """The task's metric summed over a batch: correct predictions, or absolute errors for regression."""
    import tensorflow as tf

    y_pred = tf.cast(y_pred, tf.float32)
    if task == "regression":
        hits = tf.abs(tf.cast(y, tf.float32) - y_pred[:, 0])
    elif task == "binary":  # Keras' binary accuracy: the threshold is 0.5
        hits = tf.cast(tf.equal(y_pred[:, 0] > 0.5, tf.cast(y, tf.float32) > 0.5), tf.float32)
    else:
        hits = tf.cast(tf.equal(tf.argmax(y_pred, axis=-1), tf.cast(y, tf.int64)), tf.float32)
    return tf.reduce_sum(tf.cast(hits, tf.float64))


def fused_adam(optimizer):
    """Adam's update as TensorFlow's fused kernel (ResourceApplyAdam: one op per variable, where Keras' Adam
    runs a dozen), on the optimizer's own moment variables, so checkpoints and resumes are unchanged; None
    when the optimizer is anything else or uses a feature the kernel lacks. Same formula as Keras' Adam."""
    import keras
    import tensorflow as tf

    plain = (type(optimizer) is keras.optimizers.Adam and not optimizer.amsgrad and not optimizer.use_ema
             and not optimizer.weight_decay and not optimizer.gradient_accumulation_steps
             and optimizer.clipnorm is None and optimizer.clipvalue is None and optimizer.global_clipnorm is None
             and optimizer.loss_scale_factor is None
             and all(v.dtype == "float32" for v in optimizer._trainable_variables))
    if not plain:
        return None

    def apply(grads, variables) -> None:
        lr = tf.cast(optimizer._get_current_learning_rate(), tf.float32)
        step = tf.cast(optimizer.iterations + 1, tf.float32)
        beta_1, beta_2 = optimizer.beta_1, optimizer.beta_2
        for variable, grad in zip(variables, grads, strict=True):
            i = optimizer._get_variable_index(variable)
            tf.raw_ops.ResourceApplyAdam(
                var=variable.value.handle, m=optimizer._momentums[i].value.handle,
                v=optimizer._velocities[i].value.handle, beta1_power=tf.pow(beta_1, step),
                beta2_power=tf.pow(beta_2, step), lr=lr, beta1=beta_1, beta2=beta_2,
                epsilon=optimizer.epsilon, grad=tf.cast(grad, tf.float32))
        optimizer.iterations.assign_add(1)

    return apply


def _batches(n, batch_size: int, body, initial):
    """tf.while_loop over the batches [i * batch_size, min(n, (i + 1) * batch_size)); `body(start, stop,
    *state)` returns the new state. One iteration at a time: each reads the variables the last one wrote."""
    import tensorflow as tf

    steps = (n + batch_size - 1) // batch_size

    def step(i, *state):
        start = i * batch_size
        return (i + 1, *body(start, tf.minimum(start + batch_size, n), *state))

    return tf.while_loop(lambda i, *_: i < steps, step, (tf.constant(0), *initial), parallel_iterations=1)[1:]


class EpochLoop:
    """One epoch of training, and one pass over validation data, each a single compiled call returning
    (mean loss, mean metric) - the loss as Keras reports it (regularisation included), the metric by task."""

    def __init__(self, model, task: str, batch_size: int, eval_batch_size: int):
        import tensorflow as tf

        optimizer, variables = model.optimizer, model.trainable_variables
        optimizer.build(variables)  # its variables must exist before the loop is traced
        apply = fused_adam(optimizer) or optimizer.apply
        zero = tf.constant(0.0, tf.float64)

        def train_batch(x, y, order, start, stop, loss_sum, metric_sum):
            index = order[start:stop]
            xb, yb = tf.gather(x, index), tf.gather(y, index)
            with tf.GradientTape() as tape:
                y_pred = model(xb, training=True)
                loss = model.compute_loss(x=xb, y=yb, y_pred=y_pred, training=True)
                scaled = optimizer.scale_loss(loss)  # mixed precision: Keras' loss scaling
            apply(tape.gradient(scaled, variables), variables)
            return add(loss_sum, metric_sum, loss, yb, y_pred)

        def eval_batch(x, y, start, stop, loss_sum, metric_sum):
            xb, yb = x[start:stop], y[start:stop]
            y_pred = model(xb, training=False)
            loss = model.compute_loss(x=xb, y=yb, y_pred=y_pred, training=False)
            return add(loss_sum, metric_sum, loss, yb, y_pred)

        def add(loss_sum, metric_sum, loss, y, y_pred):
            """The batch's share of the sums: its mean loss times its rows, its summed metric."""
            count = tf.cast(tf.shape(y)[0], tf.float64)
            return loss_sum + tf.cast(loss, tf.float64) * count, metric_sum + _metric_sum(task, y, y_pred)

        def means(n, sums):
            return [total / tf.cast(n, tf.float64) for total in sums]

        @tf.function(reduce_retracing=True, autograph=False)  # explicit loops: nothing to convert
        def train(x, y, order):
            n = tf.shape(order)[0]
            return means(n, _batches(n, batch_size, lambda *a: train_batch(x, y, order, *a), (zero, zero)))

        @tf.function(reduce_retracing=True, autograph=False)  # explicit loops: nothing to convert
        def evaluate(x, y):
            n = tf.shape(y)[0]
            return means(n, _batches(n, eval_batch_size, lambda *a: eval_batch(x, y, *a), (zero, zero)))

        self.train, self.evaluate = train, evaluate


class KerasEpochs:
    """EpochLoop's interface over Keras' own fit and evaluate: for a distribution strategy (several GPUs),
    whose per-replica step Keras already writes."""

    def __init__(self, model, task: str, batch_size: int, eval_batch_size: int):
        self.model, self.batch_size, self.eval_batch_size = model, batch_size, eval_batch_size
        self.keys = history_columns(task)[1:3]  # loss, and the metric's name

    def train(self, x, y, order):
        import tensorflow as tf

        batches = tf.data.Dataset.from_tensor_slices(order).batch(self.batch_size)
        data = batches.map(lambda i: (tf.gather(x, i), tf.gather(y, i))).prefetch(tf.data.AUTOTUNE)
        history = self.model.fit(data, epochs=1, verbose=0, shuffle=False).history
        return [history[key][-1] for key in self.keys]

    def evaluate(self, x, y):
        scores = self.model.evaluate(x, y, batch_size=self.eval_batch_size, verbose=0, return_dict=True)
        return [scores[key] for key in self.keys]


def _epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """This epoch's shuffle: a permutation from (seed, epoch) alone, so a resumed run draws the same one."""
    return np.random.default_rng([seed, epoch]).permutation(n).astype(np.int32)


def fingerprint(arrays: dict[str, np.ndarray], spec: dict, seed: int) -> str:
    """What a checkpoint belongs to: the data, the model spec and the seed."""
    digest = hashlib.sha256(json.dumps({"spec": spec, "seed": seed}, sort_keys=True).encode())
    for key in sorted(arrays):
        digest.update(memoryview(np.ascontiguousarray(arrays[key])).cast("B"))  # no copy of the data
    return digest.hexdigest()


class Checkpoint:
    """Per-epoch state, one folder per epoch (`epoch-000007/`): the model with its optimizer (state.keras),
    the best weights so far (best.npz, for early stopping) and a JSON record (epoch, history, early-stopping
    counters, fingerprint).

    An epoch is one atomic unit: it is written into a hidden temporary folder and renamed into place, which
    commits it; only then are older epochs removed. A job killed at any point of the save thus leaves either
    the previous epoch or this one complete - never a model of one epoch beside the record of another."""

    SAVE_STEPS = ("begin", "model", "best", "record", "commit", "prune")  # `reached` is called after each

    def __init__(self, folder: str | Path | None, fingerprint: str):
        self.folder = Path(folder) if folder else None
        self.fingerprint = fingerprint

    @staticmethod
    def epochs(folder: str | Path) -> list[Path]:
        """The committed epoch folders, oldest first."""
        folder = Path(folder)
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir() if p.is_dir() and p.name.startswith("epoch-")
                      and p.name[6:].isdigit())

    @classmethod
    def last_epoch(cls, folder: str | Path) -> int:
        """The last committed epoch in a checkpoint folder (0: none); cheap, no TensorFlow."""
        committed = cls.epochs(folder)
        return int(committed[-1].name[6:]) if committed else 0

    def load(self):
        """(model, record, best weights or None) of the last committed epoch, or None when there is nothing
        to resume."""
        committed = self.epochs(self.folder) if self.folder else []
        if not committed:
            return None
        import keras

        last = committed[-1]
        record = read_json(last / "state.json")
        if record.get("fingerprint") != self.fingerprint:
            return None  # a checkpoint of another configuration or other data: start over
        register_custom_layers()
        model = keras.saving.load_model(last / "state.keras")
        best = None
        if (last / "best.npz").is_file():
            with np.load(last / "best.npz", allow_pickle=False) as npz:
                best = [npz[f"arr_{i}"] for i in range(len(npz.files))]
        return model, record, best

    def reached(self, step: str, epoch: int) -> None:
        """Called after each step of the save sequence (SAVE_STEPS); a seam for the fault-injection test."""

    def save(self, model, record: dict, best_weights: list | None) -> None:
        if self.folder is None:
            return
        epoch = record["epoch"]
        final = self.folder / f"epoch-{epoch:06d}"
        tmp = self.folder / f".epoch-{epoch:06d}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)  # left by a job killed while writing it
        tmp.mkdir(parents=True)
        self.reached("begin", epoch)
        model.save(tmp / "state.keras")
        self.reached("model", epoch)
        if best_weights is not None:
            with open(tmp / "best.npz", "wb") as fh:
                np.savez(fh, *best_weights)
        self.reached("best", epoch)
        (tmp / "state.json").write_text(json.dumps({**record, "fingerprint": self.fingerprint}, sort_keys=True))
        self.reached("record", epoch)
        shutil.rmtree(final, ignore_errors=True)  # only there if an earlier run was killed after committing it
        os.rename(tmp, final)  # the commit: one rename of the whole epoch
        self.reached("commit", epoch)
        for stale in self.folder.iterdir():
            if stale != final:
                shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
        self.reached("prune", epoch)

    def clear(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def fit(arrays: dict[str, np.ndarray], n_classes: int, spec: dict, seed: int, verbose: int = 0,
        checkpoint_dir: str | Path | None = None, init_model: str | Path | None = None):
    """Build (or resume) and train; return (model, history rows matching HISTORY_COLUMNS, statistics).

    `checkpoint_dir` enables resuming; `init_model` warm-starts from another model's weights."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    tune_allocator()
    if spec.get("backend") == "numpy":
        return _fit_numpy(arrays, n_classes, spec, seed)
    x, y = arrays["x_train"], arrays["y_train"]
    steps_per_epoch = math.ceil(len(y) / spec["batch_size"])
    # hashing the data costs a pass over it: only when there is a checkpoint to match
    checkpoint = Checkpoint(checkpoint_dir, fingerprint(arrays, spec, seed) if checkpoint_dir else "")
    resumed = checkpoint.load()
    strategy = distribution_strategy()
    if resumed:
        model, record, best_weights = resumed
    else:
        checkpoint.clear()  # another configuration's epochs (or none): never mixed with this run's
        set_precision(spec)
        with strategy.scope() if strategy else contextlib.nullcontext():
            model = build_mlp(x.shape[1], n_classes, spec, steps_per_epoch)
        if init_model:
            warm_start(model, init_model)
        record = {"epoch": 0, "history": [], "best_val_loss": None, "wait": 0, "stopped_early": False}
        best_weights = None
    if n_classes == 0:
        y = y.astype(np.float32)
    task = task_for(n_classes, spec.get("task", "auto"))
    columns = history_columns(task)
    x_val, y_val = arrays["x_val"], arrays["y_val"].astype(y.dtype)
    # several GPUs: Keras' fit does the data-parallel step; otherwise our compiled epoch
    epochs_with = KerasEpochs if strategy else EpochLoop
    loop = epochs_with(model, task, spec["batch_size"], max(spec["batch_size"], 256))
    # once (convert_to_tensor copies 3x faster than tf.constant): every epoch gathers from these
    x, y, x_val, y_val = (tf.convert_to_tensor(a) for a in (x, y, x_val, y_val))
    stopping = spec.get("early_stopping")
    started, trained, start_epoch = time.perf_counter(), 0, record["epoch"]
    for epoch in range(start_epoch, spec["epochs"]):
        if record["stopped_early"]:
            break
        _reset_dropout_seeds(model, seed, epoch)
        loss, metric = loop.train(x, y, tf.constant(_epoch_order(int(y.shape[0]), seed, epoch)))
        val_loss, val_metric = loop.evaluate(x_val, y_val)
        trained += int(y.shape[0])
        record["history"].append([epoch + 1, *(float(v) for v in (loss, metric, val_loss, val_metric))])
        if verbose:
            print(f"epoch {epoch + 1}/{spec['epochs']}: " + ", ".join(
                f"{name} {value:.4f}" for name, value in zip(columns[1:], record["history"][-1][1:], strict=True)),
                flush=True)
        record["epoch"] = epoch + 1
        if stopping:
            val_loss = float(val_loss)
            best = record["best_val_loss"]
            if best is None or val_loss < best - stopping.get("min_delta", 0.0):
                record["best_val_loss"], record["wait"] = val_loss, 0
                best_weights = model.get_weights()
            else:
                record["wait"] += 1
                record["stopped_early"] = record["wait"] >= stopping["patience"]
        checkpoint.save(model, record, best_weights if stopping else None)
    if stopping and stopping.get("restore_best_weights", True) and best_weights is not None:
        model.set_weights(best_weights)
    elapsed = time.perf_counter() - started
    stats = {"train_wall_s": round(elapsed, 3), "samples_per_s": round(trained / elapsed, 1) if elapsed else 0.0,
             "epochs_run": record["epoch"], "stopped_early": record["stopped_early"],
             "resumed_from_epoch": start_epoch,
             "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    return model, record["history"], stats


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


def warm_start(model, init_model: str | Path) -> None:
    """Start from another trained model's weights (the lecture's pretraining initialisation)."""
    import keras

    register_custom_layers()
    parent = keras.saving.load_model(init_model, compile=False)
    ours, theirs = [w.shape for w in model.get_weights()], [w.shape for w in parent.get_weights()]
    if ours != theirs:
        raise ValueError(f"warm start from {init_model}: its weights have shapes {theirs}, this model needs {ours}")
    model.set_weights(parent.get_weights())


def save_model(model, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        model.save(tmp)


def checkpoint_dir(model_path: str | Path) -> Path:
    """Where a training job keeps its per-epoch state: next to the model, removed once the job is done."""
    return Path(model_path).parent / "checkpoint"


def run(settings: dict, inputs: dict, outputs: dict, threads: int = 0) -> None:
    """The train stage: processed data in, model.keras, history.csv and run_stats.json out."""
    arrays, class_names = preprocess.load(inputs["data"])
    try:  # before TensorFlow starts: a task the data cannot have is a params mistake
        task_for(len(class_names), settings["model"].get("task", "auto"))
    except ValueError as exc:
        from .config import ParamsError

        raise ParamsError(f"datasets.{settings.get('dataset')}.model.task (variant {settings.get('variant')}): "
                          f"{exc}") from None
    configure_tensorflow(threads)
    folder = checkpoint_dir(outputs["model"])
    model, rows, stats = fit(arrays, len(class_names), settings["model"], settings["seed"], verbose=2,
                             checkpoint_dir=folder, init_model=inputs.get("init"))
    save_model(model, outputs["model"])
    write_csv(outputs["history"], history_columns(task_for(len(class_names), settings["model"].get("task", "auto"))),
              rows)
    from .tracking import device

    # where it trained (a GPU node, a SLURM job): evaluation may run elsewhere, so it is recorded here
    where = {"device": device(), **{key: os.environ[name] for key, name in (
        ("slurm_job_id", "SLURM_JOB_ID"), ("cuda_visible_devices", "CUDA_VISIBLE_DEVICES")) if name in os.environ}}
    write_json(outputs["stats"], {**stats, "threads": threads, **where})
    Checkpoint(folder, "").clear()
