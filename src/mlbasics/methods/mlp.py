"""The Keras MLP: built from a model spec (layers, activation, initialiser, optimizer, schedule, dropout, L2),
its output layer and loss following the task; the custom layers it needs to load again; warm starts."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import numpy as np

from mlbasics.core.files import atomic_path
from mlbasics.core.tasks import metric, task_for

PARAMETRISED = ("leaky_relu", "swish", "elu")  # activations with a parameter: a layer of their own


POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


def precision_of(spec: dict) -> str:
    """The model's precision: `precision`, or float16 where the older `mixed_precision: true` asks for it."""
    return "float16" if spec.get("mixed_precision") else spec.get("precision") or "float32"


def set_precision(spec: dict) -> None:
    """Keras' global dtype policy for this model: mixed bfloat16 or float16 when asked for, float32 otherwise (the
    output layer is float32 either way, see build_mlp)."""
    import keras

    keras.mixed_precision.set_global_policy(POLICIES[precision_of(spec)])


def native_bfloat16() -> bool:
    """Whether this machine computes bfloat16 natively: a GPU from Ampere on, or a CPU with AVX512_BF16 or AMX."""
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0))
        if tuple(capability) >= (8, 0):
            return True
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = next((line.split() for line in text.splitlines() if line.startswith("flags")), [])
    return bool({"avx512_bf16", "amx_bf16"} & set(flags))


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
            lr,
            decay_steps=steps_per_epoch * schedule.get("decay_epochs", 1),
            decay_rate=schedule.get("decay_rate", 0.9),
        )
    if kind == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            lr, decay_steps=steps_per_epoch * spec["epochs"], alpha=schedule.get("alpha", 0.0)
        )
    return keras.optimizers.schedules.ExponentialDecay(  # step: lr x drop every `every` epochs
        lr,
        decay_steps=steps_per_epoch * schedule.get("every", 10),
        decay_rate=schedule.get("drop", 0.5),
        staircase=True,
    )


def make_optimizer(spec: dict, steps_per_epoch: int = 1):
    import keras

    name, lr = spec["optimizer"], learning_rate(spec, steps_per_epoch)
    rho = {"rho": spec["rho"]} if spec.get("rho") is not None else {}  # unset: the optimizer's own default
    opt = keras.optimizers
    if name == "sgd":
        return opt.SGD(learning_rate=lr, momentum=spec["momentum"], nesterov=spec["nesterov"])
    if name == "rmsprop":
        return opt.RMSprop(learning_rate=lr, momentum=spec["momentum"], **rho)
    if name == "adam":
        return opt.Adam(learning_rate=lr, beta_1=spec["beta_1"], beta_2=spec["beta_2"])
    if name == "adadelta":
        return opt.Adadelta(learning_rate=lr, **rho)
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
        x = layers.Dense(
            units,
            activation=spec["activation"] if fused else None,
            name=f"hidden_{i + 1}",
            kernel_initializer=make_initializer(spec),
            kernel_regularizer=l2,
        )(x)
        if not fused:
            x = activation_layer(spec, f"activation_{i + 1}")(x)
        if rate:
            x = layers.Dropout(rate, name=f"dropout_{i + 1}")(x)
    out_init = make_initializer(spec)
    task = task_for(n_classes, spec.get("task", "auto"))
    if task == "binary":
        outputs = layers.Dense(1, activation="sigmoid", kernel_initializer=out_init, name="output", dtype="float32")(x)
        loss = "binary_crossentropy"
    elif task == "multiclass":
        outputs = layers.Dense(
            n_classes, activation="softmax", kernel_initializer=out_init, name="output", dtype="float32"
        )(x)
        loss = "sparse_categorical_crossentropy"
    else:  # regression: a linear unit and the mean squared error
        outputs = layers.Dense(1, kernel_initializer=out_init, name="output", dtype="float32")(x)
        loss = "mean_squared_error"
    model = keras.Model(inputs, outputs, name="mlp")
    model.compile(optimizer=make_optimizer(spec, steps_per_epoch), loss=loss, metrics=[metric(task)])
    return model


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


def log_saved_model(path: str | Path, signature) -> str:
    """Log a saved .keras file to the active MLflow run in MLflow's Keras flavour; its model id. MLflow writes its
    folder (MLmodel, environment, the registered custom layers) around the model's `save(target)`: a stand-in
    model whose save copies the file gives that very folder without loading the model (~0.12 s) only for MLflow
    to save it again (~0.05 s)."""
    from importlib.metadata import version

    import keras
    import mlflow.tensorflow

    register_custom_layers()  # MLflow keeps them beside the model, for loading it where mlbasics is not installed
    stand_in = type(
        "SavedKerasFile",
        (keras.Model,),
        {"__init__": lambda self: None, "save": lambda self, target, **_: shutil.copyfile(path, target)},
    )()
    return mlflow.tensorflow.log_model(
        stand_in,
        name="model",
        signature=signature,
        pip_requirements=[f"{p}=={version(p)}" for p in ("tensorflow", "keras")],
    ).model_id


def class_templates(model) -> np.ndarray | None:
    """What an image classifier's output units look for, as images: the product of its dense layers' kernels
    (inputs x classes) - exactly the output layer's weights for a network without hidden layers, the linear part
    of the way from each pixel to each class's score otherwise (the lecture draws them as class templates)."""
    kernels = [
        np.asarray(layer.kernel, np.float64) for layer in model.layers if getattr(layer, "kernel", None) is not None
    ]
    if not kernels:
        return None
    product = kernels[0]
    for kernel in kernels[1:]:
        product = product @ kernel
    return product.astype(np.float32)
