"""Overtraining analytics on hand-made histories: clear overfitting, clean convergence, underfitting."""

import pytest

from mlbasics.evaluation import overtraining
from mlbasics.params import config

RULES = config.section_defaults("overtraining")  # what params.yaml's overtraining: {} becomes


def history(loss, val_loss, acc=None, val_acc=None):
    acc = acc or [0.9] * len(loss)
    val_acc = val_acc or [0.85] * len(loss)
    return [
        {"epoch": str(i + 1), "loss": str(a), "val_loss": str(b), "accuracy": str(c), "val_accuracy": str(d)}
        for i, (a, b, c, d) in enumerate(zip(loss, val_loss, acc, val_acc, strict=True))
    ]


def test_clear_overfitting_since_the_epoch_after_the_best():
    h = history(
        [1.0, 0.7, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1],
        [1.0, 0.8, 0.6, 0.55, 0.6, 0.7, 0.8, 0.9],
        acc=[0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97],
        val_acc=[0.6, 0.7, 0.78, 0.8, 0.79, 0.78, 0.77, 0.76],
    )
    result = overtraining.analyse(h, {**RULES, "patience": 3})
    assert result["best_epoch"] == 4 and result["overfitting_since"] == 5
    assert result["verdict"] == "overfitting"
    assert result["loss_gap_final"] == pytest.approx(0.8) and result["loss_gap_best"] == pytest.approx(0.15)
    assert result["accuracy_gap_final"] == pytest.approx(0.21)


def test_a_rise_shorter_than_the_patience_is_not_overfitting():
    h = history([1.0, 0.7, 0.5, 0.45, 0.42], [1.0, 0.8, 0.6, 0.62, 0.61])
    result = overtraining.analyse(h, {**RULES, "patience": 3, "max_loss_gap": 1.0})
    assert result["overfitting_since"] == 0 and result["verdict"] == "ok"


def test_a_run_still_improving_at_its_end_is_not_converged_unless_early_stopping_ended_it():
    h = history([1.0, 0.6, 0.4, 0.3, 0.25], [1.05, 0.65, 0.45, 0.36, 0.31])
    result = overtraining.analyse(h, RULES)
    assert result == {**result, "best_epoch": 5, "overfitting_since": 0, "verdict": "not_converged"}
    assert overtraining.flags(result) == {"overfitting": 0, "underfitting": 0, "not_converged": 1}
    assert overtraining.analyse(h, RULES, stopped_early=True)["verdict"] == "ok"
    # thirty epochs, the best at 27 (among the last three) or at 20 (settled well before the end)
    val = [1.0 - 0.02 * i for i in range(27)] + [0.47, 0.48, 0.49]
    loss = [1.0 - 0.02 * i for i in range(30)]
    assert overtraining.analyse(history(loss, val), RULES)["verdict"] == "not_converged"
    settled = [1.0 - 0.02 * i for i in range(20)] + [0.62] * 10
    assert overtraining.analyse(history(loss, settled), RULES)["verdict"] == "ok"


def test_underfitting_when_training_loss_barely_moves_never_from_an_accuracy_threshold():
    flat = history([0.69, 0.69, 0.68, 0.68], [0.69, 0.69, 0.69, 0.68], acc=[0.5] * 4, val_acc=[0.5] * 4)
    assert overtraining.analyse(flat, RULES)["verdict"] == "underfitting"
    # a low accuracy at a 0.5 cut alone says nothing (a signal of a few per cent of the weight): judged against
    # the best run of the dataset instead (report/verdicts.py)
    low = history([2.3, 1.5, 1.2, 1.1], [2.3, 1.5, 1.25, 1.15], acc=[0.2, 0.4, 0.5, 0.55])
    assert overtraining.analyse(low, RULES, stopped_early=True)["verdict"] == "ok"


def test_regression_histories_use_the_mae_gap():
    h = [
        {"epoch": "1", "loss": "1.0", "val_loss": "1.1", "mae": "0.8", "val_mae": "0.9"},
        {"epoch": "2", "loss": "0.5", "val_loss": "0.6", "mae": "0.5", "val_mae": "0.6"},
    ]
    result = overtraining.analyse(h, RULES)
    assert result["mae_gap_final"] == pytest.approx(0.1) and "accuracy_gap_final" not in result


def test_a_wobble_of_noise_after_the_best_epoch_is_not_overfitting():
    """The case that was called "overfitting since epoch 38": three epochs a hair above the best validation
    loss, ending with a negligible train-validation gap."""
    loss = [0.60 - 0.005 * i for i in range(40)]
    val = [0.61 - 0.005 * i for i in range(37)] + [0.4303, 0.4305, 0.4304]
    result = overtraining.analyse(history(loss, val), RULES)
    assert result["best_epoch"] == 37 and result["overfitting_since"] == 0
    assert result["verdict"] == "not_converged"  # not overfitting: its best epoch is among the last four of forty
    risen = [*val[:37], 0.47, 0.48, 0.49]  # the same shape with a material rise is overfitting
    assert overtraining.analyse(history(loss, risen), RULES)["overfitting_since"] == 38


def test_a_small_ks_p_value_makes_the_verdict_overfitting():
    h = history([1.0, 0.6, 0.4, 0.3, 0.25], [1.05, 0.65, 0.45, 0.36, 0.31])
    judged = overtraining.analyse(h, RULES, {"signal": 0.5, "background": 0.004})
    assert judged["ks_p_min"] == 0.004 and judged["verdict"] == "overfitting"
    assert overtraining.analyse(h, RULES, {"signal": 0.5, "background": 0.2}, stopped_early=True)["verdict"] == "ok"


@pytest.mark.engine
def test_the_ks_threshold_is_corrected_for_the_number_of_classes_tested():
    """Sidak: the lowest of m probabilities against 1 - (1 - ks_min_p)^(1/m) - 0.005013 for two classes at 0.01,
    0.001005 for ten: ten classes of a model that is fine are not called overtrained one time in ten."""
    h = history([1.0, 0.5, 0.4], [1.0, 0.55, 0.45])
    one = overtraining.analyse(h, RULES, {"signal": 0.006}, stopped_early=True)
    two = overtraining.analyse(h, RULES, {"signal": 0.006, "background": 0.5}, stopped_early=True)
    assert one["verdict"] == "overfitting" and two["verdict"] == "ok"
    assert two["ks_p_threshold"] == pytest.approx(1 - 0.99**0.5)
    ten = overtraining.analyse(h, RULES, {str(k): 0.5 if k else 0.0056 for k in range(10)}, stopped_early=True)
    assert ten["verdict"] == "ok" and ten["ks_p_threshold"] == pytest.approx(0.001005, rel=1e-3)


def test_an_overtrained_network_fails_the_ks_check_and_a_regularised_one_passes():
    """TMVA's check on real training: a wide net trained long on 150 events answers differently on them than on
    unseen events (KS p below 0.01); a tiny, strongly regularised one, stopped early, does not."""
    import numpy as np

    from mlbasics.data import arrays as data
    from mlbasics.data import preprocess
    from mlbasics.evaluation import response
    from tests.helpers import fit_mlp

    # 20 inputs, only two of them carrying a little signal: plenty of room to memorise 150 events
    rng = np.random.default_rng(3)
    y = np.arange(750) % 2
    x = rng.normal(size=(750, 20)) + 0.4 * y[:, None] * (np.arange(20) < 2)
    arrays, _ = preprocess.preprocess(
        data.Dataset(x.astype(np.float32), y, ["a", "b"]),
        split={"train": 0.2, "validation": 0.2, "test": 0.6},
        seed=0,
        scaler="standard",
    )
    spec = {**config.model_defaults(), "learning_rate": 0.01, "batch_size": 16}
    judged = {}
    for name, overrides in (
        ("overtrained", {"hidden_layers": [256, 256], "epochs": 300}),
        ("regularised", {"hidden_layers": [2], "epochs": 5, "l2": 0.1, "learning_rate": 0.003}),
    ):
        model, _, _ = fit_mlp(arrays, 2, {**spec, **overrides}, seed=0)
        scores = {p: model.predict(arrays[f"x_{p}"], verbose=0) for p in ("train", "test")}
        parts = ((arrays[f"y_{p}"], scores[p], None) for p in ("train", "test"))
        checked = response.check("binary", ["a", "b"], *parts)
        judged[name] = checked["ks_p"]
    assert min(judged["overtrained"].values()) < RULES["ks_min_p"], judged
    assert min(judged["regularised"].values()) >= RULES["ks_min_p"], judged
