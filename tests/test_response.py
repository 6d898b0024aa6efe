"""The TMVA-style response numbers against hand computations: KS test (weighted and not), efficiencies,
ROC AUC with negative weights, the best cut's significance, the separation."""

import numpy as np
import pytest
from scipy import stats

from mlbasics.evaluation import response


def test_ks_matches_scipy_unweighted_and_unit_weights_change_nothing():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 300), rng.normal(0.2, 1, 200)
    expected = stats.ks_2samp(a, b)
    assert response.ks_test(a, b) == (expected.statistic, expected.pvalue)
    assert response.ks_test(a, b, np.full(300, 0.3), np.full(200, 0.3)) == (expected.statistic, expected.pvalue)


def test_weighted_ks_is_the_distance_of_weighted_ecdfs_with_effective_sizes():
    """Weight 2 on an event = the event twice in the distance; the p-value uses n_eff = (sum w)^2 / sum w^2."""
    a, wa = np.array([0.1, 0.4, 0.7]), np.array([2.0, 1.0, 1.0])
    b = np.array([0.2, 0.5, 0.6, 0.9])
    distance, p = response.ks_test(a, b, wa, np.ones(4) * 1.5)
    doubled = stats.ks_2samp(np.array([0.1, 0.1, 0.4, 0.7]), b)
    assert distance == pytest.approx(doubled.statistic)
    n_a, n_b = 4.0**2 / 6.0, 4.0  # (2+1+1)^2 / (4+1+1); b's equal weights: n
    assert p == pytest.approx(stats.kstwobign.sf(np.sqrt(n_a * n_b / (n_a + n_b)) * distance))


def test_signal_efficiency_at_background_efficiency_by_hand():
    # background scores 0.0 .. 0.9 (10 events), signal 0.55 .. 0.95: keeping 10 % of the background is a cut
    # above 0.8 (only 0.9 passes), which keeps the signal events above it: 0.85, 0.95 of 5 -> 40 %
    y = np.r_[np.zeros(10), np.ones(5)].astype(int)
    score = np.r_[np.arange(10) / 10, [0.55, 0.65, 0.75, 0.85, 0.95]]
    assert response.signal_efficiency_at(y, score, None, 0.10) == pytest.approx(0.4)
    # every signal weight x3: efficiencies are ratios within a class, so nothing moves
    w = np.r_[np.ones(10), np.full(5, 3.0)]
    assert response.signal_efficiency_at(y, score, w, 0.10) == pytest.approx(0.4)
    # the highest background event weighs 4: it alone is now 4/13 of the background, the 10 % cut tightens
    w_bkg = np.r_[np.ones(9), [4.0], np.ones(5)]
    assert response.signal_efficiency_at(y, score, w_bkg, 0.10) < 0.4
    table = response.efficiency_table((y, score, None), (y, score, None))
    assert set(table) == {
        "sig_eff_at_bkg_0p01",
        "sig_eff_at_bkg_0p10",
        "sig_eff_at_bkg_0p30",
        "train_sig_eff_at_bkg_0p01",
        "train_sig_eff_at_bkg_0p10",
        "train_sig_eff_at_bkg_0p30",
    }


def test_auc_with_negative_weights_and_equal_weights():
    y = np.array([0, 0, 1, 1, 0, 1])
    score = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9])
    from sklearn.metrics import roc_auc_score

    assert response.roc(y, score)[2] == roc_auc_score(y, score)
    assert response.roc(y, score, np.full(6, 2.0))[2] == roc_auc_score(y, score)
    _, _, auc = response.roc(y, score, np.array([1, -0.5, 1, 2, 1, 1.0]))  # scikit-learn refuses this one
    assert np.isfinite(auc)


def test_best_cut_maximises_the_asimov_significance():
    y = np.r_[np.zeros(100), np.ones(100)].astype(int)
    score = np.r_[np.linspace(0, 0.6, 100), np.linspace(0.4, 1.0, 100)]
    best = response.best_cut((y, score, None), (y, score, None), signal=10.0, background=1000.0)
    s, b = 10 * best["best_cut_signal_eff"], 1000 * best["best_cut_background_eff"]
    assert best["best_cut_asimov_z"] == pytest.approx(np.sqrt(2 * ((s + b) * np.log(1 + s / b) - s)))
    assert best["best_cut_s_over_sqrt_s_b"] == pytest.approx(s / np.sqrt(s + b))
    assert 0.4 < best["best_cut"] <= 0.61
    # the cut keeps the minimum number of background events (10 by default) of the sample it is chosen on
    assert best["best_cut_background_events"] >= 10 and best["best_cut_validation_z"] == best["best_cut_asimov_z"]
    strict = response.best_cut((y, score, None), (y, score, None), 10.0, 1000.0, min_background_events=40)
    assert strict["best_cut_background_events"] >= 40 and strict["best_cut"] < best["best_cut"]
    # fewer background events than the minimum: the cut that keeps them all, not one that keeps none
    few = response.best_cut((y, score, None), (y, score, None), 10.0, 1000.0, min_background_events=500)
    assert few["best_cut_background_events"] == 100 and few["best_cut"] == 0.0


def test_the_best_cut_is_chosen_on_one_sample_and_reported_on_another():
    rng = np.random.default_rng(3)

    def sample(n):
        y = (rng.random(n) < 0.5).astype(int)
        return y, 1 / (1 + np.exp(-(2 * y - 1) * 1.5 - rng.normal(size=n))), rng.uniform(0.5, 1.5, n)

    validation, test = sample(4000), sample(4000)
    found = response.best_cut(validation, test, signal=30.0, background=3000.0)
    alone = response.best_cut(validation, validation, signal=30.0, background=3000.0)
    assert found["best_cut"] == alone["best_cut"]  # chosen on validation, whatever the test sample
    y, score, w = test
    kept = score >= found["best_cut"]
    assert found["best_cut_signal_eff"] == pytest.approx(w[kept & (y == 1)].sum() / w[y == 1].sum())
    assert found["best_cut_background_events"] == int((kept & (y == 0)).sum())
    assert found["best_cut_asimov_z"] != alone["best_cut_asimov_z"]  # the test sample's own number


def test_cowans_significance_with_a_background_uncertainty():
    s, b = 20.0, 100.0
    asimov = np.sqrt(2 * ((s + b) * np.log(1 + s / b) - s))
    assert response.significance(s, b) == pytest.approx(asimov)
    assert response.significance(s, b, 1e-4) == pytest.approx(asimov, rel=1e-6)  # sigma_b -> 0: Asimov
    sigma = 10.0
    cowan = np.sqrt(
        2
        * (
            (s + b) * np.log((s + b) * (b + sigma**2) / (b**2 + (s + b) * sigma**2))
            - b**2 / sigma**2 * np.log(1 + sigma**2 * s / (b * (b + sigma**2)))
        )
    )
    assert response.significance(s, b, sigma) == pytest.approx(cowan) and cowan < asimov
    assert response.significance(s, 0.0) == 0.0  # no background left: too few events to say
    # a background uncertainty lowers the best cut's significance
    y = np.r_[np.zeros(500), np.ones(500)].astype(int)
    score = np.r_[np.linspace(0, 0.7, 500), np.linspace(0.3, 1.0, 500)]
    plain = response.best_cut((y, score, None), (y, score, None), 20.0, 100.0)
    shaky = response.best_cut((y, score, None), (y, score, None), 20.0, 100.0, background_uncertainty=0.2)
    assert shaky["best_cut_asimov_z"] < plain["best_cut_asimov_z"]


def test_separation_is_zero_for_equal_and_one_for_disjoint_distributions():
    x = np.random.default_rng(1).normal(size=1000)
    assert response.separation(x, x) == pytest.approx(0.0)
    assert response.separation(x, x + 100) == pytest.approx(1.0)


def test_the_binned_ks_is_roots_kolmogorov_test_with_pseudo_experiments():
    """a = [0, 0, 1, 1], b = [0, 1, 1, 1] in two bins: cumulative [1/2, 1] and [1/4, 1], distance 1/4; pseudo test
    samples of 4 events from a's histogram lie farther than 1/4 when all four land in one bin: p = 2/16."""
    distance, p = response.ks_binned(np.array([0.0, 0.0, 1.0, 1.0]), np.array([0.0, 1.0, 1.0, 1.0]), bins=2)
    assert distance == pytest.approx(0.25) and p == pytest.approx(0.125, abs=0.035)
    rng = np.random.default_rng(6)
    same, shifted = rng.normal(size=3000), rng.normal(size=3000)
    assert response.ks_binned(same, shifted)[1] > 0.05 and response.ks_binned(same, shifted + 0.3)[1] == 0.0
    assert response.ks_binned(same, shifted) == response.ks_binned(same, shifted)  # seeded


def test_separation_is_tmvas_by_hand_and_one_event_far_out_does_not_change_it():
    """TMVA's histograms span each class's mean +- 8 RMS, clipped to the values: s = [0, 1] (mean 0.5, RMS 0.5)
    and b = [1, 1] give edges [0, 0.5, 1] with two bins, S = [1/2, 1/2], B = [0, 1], and <S^2> =
    1/2 ((1/2)^2 / (1/2) + (1/2)^2 / (3/2)) = 1/3."""
    assert response.separation(np.array([0.0, 1.0]), np.array([1.0, 1.0]), bins=2) == pytest.approx(1 / 3)
    rng = np.random.default_rng(4)
    signal, background = 20 + rng.exponential(45.0, 5000), 20 + rng.exponential(28.0, 5000)
    plain = response.separation(signal, background)
    far = np.r_[background, 5000.0]  # one background event at 5 TeV
    assert abs(response.separation(signal, far) - plain) < 0.005
    edges = np.histogram_bin_edges(np.r_[signal, far], bins=40)  # the whole range: the rest squeezed into 2 bins
    squeezed = response.separations_of_histograms(
        np.histogram(signal, edges)[0][None], np.histogram(far, edges)[0][None]
    )[0]
    assert squeezed < plain / 2


def test_every_inputs_separation_at_once_is_the_one_by_one_number_to_the_bit():
    """variables.separations bins all inputs together (unweighted): the same bits as response.separation
    per input and class - on real digits, a constant input, values on bin edges, two and ten classes."""
    from sklearn.datasets import load_digits

    from mlbasics.evaluation import variables

    digits = load_digits()
    x, y = digits.data.astype(np.float64), digits.target
    x[:, 1] = 7.0  # constant
    x[:, 2] = np.linspace(0.0, 1.0, len(x))  # every 40th value on an edge, the maximum on the last one
    for labels, n_classes in ((y, 10), ((y == 3).astype(int), 2)):
        pairs = [labels == 1] if n_classes == 2 else [labels == k for k in range(n_classes)]
        expected = np.zeros(x.shape[1])
        for mask in pairs:
            expected += [response.separation(x[mask, j], x[~mask, j]) for j in range(x.shape[1])]
        assert np.array_equal(variables.separations(x, labels, None, n_classes), expected / len(pairs))
        # a few columns, read one at a time (the report's best 16 of many inputs): the same bits, in their order
        picked = [5, 2, 40]
        assert np.array_equal(
            variables.separations(x, labels, None, n_classes, picked),
            variables.separations(x[:, picked], labels, None, n_classes),
        )


def test_the_correlations_are_numpys_computed_a_block_of_rows_at_a_time(monkeypatch):
    """variables.correlations (weighted by the signed weights, per class, as TMVA) goes through the rows a block
    at a time, and agrees with the weighted covariance of the whole sample computed by hand; a constant input
    correlates 0 with everything; signed weights that leave no positive variance fall back to |w|."""
    from mlbasics.evaluation import variables

    rng = np.random.default_rng(2)
    x = rng.normal(size=(5000, 4)).astype(np.float32)
    x[:, 1] += 0.8 * x[:, 0]
    x[:, 3] = 2.0
    y = (rng.random(5000) < 0.4).astype(int)
    w = rng.normal(1.0, 0.5, 5000)  # some negative, as at NLO: they count negatively
    monkeypatch.setattr(variables, "ROWS", 700)
    found = variables.correlations(x, y, w, ["background", "signal"], [1, 0, 3])
    for k, name in enumerate(["background", "signal"]):
        mask = y == k
        z, v = x[mask][:, [1, 0]].astype(np.float64), w[mask]
        centred = z - v @ z / v.sum()
        cov = (centred * v[:, None]).T @ centred / v.sum()
        expected = cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
        np.testing.assert_allclose(found[name][:2, :2], expected, rtol=1e-10)
        assert (found[name][2, :2] == 0).all() and found[name][2, 2] == 0
    assert abs(found["signal"][0, 1] - variables.correlations(x, y, np.abs(w), ["b", "signal"])["signal"][1, 0]) > 0
    odd = np.array([1.0, 1.0, -1.5, 1.0])  # the outlier's negative weight leaves a negative "variance"
    points = np.array([[0.0, 0.0], [1.0, 1.0], [5.0, -3.0], [2.0, 2.0]], np.float32)
    fallback = variables.correlations(points, np.zeros(4, int), odd, ["all"])["all"]
    assert np.isfinite(fallback).all() and fallback[0, 0] == pytest.approx(1.0)
