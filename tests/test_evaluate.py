import numpy as np
import pytest
from sklearn.metrics import f1_score

from mlbasics import evaluate
from mlbasics.io import read_csv


def test_metrics_match_hand_counts():
    y_true = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 2])
    y_pred = np.array([0, 0, 1, 1, 1, 2, 2, 2, 0, 2])
    m = evaluate.classification_metrics(y_true, y_pred, ["a", "b c", "d"])
    assert m["accuracy"] == pytest.approx(0.8) and m["n_test"] == 10
    assert m["precision_a"] == pytest.approx(2 / 3) and m["recall_a"] == pytest.approx(2 / 3)
    assert m["precision_b_c"] == pytest.approx(2 / 3) and m["recall_b_c"] == pytest.approx(1.0)
    assert m["precision_d"] == pytest.approx(1.0) and m["recall_d"] == pytest.approx(0.8)
    assert m["f1_macro"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert all(isinstance(v, (int, float)) for v in m.values()), "flat keys, plain numbers"


def test_class_never_predicted_scores_zero_without_warning():
    m = evaluate.classification_metrics(np.array([0, 1, 1]), np.array([1, 1, 1]), ["x", "y"])
    assert m["precision_x"] == 0.0 and m["recall_x"] == 0.0


def _dense(n_in: int, n_out: int, activation: str, weights: np.ndarray):
    import keras

    model = keras.Sequential([keras.Input((n_in,)), keras.layers.Dense(n_out, activation=activation)])
    model.layers[0].set_weights([weights.astype(np.float32), np.zeros(n_out, np.float32)])
    return model


def test_predict_classes_binary_and_multiclass():
    sigmoid = _dense(1, 1, "sigmoid", np.ones((1, 1)))  # p = sigmoid(x): x < 0 -> class 0
    assert evaluate.predict_classes(sigmoid, np.array([[-2.0], [0.5]], np.float32)).tolist() == [0, 1]
    softmax = _dense(3, 3, "softmax", np.eye(3))  # the largest input wins
    x = np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]], np.float32)
    assert evaluate.predict_classes(softmax, x).tolist() == [1, 0]


def test_confusion_csv_layout(tmp_path):
    evaluate.write_confusion(tmp_path / "c.csv", np.array([[3, 1], [0, 4]]), ["cat", "dog"])
    rows = read_csv(tmp_path / "c.csv")
    assert rows == [{"true\\predicted": "cat", "cat": "3", "dog": "1"},
                    {"true\\predicted": "dog", "cat": "0", "dog": "4"}]
