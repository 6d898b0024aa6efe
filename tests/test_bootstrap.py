"""Error bars (bootstrap.py) and claims made only beyond them (verdicts.py): the intervals are reproducible, the
bootstrap's fast ROC numbers are response.roc's, and a difference inside the interval is not called better."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlbasics.evaluation import bootstrap, response
from mlbasics.report import verdicts

SETTINGS = {"resamples": 400, "confidence": 0.95}


def sample(n: int = 600, separation: float = 1.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    score = 1 / (1 + np.exp(-(separation * (2 * y - 1) + rng.normal(size=n))))
    w = np.where(rng.random(n) < 0.05, -1.0, 1.0) * rng.uniform(0.5, 1.5, n)  # some negative, as at NLO
    return y, np.round(score, 2), w  # rounded: ties in the response


def test_replicates_written_by_evaluate_read_back_as_the_same_floats(tmp_path):
    """The report compares variants on the replicates each evaluation wrote (bootstrap.csv), not on new draws:
    they must be exactly the numbers the evaluation's intervals came from."""
    y, score, w = sample()
    found = bootstrap.replicates("binary", y, score, w, SETTINGS["resamples"], seed=42)
    bootstrap.write(tmp_path / "bootstrap.csv", found)
    read = bootstrap.read(tmp_path / "bootstrap.csv")
    assert list(read) == ["roc_auc", "sig_eff_at_bkg_0p10"] and all(np.array_equal(read[k], found[k]) for k in found)
    assert bootstrap.intervals_of(read, 0.95) == bootstrap.intervals("binary", y, score, w, SETTINGS, seed=42)


def test_the_same_seed_gives_the_same_bytes_and_another_seed_other_draws():
    y, score, w = sample()
    a = bootstrap.intervals("binary", y, score, w, SETTINGS, seed=42)
    assert json.dumps(a) == json.dumps(bootstrap.intervals("binary", y, score, w, SETTINGS, seed=42))
    assert a != bootstrap.intervals("binary", y, score, w, SETTINGS, seed=43)
    assert set(a) == {"roc_auc_ci_lo", "roc_auc_ci_hi", "sig_eff_at_bkg_0p10_ci_lo", "sig_eff_at_bkg_0p10_ci_hi"}
    auc = response.roc(y, score, w)[2]
    assert a["roc_auc_ci_lo"] < auc < a["roc_auc_ci_hi"] and a["roc_auc_ci_hi"] - a["roc_auc_ci_lo"] < 0.15


def test_a_draw_of_every_event_once_gives_response_roc_numbers():
    """The fast ROC of the bootstrap on weights times counts equals response.roc (ties and negative weights)."""
    y, score, w = sample()
    order = np.argsort(-score, kind="stable")
    last = np.r_[np.nonzero(np.diff(score[order]))[0], len(y) - 1]
    for counts in (np.ones(len(y)), np.random.default_rng(1).integers(0, 3, len(y)).astype(float)):
        auc, eff = bootstrap._roc_numbers((counts * w)[order][None, :], (y[order] == 1), last)
        assert auc[0] == pytest.approx(response.roc(y, score, counts * w)[2], abs=1e-12)
        assert eff[0] == pytest.approx(response.signal_efficiency_at(y, score, counts * w, 0.10), abs=1e-12)


def test_accuracy_and_mse_replicates_are_weighted_means_over_the_draws():
    y = np.array([0, 1, 2, 1])
    reps = bootstrap.replicates("multiclass", y, np.array([0, 1, 1, 1]), None, 50, seed=0)["accuracy"]
    assert reps.shape == (50,) and set(np.round(reps * 4)) <= {0, 1, 2, 3, 4}
    reps = bootstrap.replicates("regression", np.zeros(3), np.ones(3), np.array([1.0, 2.0, 3.0]), 20, 0)["mse"]
    assert np.allclose(reps, 1.0)


def rows_for(scores: dict[str, np.ndarray], y: np.ndarray, method: dict[str, str]) -> list[dict]:
    return [
        {
            "variant": v,
            "method": method[v],
            "roc_auc": response.roc(y, s)[2],
            "sig_eff_at_bkg_0p10": response.signal_efficiency_at(y, s, None, 0.1),
            "verdict": "ok",
            "overfitting_since": 0,
            "train_loss": 0.3,
            "val_loss": 0.35,
        }
        for v, s in scores.items()
    ]


def test_a_difference_inside_the_interval_is_not_reported_as_better():
    """Two MLP variants whose responses differ by noise, and a BDT that separates clearly better: only the BDT is
    called better, and the variant is 'within the uncertainty' of the baseline, not 'helped'."""
    rng = np.random.default_rng(7)
    y = (rng.random(800) < 0.5).astype(int)
    base = y + rng.normal(0, 1.0, 800)
    scores = {"baseline": base, "dropout": base + rng.normal(0, 0.05, 800), "bdt": y + rng.normal(0, 0.5, 800)}
    method = {"baseline": "mlp", "dropout": "mlp", "bdt": "bdt"}
    rows = rows_for(scores, y, method)
    reps = {v: bootstrap.replicates("binary", y, s, None, 300, seed=1) for v, s in scores.items()}
    assert rows[1]["roc_auc"] != rows[0]["roc_auc"]  # a difference there is - but not beyond the uncertainty
    answer = verdicts.overtraining(rows, "binary", reps, 0.95)
    assert answer["helped"] == [] and answer["within"] == ["dropout"]
    assert [c["variant"] for c in answer["compared"]] == ["dropout"]  # other methods: compared in `methods`
    compared = verdicts.methods(rows, "binary", method, reps, 0.95)
    assert compared["best"]["method"] == "bdt"
    assert all(c["better"] for c in compared["versus"][0]["by"])
    assert "BDT is better beyond the uncertainty" in compared["sentence"]
    # the same two MLP variants as two "methods": the sentence must not call either better
    close = verdicts.methods(rows[:2], "binary", {"baseline": "mlp", "dropout": "knn"}, reps, 0.95)
    assert not any(c["better"] for c in close["versus"][0]["by"])
    assert close["sentence"].endswith("within the uncertainty: neither is better on this test sample.")


def test_the_draws_come_in_chunks_that_change_no_number(monkeypatch):
    """Large samples are drawn a few draws at a time (CHUNK_NUMBERS): the generator gives the draws one by one,
    so any chunking gives the same replicates, to the bit."""
    y, score, w = sample(900)
    whole = bootstrap.replicates("binary", y, score, w, 37, seed=5)
    bootstrap._kept.clear()
    monkeypatch.setattr(bootstrap, "CHUNK_NUMBERS", 900 * 3)  # three draws at a time, then one at a time
    assert all(np.array_equal(whole[k], v) for k, v in bootstrap.replicates("binary", y, score, w, 37, 5).items())
    bootstrap._kept.clear()
    monkeypatch.setattr(bootstrap, "CHUNK_NUMBERS", 1)
    assert all(np.array_equal(whole[k], v) for k, v in bootstrap.replicates("binary", y, score, w, 37, 5).items())
    bootstrap._kept.clear()


def test_the_bootstrap_memory_is_set_by_its_chunk_not_the_test_size(monkeypatch):
    """Peak memory (numpy's allocations, traced) of the bootstrap of 50,000 and of 400,000 test events: beyond
    the few arrays of one value per event, it does not grow with the events (it grew 8-fold, with the draws).
    The draws kept for the next variant of a dataset are capped apart (KEEP_MAX numbers); not kept here."""
    import tracemalloc

    monkeypatch.setattr(bootstrap, "KEEP_MAX", 0)
    peaks = {}
    for n in (50_000, 400_000):
        y, score, w = sample(n)
        bootstrap._kept.clear()
        tracemalloc.start()
        bootstrap.replicates("binary", y, score, w, 60, seed=1)
        peaks[n] = tracemalloc.get_traced_memory()[1] - 20 * 8 * n  # less ~20 arrays of one float per event
        tracemalloc.stop()
    bootstrap._kept.clear()
    assert peaks[400_000] < 1.5 * peaks[50_000], peaks
    assert peaks[400_000] < 8 * bootstrap.CHUNK_NUMBERS * 8, peaks  # a few chunk-sized float64 arrays


def test_events_with_several_rows_are_drawn_whole():
    """Each event's rows are drawn together (options.group): with every event's row repeated three times, the
    intervals are those of one row per event, and wider than a bootstrap that draws the rows one by one."""
    rng = np.random.default_rng(8)
    events = 400
    y = np.r_[np.zeros(events // 2), np.ones(events // 2)].astype(int)
    score = rng.normal(size=events) + y
    w = rng.uniform(0.5, 1.5, events)
    repeated = [np.repeat(a, 3) for a in (y, score, w)]
    groups = np.repeat(np.arange(events) * 7 + 3, 3)  # any ids: what counts is which rows share one
    one_row = bootstrap.replicates("binary", y, score, w, 300, seed=2)
    by_event = bootstrap.replicates("binary", *repeated, 300, seed=2, groups=groups)
    by_row = bootstrap.replicates("binary", *repeated, 300, seed=2)
    for name in ("roc_auc", "sig_eff_at_bkg_0p10"):
        np.testing.assert_allclose(by_event[name], one_row[name], rtol=1e-12, err_msg=name)
        assert np.std(by_event[name]) > 1.4 * np.std(by_row[name]), name  # about sqrt(3) wider
    # without repeated rows, groups of one row each are the row bootstrap itself
    alone = bootstrap.replicates("binary", y, score, w, 300, seed=2, groups=np.arange(events) + 10)
    assert all(np.array_equal(alone[k], one_row[k]) for k in one_row)


def test_each_methods_best_variant_is_chosen_on_validation_and_judged_on_test():
    """A method's best variant is the best on the validation sample, not the luckiest on the test sample; the
    methods are then ranked on their chosen variants' test numbers, and the page says how many were compared."""
    rng = np.random.default_rng(3)
    y = (rng.random(600) < 0.5).astype(int)
    scores = {v: y + rng.normal(0, s, 600) for v, s in (("wide", 1.2), ("narrow", 1.0), ("bdt", 0.9))}
    method = {"wide": "mlp", "narrow": "mlp", "bdt": "bdt"}
    rows = rows_for(scores, y, method)
    reps = {v: bootstrap.replicates("binary", y, s, None, 200, seed=1) for v, s in scores.items()}
    # on validation `wide` was better: it is the MLP's choice, even where `narrow` has the better test number
    for row, validation in zip(rows, (0.9, 0.8, 0.7), strict=True):
        row["validation_roc_auc"] = validation
    rows[1]["roc_auc"] = rows[0]["roc_auc"] + 0.01
    compared = verdicts.methods(rows, "binary", method, reps, 0.95)
    chosen = {r["method"]: (r["variant"], r["of"], r["chosen_on"]) for r in compared["ranking"]}
    assert chosen == {"mlp": ("wide", 2, "validation"), "bdt": ("bdt", 1, "validation")}
    tests = [r["roc_auc"] for r in compared["ranking"]]
    assert tests == sorted(tests, reverse=True)  # ranked on the test numbers


def test_the_seed_spread_widens_the_interval_a_difference_must_clear():
    """bootstrap.compare: a difference beyond the bootstrap interval is not 'better' where the runs' seed-to-seed
    spread is as large as the difference."""
    rng = np.random.default_rng(0)
    a, b = 0.90 + rng.normal(0, 0.002, 500), 0.88 + rng.normal(0, 0.002, 500)
    plain = bootstrap.compare("roc_auc", 0.90, 0.88, a, b, 0.95)
    spread = bootstrap.seed_spread("roc_auc", {"roc_auc_seed_std": 0.015}, {"roc_auc_seed_std": 0.01})
    shaky = bootstrap.compare("roc_auc", 0.90, 0.88, a, b, 0.95, spread)
    assert plain["better"] and not shaky["better"] and "seed_spread" not in plain
    assert shaky["lo"] == pytest.approx(plain["lo"] - 1.959964 * np.hypot(0.015, 0.01), rel=1e-6)
