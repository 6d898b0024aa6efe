import numpy as np
import pytest

from mlbasics import datasets, preprocess, train

SPEC = {"hidden_layers": [8, 8], "activation": "relu", "dropout": 0.0, "l2": 0.0, "optimizer": "adam",
        "learning_rate": 0.01, "momentum": 0.0, "epochs": 8, "batch_size": 32}


@pytest.fixture(scope="module")
def gaussian_arrays():
    arrays, _ = preprocess.preprocess(datasets.gaussians(600, seed=1), split={"train": 0.6, "validation": 0.2,
                                      "test": 0.2}, seed=0)
    return arrays


def test_output_layer_follows_the_task():
    binary = train.build_mlp(2, 2, SPEC)
    assert binary.layers[-1].units == 1 and binary.layers[-1].activation.__name__ == "sigmoid"
    assert binary.loss == "binary_crossentropy"
    multi = train.build_mlp(4, 3, {**SPEC, "dropout": 0.5, "l2": 0.01, "activation": "tanh"})
    assert multi.layers[-1].units == 3 and multi.layers[-1].activation.__name__ == "softmax"
    assert multi.loss == "sparse_categorical_crossentropy"
    names = [layer.name for layer in multi.layers]
    assert names == ["features", "hidden_1", "dropout_1", "hidden_2", "dropout_2", "output"]
    assert multi.get_layer("hidden_1").kernel_regularizer is not None
    with pytest.raises(ValueError, match="at least 2 classes"):
        train.build_mlp(4, 1, SPEC)


@pytest.mark.parametrize("name, cls", [("sgd", "SGD"), ("adam", "Adam"), ("rmsprop", "RMSprop"),
                                       ("adagrad", "Adagrad")])
def test_optimizers(name, cls):
    opt = train.make_optimizer({**SPEC, "optimizer": name, "learning_rate": 0.05, "momentum": 0.9})
    assert type(opt).__name__ == cls
    assert float(opt.learning_rate) == pytest.approx(0.05)
    if name == "sgd":
        assert opt.momentum == pytest.approx(0.9)


def test_fit_learns_the_gaussians_and_records_every_epoch(gaussian_arrays):
    _model, rows = train.fit(gaussian_arrays, 2, SPEC, seed=0)
    assert len(rows) == SPEC["epochs"] and [r[0] for r in rows] == list(range(1, 9))
    assert all(len(r) == len(train.HISTORY_COLUMNS) for r in rows)
    assert rows[-1][1] < rows[0][1], "training loss falls"
    assert rows[-1][4] > 0.85, "validation accuracy of the Gaussian toy (Bayes limit ~0.92)"


def test_same_seed_same_history(gaussian_arrays):
    _, first = train.fit(gaussian_arrays, 2, SPEC, seed=5)
    _, second = train.fit(gaussian_arrays, 2, SPEC, seed=5)
    assert first == second


def test_run_writes_model_and_history(tmp_path, gaussian_arrays):
    import keras

    data = tmp_path / "data.npz"
    scaler = preprocess.fit_scaler("none", gaussian_arrays["x_train"])
    preprocess.save(gaussian_arrays, ["a", "b"], data, scaler, tmp_path / "scaler.json")
    outputs = {"model": tmp_path / "m" / "model.keras", "history": tmp_path / "m" / "history.csv"}
    train.run({"model": {**SPEC, "epochs": 2}, "seed": 0}, {"data": data}, outputs, threads=1)
    header = outputs["history"].read_text().splitlines()[0]
    assert header == "epoch,loss,accuracy,val_loss,val_accuracy"
    model = keras.saving.load_model(outputs["model"])
    assert model.predict(np.zeros((1, 2), np.float32), verbose=0).shape == (1, 1)
    assert sorted(p.name for p in outputs["model"].parent.iterdir()) == ["history.csv", "model.keras"]
