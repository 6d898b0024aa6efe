"""The training engine: every activation, optimizer, schedule, initialiser and regulariser builds and trains;
determinism; early stopping; warm start; the run statistics."""

import json
from dataclasses import replace

import numpy as np
import pytest

from mlbasics.core import runtime, tasks
from mlbasics.core.files import read_arrays
from mlbasics.data import loaders as datasets
from mlbasics.data import preprocess
from mlbasics.data.loaders import embedded
from mlbasics.evaluation import response
from mlbasics.methods import epochs, mlp
from mlbasics.methods import training as methods
from mlbasics.params import config
from mlbasics.stages import train
from mlbasics.stages.settings import EvaluateSettings, TrainSettings
from tests.helpers import fit_mlp

SPEC = {**config.model_defaults(), "hidden_layers": [8, 8], "learning_rate": 0.01, "epochs": 8, "batch_size": 32}


@pytest.fixture(scope="module")
def gaussian_arrays():
    arrays, _ = preprocess.preprocess(
        embedded.gaussians(600, seed=1), split={"train": 0.6, "validation": 0.2, "test": 0.2}, seed=0
    )
    return arrays


def test_output_layer_follows_the_task():
    binary = mlp.build_mlp(2, 2, SPEC)
    assert binary.layers[-1].units == 1 and binary.layers[-1].activation.__name__ == "sigmoid"
    assert binary.loss == "binary_crossentropy"
    multi = mlp.build_mlp(4, 3, {**SPEC, "dropout": [0.5, 0.2], "l2": 0.01, "activation": "tanh"})
    assert multi.layers[-1].units == 3 and multi.layers[-1].activation.__name__ == "softmax"
    assert multi.loss == "sparse_categorical_crossentropy"
    names = [layer.name for layer in multi.layers]
    assert names == ["features", "hidden_1", "dropout_1", "hidden_2", "dropout_2", "output"]  # tanh fused in Dense
    leaky = mlp.build_mlp(4, 3, {**SPEC, "activation": "leaky_relu"})
    assert [layer.name for layer in leaky.layers][1:3] == ["hidden_1", "activation_1"]
    assert [multi.get_layer(f"dropout_{i}").rate for i in (1, 2)] == [0.5, 0.2]  # per-layer dropout
    assert multi.get_layer("hidden_1").kernel_regularizer is not None
    with pytest.raises(ValueError, match="at least 2 classes"):
        mlp.build_mlp(4, 1, SPEC)


@pytest.mark.parametrize(
    "activation", ["linear", "sigmoid", "tanh", "relu", "leaky_relu", "swish", "elu", "selu", "gelu"]
)
def test_every_activation_builds_trains_and_reloads(tmp_path, gaussian_arrays, activation):
    import keras

    spec = {**SPEC, "activation": activation, "epochs": 1, "leaky_slope": 0.2, "swish_beta": 2.0, "elu_alpha": 0.5}
    model, rows, _ = fit_mlp(gaussian_arrays, 2, spec, seed=0)
    assert len(rows) == 1 and np.isfinite(rows[0][1])
    mlp.save_model(model, tmp_path / "m.keras")
    mlp.register_custom_layers()
    again = keras.saving.load_model(tmp_path / "m.keras")
    x = gaussian_arrays["x_val"][:5]
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_parameterised_activations_compute_the_lecture_formulas():
    import keras

    x = np.array([[-2.0, -0.5, 0.0, 1.5]], dtype=np.float32)
    leaky = mlp.activation_layer({"activation": "leaky_relu", "leaky_slope": 0.1}, "a")(x)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(leaky), [[-0.2, -0.05, 0.0, 1.5]], rtol=1e-6)
    swish = mlp.activation_layer({"activation": "swish", "swish_beta": 2.0}, "b")(x)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(swish), x / (1 + np.exp(-2.0 * x)), rtol=1e-5)
    elu = mlp.activation_layer({"activation": "elu", "elu_alpha": 0.5}, "c")(x)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(elu), np.where(x > 0, x, 0.5 * (np.exp(x) - 1)), rtol=1e-5)


@pytest.mark.parametrize(
    "name, cls",
    [
        ("sgd", "SGD"),
        ("adagrad", "Adagrad"),
        ("rmsprop", "RMSprop"),
        ("adam", "Adam"),
        ("adadelta", "Adadelta"),
        ("ftrl", "Ftrl"),
    ],
)
def test_every_optimizer_builds_and_trains(gaussian_arrays, name, cls):
    spec = {
        **SPEC,
        "optimizer": name,
        "learning_rate": 0.05,
        "momentum": 0.9 if name == "sgd" else 0.0,
        "nesterov": name == "sgd",
        "epochs": 1,
    }
    opt = mlp.make_optimizer(spec)
    assert type(opt).__name__ == cls and float(opt.learning_rate) == pytest.approx(0.05)
    if name == "sgd":
        assert opt.momentum == pytest.approx(0.9) and opt.nesterov
    if name in ("rmsprop", "adadelta"):  # rho unset: Keras' (and the papers') default for each
        assert opt.rho == pytest.approx(0.9 if name == "rmsprop" else 0.95)
        assert mlp.make_optimizer({**spec, "rho": 0.8}).rho == pytest.approx(0.8)
    _, rows, _ = fit_mlp(gaussian_arrays, 2, spec, seed=0)
    assert np.isfinite(rows[0][1])


@pytest.mark.parametrize(
    "schedule, after_4_epochs",
    [
        ({"kind": "exponential", "decay_rate": 0.5, "decay_epochs": 2}, 0.25),
        ({"kind": "step", "drop": 0.1, "every": 3}, 0.1),
        ({"kind": "cosine", "alpha": 0.0}, 0.5),  # half-way through 8 epochs: cos(pi/2) -> lr/2
    ],
)
def test_learning_rate_schedules_follow_epochs(schedule, after_4_epochs):
    lr = mlp.learning_rate({**SPEC, "learning_rate": 1.0, "lr_schedule": schedule}, steps_per_epoch=10)
    assert float(lr(40)) == pytest.approx(after_4_epochs, rel=1e-5)


@pytest.mark.parametrize(
    "initializer", ["glorot_uniform", "glorot_normal", "he_normal", "he_uniform", "random_normal", "random_uniform"]
)
def test_every_initialiser_builds_and_trains(gaussian_arrays, initializer):
    spec = {**SPEC, "initializer": initializer, "init_scale": 0.3, "hidden_layers": [400], "epochs": 1}
    kernel = mlp.build_mlp(2, 2, spec).get_layer("hidden_1").get_weights()[0]
    if initializer == "random_normal":
        assert kernel.std() == pytest.approx(0.3, rel=0.1)
    if initializer == "random_uniform":
        assert kernel.min() >= -0.3 and kernel.max() <= 0.3 and kernel.max() > 0.29
    if initializer == "he_normal":  # truncated normal, stddev sqrt(2 / fan_in) before truncation
        assert kernel.std() == pytest.approx(np.sqrt(2 / 2) * 0.88, rel=0.15)
    _, rows, _ = fit_mlp(gaussian_arrays, 2, spec, seed=0)
    assert np.isfinite(rows[0][1])


def test_fit_learns_the_gaussians_and_records_every_epoch(gaussian_arrays):
    _model, rows, stats = fit_mlp(gaussian_arrays, 2, SPEC, seed=0)
    assert len(rows) == SPEC["epochs"] and [r[0] for r in rows] == list(range(1, 9))
    assert all(len(r) == len(tasks.history_columns("binary")) for r in rows)
    assert rows[-1][1] < rows[0][1], "training loss falls"
    assert rows[-1][4] > 0.85, "validation accuracy of the Gaussian toy (Bayes limit ~0.92)"
    assert stats["epochs_run"] == 8 and stats["samples_per_s"] > 0 and stats["peak_rss_mb"] > 0


def test_fused_adam_takes_the_same_steps_as_keras_adam():
    """The engine runs Adam as TensorFlow's fused kernel on Keras' own moment variables (private attributes):
    this pins it to Keras' update, learning-rate schedule and step counter, so a Keras upgrade that moves
    them fails here and not silently in training."""
    import keras

    spec = {
        **SPEC,
        "optimizer": "adam",
        "learning_rate": 0.05,
        "lr_schedule": {"kind": "exponential", "decay_rate": 0.5, "decay_epochs": 1},
    }
    ours, theirs = (mlp.build_mlp(3, 2, spec, steps_per_epoch=2) for _ in range(2))
    theirs.set_weights(ours.get_weights())
    fused = epochs.fused_adam(ours.optimizer)
    assert fused is not None and epochs.fused_adam(theirs.optimizer) is not None
    for model in (ours, theirs):
        model.optimizer.build(model.trainable_variables)
    rng = np.random.default_rng(0)
    for _ in range(6):
        grads = [rng.normal(size=v.shape).astype(np.float32) for v in ours.trainable_variables]
        fused(grads, ours.trainable_variables)
        theirs.optimizer.apply(grads, theirs.trainable_variables)
    assert int(ours.optimizer.iterations) == int(theirs.optimizer.iterations) == 6
    for a, b in zip(
        ours.get_weights() + [v.numpy() for v in ours.optimizer.variables],
        theirs.get_weights() + [v.numpy() for v in theirs.optimizer.variables],
        strict=True,
    ):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=5e-6)  # float rounding; a step of lr is 1e-2
    # what the kernel lacks goes through Keras' own update
    assert epochs.fused_adam(keras.optimizers.Adam(amsgrad=True)) is None
    assert epochs.fused_adam(keras.optimizers.Adam(clipnorm=1.0)) is None
    assert epochs.fused_adam(keras.optimizers.SGD()) is None


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_the_compiled_epoch_reports_what_keras_evaluate_does(task):
    """Loss (L2 penalty included) and metric of the compiled loop equal Keras' evaluate, with a last partial
    batch, for each task's metric (accuracy with its 0.5 threshold, argmax accuracy, mean absolute error)."""
    data = {
        "binary": (embedded.gaussians(301, seed=2), 2),
        "multiclass": (embedded.iris(), 3),
        "regression": (embedded.regression_toy(301, seed=2), 0),
    }[task]
    arrays, _ = preprocess.preprocess(data[0], split={"train": 0.6, "validation": 0.2, "test": 0.2}, seed=0)
    model, _, _ = fit_mlp(arrays, data[1], {**SPEC, "epochs": 2, "l2": 0.01}, seed=0)
    y = arrays["y_val"].astype(np.float32 if task == "regression" else arrays["y_val"].dtype)
    loop = epochs.EpochLoop(model, task, batch_size=32, eval_batch_size=7)  # 7 does not divide the rows
    loss, metric = (float(v) for v in loop.evaluate(arrays["x_val"], y))
    keras_scores = model.evaluate(arrays["x_val"], y, batch_size=7, verbose=0, return_dict=True)
    name = "mae" if task == "regression" else "accuracy"
    assert loss == pytest.approx(keras_scores["loss"], rel=1e-5)
    assert metric == pytest.approx(keras_scores[name], rel=1e-6)


def test_same_seed_same_history_and_weights(gaussian_arrays):
    spec = {**SPEC, "dropout": 0.3}
    first_model, first, _ = fit_mlp(gaussian_arrays, 2, spec, seed=5)
    second_model, second, _ = fit_mlp(gaussian_arrays, 2, spec, seed=5)
    assert first == second
    for a, b in zip(first_model.get_weights(), second_model.get_weights(), strict=True):
        assert a.tobytes() == b.tobytes()
    _, other, _ = fit_mlp(gaussian_arrays, 2, spec, seed=6)
    assert other != first


def test_early_stopping_stops_and_restores_the_best_weights(gaussian_arrays):
    spec = {
        **SPEC,
        "epochs": 60,
        "learning_rate": 0.05,
        "hidden_layers": [64, 64],
        "early_stopping": {"patience": 3, "min_delta": 0.0, "restore_best_weights": True},
    }
    model, rows, stats = fit_mlp(gaussian_arrays, 2, spec, seed=0)
    assert stats["stopped_early"] and len(rows) < 60
    val_losses = [r[3] for r in rows]
    best = int(np.argmin(val_losses))
    assert len(rows) - 1 - best == 3, "stopped `patience` epochs after the best one"
    restored = model.evaluate(gaussian_arrays["x_val"], gaussian_arrays["y_val"], verbose=0, return_dict=True)
    assert restored["loss"] == pytest.approx(val_losses[best], rel=1e-4)


def test_warm_start_loads_the_parent_weights(tmp_path, gaussian_arrays):
    parent, _, _ = fit_mlp(gaussian_arrays, 2, {**SPEC, "epochs": 3}, seed=0)
    mlp.save_model(parent, tmp_path / "parent.keras")
    child = mlp.build_mlp(2, 2, SPEC)
    mlp.warm_start(child, tmp_path / "parent.keras")
    for a, b in zip(child.get_weights(), parent.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"warm start from .*parent\.keras"):
        mlp.warm_start(mlp.build_mlp(2, 2, {**SPEC, "hidden_layers": [4]}), tmp_path / "parent.keras")


def test_run_writes_model_history_and_stats_and_removes_its_checkpoint(tmp_path, gaussian_arrays):
    import json

    import keras

    data = tmp_path / "data.npz"
    scaler = preprocess.fit_scaler("none", gaussian_arrays["x_train"])
    preprocess.save(gaussian_arrays, ["a", "b"], data, scaler, tmp_path / "scaler.json")
    folder = tmp_path / "m"
    outputs = {
        "model": folder / "model",
        "history": folder / "history.csv",
        "stats": folder / "run_stats.json",
        "scores": folder / "scores.npz",
        "bundle": folder / "bundle.json",
    }
    train.run(
        TrainSettings("toy", "v", 0, {**SPEC, "epochs": 2}),
        {"data": data, "scaler": tmp_path / "scaler.json"},
        outputs,
        threads=1,
    )
    header = outputs["history"].read_text().splitlines()[0]
    assert header == "epoch,loss,accuracy,val_loss,val_accuracy"
    model = keras.saving.load_model(outputs["model"] / "model.keras")  # the model folder holds the method's file
    assert model.predict(np.zeros((1, 2), np.float32), verbose=0).shape == (1, 1)
    # the declared outputs, and progress.json (what `python -m mlbasics progress` reads while the job runs)
    assert sorted(p.name for p in folder.iterdir()) == [
        "bundle.json",
        "history.csv",
        "model",
        "progress.json",
        "run_stats.json",
        "scores.npz",
    ]
    # the scores the evaluation reads are the saved model's outputs, to the bit
    scores, loaded = read_arrays(outputs["scores"]), methods.load(SPEC, outputs["model"])
    assert all(scores[p].tobytes() == loaded.predict(gaussian_arrays[f"x_{p}"]).tobytes() for p in ("test", "train"))
    # and over the decision-boundary figure's grid (2-D inputs), so the evaluation loads no model for it either
    grid = response.grid_points(*response.boundary_grid(gaussian_arrays["x_test"]))
    assert scores["boundary"].tobytes() == loaded.predict(grid).tobytes() and "input_weights" not in scores
    progress = json.loads((folder / "progress.json").read_text())
    assert progress["epoch"] == progress["epochs"] == 2 and progress["step"] == "epoch" and "val_loss" in progress
    assert sorted(p.name for p in outputs["model"].iterdir()) == ["model.keras", "model.onnx"]
    stats = json.loads(outputs["stats"].read_text())
    assert stats["threads"] == 1 and stats["epochs_run"] == 2 and stats["train_wall_s"] > 0


@pytest.mark.parametrize("scaler", preprocess.SCALERS)
def test_every_scaler_feeds_a_training_epoch(scaler):
    ds = datasets.make("iris")
    arrays, _ = preprocess.preprocess(ds, split={"train": 0.6, "validation": 0.2, "test": 0.2}, seed=0, scaler=scaler)
    _, rows, _ = fit_mlp(arrays, 3, {**SPEC, "epochs": 1}, seed=0)
    assert len(rows) == 1 and np.isfinite(rows[0][1])


def test_mixed_precision_trains_with_a_float32_output_and_leaves_the_policy_as_it_was(gaussian_arrays):
    """The GPU option runs unchanged on a CPU: float16 hidden layers, float32 output and loss."""
    import keras

    try:
        model, rows, _ = fit_mlp(gaussian_arrays, 2, {**SPEC, "epochs": 2, "mixed_precision": True}, seed=0)
        assert model.get_layer("hidden_1").compute_dtype == "float16"
        assert model.get_layer("output").compute_dtype == "float32" and model.output.dtype == "float32"
        assert np.isfinite(rows[-1][1])
    finally:
        keras.mixed_precision.set_global_policy("float32")
    model, _, _ = fit_mlp(gaussian_arrays, 2, {**SPEC, "epochs": 1}, seed=0)
    assert model.get_layer("hidden_1").compute_dtype == "float32"


def test_bfloat16_trains_in_mixed_precision_deterministically_with_a_float32_output(gaussian_arrays):
    """precision: bfloat16 - hidden layers compute in bfloat16, weights and the output layer stay float32; the
    same seed gives the same bytes (on CPUs without native bfloat16 it runs emulated, the log says so)."""
    import keras

    try:
        runs = [fit_mlp(gaussian_arrays, 2, {**SPEC, "epochs": 2, "precision": "bfloat16"}, seed=0) for _ in range(2)]
        model, rows, stats = runs[0]
        assert model.get_layer("hidden_1").compute_dtype == "bfloat16"
        assert model.get_layer("hidden_1").variable_dtype == "float32"
        assert model.get_layer("output").compute_dtype == "float32" and np.isfinite(rows[-1][1])
        assert stats["precision"] == "bfloat16"
        assert [w.tobytes() for w in model.get_weights()] == [w.tobytes() for w in runs[1][0].get_weights()]
        assert rows == runs[1][1]
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_one_device_trains_without_a_distribution_strategy():
    assert runtime.distribution_strategy() is None, "CPU-only here: the same code path as a single GPU"


@pytest.mark.parametrize("backend", ["keras", "numpy"])
def test_each_method_fits_saves_loads_and_predicts_through_the_seam(tmp_path, gaussian_arrays, backend):
    """What train and evaluate ask of a method: fit (a history row per epoch), save, load, predict, weights."""
    from mlbasics.methods import training as methods

    spec = {**SPEC, "epochs": 2, "backend": backend, "optimizer": "sgd"}
    method = methods.create(spec)
    assert method.name == backend and method.flavour == "tensorflow"
    rows, stats = method.fit(gaussian_arrays, "binary", 2, seed=0)
    assert [r[0] for r in rows] == [1, 2] and stats["epochs_run"] == 2
    method.save(tmp_path / "model")
    again = methods.load(spec, tmp_path / "model")
    x = gaussian_arrays["x_test"]
    assert again.predict(x).tobytes() == method.predict(x).tobytes() and again.predict(x).shape == (len(x), 1)
    assert again.input_weights().shape == (2, 8)


def test_unit_event_weights_train_exactly_as_no_weights_and_real_ones_change_training(gaussian_arrays):
    """Sample weights (event_weights.py): all-equal weights give the unweighted bytes; others a weighted fit
    whose validation loss is Keras' weighted mean (with the classes balanced, the default)."""
    from mlbasics.data import event_weights

    spec = {**SPEC, "epochs": 3}
    plain_model, plain, _ = fit_mlp(gaussian_arrays, 2, spec, seed=0)
    units = {
        **gaussian_arrays,
        **{f"w_{p}": np.full(len(gaussian_arrays[f"y_{p}"]), 2.5) for p in ("train", "val", "test")},
    }
    unit_model, unit, _ = fit_mlp(units, 2, spec, seed=0)
    assert unit == plain
    assert all(
        a.tobytes() == b.tobytes() for a, b in zip(plain_model.get_weights(), unit_model.get_weights(), strict=True)
    )
    rng = np.random.default_rng(3)
    weighted = {
        **gaussian_arrays,
        **{f"w_{p}": rng.uniform(0.1, 3.0, len(gaussian_arrays[f"y_{p}"])) for p in ("train", "val", "test")},
    }
    model, rows, _ = fit_mlp(weighted, 2, spec, seed=0)
    assert rows != plain
    w_val = event_weights.training_weights(weighted["w_val"], weighted["y_val"], spec["event_weights"])
    keras_val = model.evaluate(weighted["x_val"], weighted["y_val"], sample_weight=w_val, verbose=0, return_dict=True)
    assert rows[-1][3] == pytest.approx(keras_val["loss"], rel=1e-5)
    predicted = (model.predict(weighted["x_val"], verbose=0)[:, 0] > 0.5) == weighted["y_val"]
    assert rows[-1][4] == pytest.approx(np.average(predicted, weights=w_val), rel=1e-6)


def test_training_weights_handle_negative_weights_and_balance_the_classes(capsys):
    from mlbasics.core.formats import FormatError
    from mlbasics.data import event_weights
    from mlbasics.params import config

    # the defaults: negative weights ignored (the log says how much), classes to equal weight sums
    assert config.model_defaults()["event_weights"] == {"negative": "ignore", "balance_classes": True}
    w, y = np.array([1.0, -0.5, 2.0, 1.0, 3.0]), np.array([0, 0, 1, 1, 1])
    found = event_weights.training_weights(w, y, config.model_defaults()["event_weights"], "training")
    np.testing.assert_allclose(found, [2.5, 0, 5 / 6, 5 / 12, 1.25], rtol=1e-6)  # 3.5 each, x 5/7
    assert found[:2].sum() == pytest.approx(found[2:].sum())
    assert (
        "event_weights.negative ignore: 1 of 5 training events have negative weights (sum -0.5, 6.7% of the "
        "absolute weight); trained with weight 0" in capsys.readouterr().out
    )

    w, y = np.array([1.0, -0.5, 2.0, 1.0]), np.array([0, 0, 1, 1])
    settings = {"negative": "keep", "balance_classes": False}
    np.testing.assert_allclose(event_weights.training_weights(w, y, settings), w * 4 / 3.5, rtol=1e-6)
    ignore = event_weights.training_weights(w, y, {**settings, "negative": "ignore"})
    np.testing.assert_allclose(ignore, [1, 0, 2, 1] / np.float32(1.0), rtol=1e-6)
    absolute = event_weights.training_weights(w, y, {**settings, "negative": "abs", "balance_classes": True})
    assert absolute[:2].sum() == pytest.approx(absolute[2:].sum()) and absolute.mean() == pytest.approx(1.0)
    assert event_weights.training_weights(None, y, settings) is None
    with pytest.raises(FormatError, match="sum to"):
        event_weights.training_weights(np.array([-1.0, -1.0]), np.array([0, 1]), settings)


def test_checkpoints_are_saved_every_few_seconds_not_every_epoch(tmp_path, monkeypatch):
    from mlbasics.core.errors import ParamsError
    from mlbasics.methods.checkpoint import Checkpoint

    assert Checkpoint(tmp_path, "").every_s == 10  # the default
    every_epoch = Checkpoint(tmp_path, "", every_s=0)
    assert every_epoch.due(last_epoch=False) and every_epoch.due(last_epoch=True)
    rarely = Checkpoint(tmp_path, "", every_s=3600)
    assert not rarely.due(last_epoch=False)
    soon = Checkpoint(tmp_path, "", every_s=1e-9)
    assert soon.due(last_epoch=False) and not soon.due(last_epoch=True), "the last epoch's model is saved anyway"
    assert not Checkpoint(None, "", every_s=0).due(last_epoch=False), "no folder, no checkpoint"
    monkeypatch.setenv("MLBASICS_CHECKPOINT_EVERY_S", "0")
    assert Checkpoint(tmp_path, "").every_s == 0
    for bad in ("soon", "-1", "nan"):
        monkeypatch.setenv("MLBASICS_CHECKPOINT_EVERY_S", bad)
        with pytest.raises(ParamsError, match="MLBASICS_CHECKPOINT_EVERY_S"):
            Checkpoint(tmp_path, "")


def test_evaluation_reads_the_scores_and_never_loads_the_model(tmp_path, gaussian_arrays):
    """An MLP's evaluation (MLflow offline) never loads its model, with its per-variant figures (a decision
    boundary for 2-D data: training wrote its grid's scores) or without - and metrics.json and provenance.json
    are the same bytes either way."""
    from mlbasics.pipeline import graph as pipeline
    from mlbasics.stages import evaluate

    data = tmp_path / "data.npz"
    preprocess.save(
        gaussian_arrays,
        ["a", "b"],
        data,
        preprocess.fit_scaler("none", gaussian_arrays["x_train"]),
        tmp_path / "scaler.json",
    )
    spec = {**SPEC, "epochs": 2}
    trained = {k: tmp_path / v for k, v in pipeline.outputs("train", "toy", "v").items()}
    train.run(
        TrainSettings("toy", "v", 0, spec), {"data": data, "scaler": tmp_path / "scaler.json"}, trained, threads=1
    )
    settings = {
        "dataset": "toy",
        "variant": "v",
        "seed": 0,
        "model": spec,
        "tracking": {"mode": "offline"},
        "overtraining": config.section_defaults("overtraining"),
        "bootstrap": {"resamples": 50, "confidence": 0.9},
        "expected": None,
    }
    metrics = {}
    for figures in (False, True):
        methods._LOADED.clear()
        outputs = {k: tmp_path / str(figures) / v for k, v in pipeline.outputs("evaluate", "toy", "v", figures).items()}
        evaluate.run(EvaluateSettings(**settings, figures=figures), {"data": data, **trained}, outputs, threads=1)
        assert not methods._LOADED, "the scores training wrote serve the figures too"
        metrics[figures] = outputs["metrics"].read_bytes() + outputs["provenance"].read_bytes()
    assert metrics[False] == metrics[True], "the same numbers and the same fingerprint"


def test_an_image_classifiers_training_keeps_its_first_layer_weights_for_the_figure(tmp_path):
    """Images: the evaluation's weights panel reads the first 16 hidden units' input weights that training wrote."""
    rng = np.random.default_rng(0)
    arrays = {
        f"{xy}_{part}": rng.random((30, 16), dtype=np.float32) if xy == "x" else np.arange(30) % 3
        for xy in "xy"
        for part in ("train", "val", "test")
    }
    data = tmp_path / "data.npz"
    preprocess.save(
        arrays,
        ["a", "b", "c"],
        data,
        preprocess.fit_scaler("none", arrays["x_train"]),
        tmp_path / "scaler.json",
        image_shape=(4, 4),
    )
    outputs = {
        "model": tmp_path / "model",
        "history": tmp_path / "history.csv",
        "stats": tmp_path / "stats.json",
        "scores": tmp_path / "scores.npz",
        "bundle": tmp_path / "bundle.json",
    }
    spec = {**SPEC, "hidden_layers": [20], "epochs": 1}
    train.run(
        TrainSettings("toy", "v", 0, spec), {"data": data, "scaler": tmp_path / "scaler.json"}, outputs, threads=1
    )
    scores, loaded = read_arrays(outputs["scores"]), methods.load(spec, outputs["model"])
    np.testing.assert_array_equal(scores["input_weights"], loaded.input_weights()[:, :16])
    assert scores["input_weights"].shape == (16, 16) and "boundary" not in scores


def test_without_keras_internals_adam_falls_back_to_keras_own_update_and_says_so(monkeypatch, capsys):
    """The fused kernel needs private attributes of Keras' Adam; where a Keras lacks them, Keras' own update runs
    and the job log says why."""
    import keras

    model = mlp.build_mlp(3, 2, {**SPEC, "optimizer": "adam"}, steps_per_epoch=2)
    owner = next(c for c in type(model.optimizer).__mro__ if "_get_variable_index" in vars(c))
    monkeypatch.delattr(owner, "_get_variable_index")
    assert type(model.optimizer) is keras.optimizers.Adam and epochs.fused_adam(model.optimizer) is None
    assert "has no _get_variable_index: Adam runs as Keras' own update" in capsys.readouterr().out


@pytest.mark.parametrize(("negative", "sample"), [("keep", "training"), ("ignore", "training"), ("keep", "test")])
def test_a_class_whose_weights_sum_to_nothing_stops_before_training_or_any_metric(
    tmp_path, gaussian_arrays, negative, sample
):
    """A class whose weights are all zero (or, under negative: ignore, all negative) would train, evaluate and be
    logged with roc_auc NaN: the train and evaluate stages refuse it first, naming the class and the sample."""
    from mlbasics.core.formats import FormatError
    from mlbasics.stages import evaluate

    arrays = dict(gaussian_arrays)
    for part in ("train", "val", "test"):
        y = arrays[f"y_{part}"]
        broken = part == "test" if sample == "test" else part != "test"
        arrays[f"w_{part}"] = (
            np.where(y == 1, -1.0 if negative == "ignore" else 0.0, 1.0) if broken else np.ones(len(y))
        )
    data = tmp_path / "data.npz"
    preprocess.save(arrays, ["a", "b"], data, preprocess.fit_scaler("none", arrays["x_train"]), tmp_path / "s.json")
    spec = {**SPEC, "epochs": 1, "event_weights": {"negative": negative, "balance_classes": False}}
    message = rf"^class 'b': its {sample} weights sum to -?0"
    folder = tmp_path / "m"
    if sample == "test":
        settings = EvaluateSettings("toy", "v", 0, spec, overtraining={}, bootstrap={}, tracking={})
        with pytest.raises(FormatError, match=message):
            evaluate.run(settings, {"data": data}, {"metrics": folder / "metrics.json"})
    else:
        with pytest.raises(FormatError, match=message):
            train.run(TrainSettings("toy", "v", 0, spec), {"data": data}, {"model": folder / "model"})
    assert not folder.exists(), "nothing written"


def test_seeds_train_replicas_whose_spread_the_evaluation_reports(tmp_path, gaussian_arrays):
    """Model key `seeds: 3`: the variant's model (seed) and two replicas (seed+1, seed+2), each saved and scored;
    the evaluation reports each headline number's mean and spread over the three, beside the bootstrap interval,
    and the variant's own numbers stay those of its first seed."""
    from mlbasics.evaluation.evaluate import headline_numbers
    from mlbasics.pipeline import graph as pipeline
    from mlbasics.stages import evaluate

    data = tmp_path / "data.npz"
    preprocess.save(
        gaussian_arrays,
        ["a", "b"],
        data,
        preprocess.fit_scaler("none", gaussian_arrays["x_train"]),
        tmp_path / "s.json",
    )
    metrics = {}
    for seeds in (1, 3):
        root = tmp_path / str(seeds)
        spec = {**SPEC, "epochs": 2, "seeds": seeds}
        trained = {k: root / v for k, v in pipeline.outputs("train", "toy", "v").items()}
        train.run(TrainSettings("toy", "v", 5, spec), {"data": data, "scaler": tmp_path / "s.json"}, trained, threads=1)
        settings = EvaluateSettings(
            "toy", "v", 5, spec, config.section_defaults("overtraining"), {"resamples": 50, "confidence": 0.9}
        )
        outputs = {k: root / v for k, v in pipeline.outputs("evaluate", "toy", "v", False).items()}
        evaluate.run(replace(settings, figures=False, tracking={"mode": "offline"}), {"data": data, **trained}, outputs)
        metrics[seeds] = json.loads(outputs["metrics"].read_text())
        scores = np.load(trained["scores"])
        if seeds == 3:
            assert sorted(p.name for p in (trained["model"] / "replicas").iterdir()) == ["seed-6", "seed-7"]
            assert {"test_seed_6", "test_seed_7", "val_seed_6", "val_seed_7"} <= set(scores.files)
            found = [
                headline_numbers("binary", gaussian_arrays["y_test"], scores[k], None)["roc_auc"]
                for k in ("test", "test_seed_6", "test_seed_7")
            ]
            assert len(set(found)) == 3, "each replica is another training"
            assert metrics[3]["roc_auc_seed_mean"] == pytest.approx(np.mean(found))
            assert metrics[3]["roc_auc_seed_std"] == pytest.approx(np.std(found, ddof=1)) and metrics[3]["n_seeds"] == 3
    assert not any("seed" in k for k in metrics[1]), "one seed: no spread to report"
    assert metrics[3]["roc_auc"] == metrics[1]["roc_auc"], "the variant's model is its first seed's"


def test_an_mlp_training_writes_tensorboard_logs_that_tensorboard_reads_and_changes_nothing_else(
    tmp_path, gaussian_arrays
):
    """Per epoch the training and validation loss and accuracy (runs train/validation, tags epoch_loss and
    epoch_accuracy) equal to the history, and the model's graph - read back with TensorBoard's own reader; the
    weights are those of a training without logs, bit for bit. The NumPy backend logs the same after training."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from mlbasics.core.tasks import history_columns

    spec = {**SPEC, "epochs": 3}
    plain_model, plain, _ = fit_mlp(gaussian_arrays, 2, spec, seed=0)
    method = methods.create(spec)
    rows, _ = method.fit(gaussian_arrays, "binary", 2, seed=0, tensorboard=tmp_path / "board")
    assert rows == plain
    assert all(
        a.tobytes() == b.tobytes() for a, b in zip(plain_model.get_weights(), method.model.get_weights(), strict=True)
    )
    columns = history_columns("binary")
    for part, prefix in (("train", ""), ("validation", "val_")):
        events = EventAccumulator(str(tmp_path / "board" / part))
        events.Reload()
        for name in ("loss", "accuracy"):
            logged = [(e.step, float(np.asarray(tf_value(e)))) for e in events.Tensors(f"epoch_{name}")]
            column = columns.index(prefix + name)
            assert logged == [(int(r[0]), pytest.approx(r[column], rel=1e-6)) for r in rows], (part, name)
    graph = EventAccumulator(str(tmp_path / "board" / "train"))
    graph.Reload()
    assert graph.Tags()["graph"] and any(node.op == "MatMul" for node in graph.Graph().node)
    numpy_spec = {**spec, "backend": "numpy", "optimizer": "sgd"}
    methods.create(numpy_spec).fit(gaussian_arrays, "binary", 2, seed=0, tensorboard=tmp_path / "numpy")
    events = EventAccumulator(str(tmp_path / "numpy" / "validation"))
    events.Reload()
    assert [e.step for e in events.Tensors("epoch_loss")] == [1, 2, 3]


def tf_value(event):
    """A TensorBoard tensor event's value (TensorFlow 2 writes scalars as tensors)."""
    from tensorboard.util import tensor_util

    return tensor_util.make_ndarray(event.tensor_proto)
