"""Overtraining analytics on hand-made histories: clear overfitting, clean convergence, underfitting."""

import pytest

from mlbasics import config, overtraining

RULES = config.section_defaults("overtraining")  # what params.yaml's overtraining: {} becomes


def history(loss, val_loss, acc=None, val_acc=None):
    acc = acc or [0.9] * len(loss)
    val_acc = val_acc or [0.85] * len(loss)
    return [{"epoch": str(i + 1), "loss": str(a), "val_loss": str(b), "accuracy": str(c), "val_accuracy": str(d)}
            for i, (a, b, c, d) in enumerate(zip(loss, val_loss, acc, val_acc, strict=True))]


def test_clear_overfitting_since_the_epoch_after_the_best():
    h = history([1.0, 0.7, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1], [1.0, 0.8, 0.6, 0.55, 0.6, 0.7, 0.8, 0.9],
                acc=[0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97], val_acc=[0.6, 0.7, 0.78, 0.8, 0.79, 0.78, 0.77, 0.76])
    result = overtraining.analyse(h, {**RULES, "patience": 3})
    assert result["best_epoch"] == 4 and result["overfitting_since"] == 5
    assert result["verdict"] == "overfitting"
    assert result["loss_gap_final"] == pytest.approx(0.8) and result["loss_gap_best"] == pytest.approx(0.15)
    assert result["accuracy_gap_final"] == pytest.approx(0.21)


def test_a_rise_shorter_than_the_patience_is_not_overfitting():
    h = history([1.0, 0.7, 0.5, 0.45, 0.42], [1.0, 0.8, 0.6, 0.62, 0.61])
    result = overtraining.analyse(h, {**RULES, "patience": 3, "max_loss_gap": 1.0})
    assert result["overfitting_since"] == 0 and result["verdict"] == "ok"


def test_clean_convergence_is_ok():
    h = history([1.0, 0.6, 0.4, 0.3, 0.25], [1.05, 0.65, 0.45, 0.36, 0.31])
    result = overtraining.analyse(h, RULES)
    assert result == {**result, "best_epoch": 5, "overfitting_since": 0, "verdict": "ok"}


def test_underfitting_when_training_loss_barely_moves_or_accuracy_stays_low():
    flat = history([0.69, 0.69, 0.68, 0.68], [0.69, 0.69, 0.69, 0.68], acc=[0.5] * 4, val_acc=[0.5] * 4)
    assert overtraining.analyse(flat, RULES)["verdict"] == "underfitting"
    low = history([2.3, 1.5, 1.2, 1.1], [2.3, 1.5, 1.25, 1.15], acc=[0.2, 0.4, 0.5, 0.55])
    assert overtraining.analyse(low, {**RULES, "min_train_accuracy": 0.6})["verdict"] == "underfitting"


def test_regression_histories_use_the_mae_gap():
    h = [{"epoch": "1", "loss": "1.0", "val_loss": "1.1", "mae": "0.8", "val_mae": "0.9"},
         {"epoch": "2", "loss": "0.5", "val_loss": "0.6", "mae": "0.5", "val_mae": "0.6"}]
    result = overtraining.analyse(h, RULES)
    assert result["mae_gap_final"] == pytest.approx(0.1) and "accuracy_gap_final" not in result
