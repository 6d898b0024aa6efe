"""The classifier response as a physicist reads it (TMVA's evaluation): is the response on the training sample
the same as on the test sample (the overtraining check, a Kolmogorov-Smirnov test per class), how much signal
survives a cut that keeps 1 %, 10 % or 30 % of the background (signal efficiency at background efficiency,
test and train), and where the significance of the cut is highest for expected yields (chosen on the validation
sample, reported on the test sample).

Weights: every number takes per-event weights (negative ones included); events with all-equal weights give the
unweighted numbers exactly. The weighted KS test follows ROOT's TH1::KolmogorovTest: the distance between the
weighted empirical distribution functions, its probability from the Kolmogorov distribution with effective
sample sizes n_eff = (sum w)^2 / sum w^2.
"""

from __future__ import annotations

import numpy as np

BACKGROUND_EFFICIENCIES = (0.01, 0.10, 0.30)  # TMVA's efficiency table


def boundary_grid(x: np.ndarray, points: int = 200, pad: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """The grid a 2-D classifier's decision boundary is drawn on: (gx, gy), `points` x `points` over the range of
    the test points `x` and `pad` beyond. Its points, float32, row by row: np.c_[gx.ravel(), gy.ravel()]."""
    xs = np.linspace(x[:, 0].min() - pad, x[:, 0].max() + pad, points)
    ys = np.linspace(x[:, 1].min() - pad, x[:, 1].max() + pad, points)
    return np.meshgrid(xs, ys)


def grid_points(gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    return np.c_[gx.ravel(), gy.ravel()].astype(np.float32)


def unweighted(w: np.ndarray | None) -> bool:
    """No weights, or all equal and positive: the unweighted formulas apply (and give their exact numbers)."""
    return w is None or (len(w) > 0 and bool(np.all(w == w[0])) and w[0] > 0)


def ks_test(
    a: np.ndarray, b: np.ndarray, wa: np.ndarray | None = None, wb: np.ndarray | None = None
) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov test on unbinned values: (distance, p-value)."""
    from scipy import stats

    if unweighted(wa) and unweighted(wb):
        result = stats.ks_2samp(a, b)
        return float(result.statistic), float(result.pvalue)
    wa = np.ones(len(a)) if wa is None else np.asarray(wa, np.float64)
    wb = np.ones(len(b)) if wb is None else np.asarray(wb, np.float64)
    points = np.sort(np.concatenate([a, b]))
    distance = float(np.max(np.abs(_ecdf(a, wa, points) - _ecdf(b, wb, points))))
    na, nb = _effective(wa), _effective(wb)
    return distance, float(stats.kstwobign.sf(np.sqrt(na * nb / (na + nb)) * distance))


def ks_binned(
    a: np.ndarray,
    b: np.ndarray,
    wa: np.ndarray | None = None,
    wb: np.ndarray | None = None,
    bins: int = 40,
    experiments: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """TMVA's number (MethodBase::GetKSTrainingVsTest: ROOT's TH1::KolmogorovTest with option "X") of a training
    sample `a` against a test sample `b`: (distance, p-value). Both histogrammed in `bins` bins over their values'
    range; the distance is the largest difference of the normalised cumulative histograms; the probability is the
    fraction of `experiments` pseudo test samples - as many events as the test sample's effective number, drawn
    from the training histogram (seeded) - that lie farther from it."""
    values = np.concatenate([a, b])
    low, high = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
    edges = np.linspace(low, high if high > low else low + 1.0, bins + 1)
    h1, h2 = np.histogram(a, edges, weights=wa)[0], np.histogram(b, edges, weights=wb)[0]
    if not (h1.sum() > 0 and h2.sum() > 0):
        return 0.0, 1.0
    c1 = np.cumsum(h1) / h1.sum()
    distance = float(np.max(np.abs(c1 - np.cumsum(h2) / h2.sum())))
    n = max(1, int(_effective(np.ones(len(b)) if wb is None else np.asarray(wb, np.float64))))
    parent = np.clip(h1, 0.0, None)  # a histogram's negative bins cannot be drawn from
    drawn = np.random.default_rng(seed).multinomial(n, parent / parent.sum(), size=experiments)
    farther = np.max(np.abs(np.cumsum(drawn, axis=1) / n - c1), axis=1) > distance
    return distance, float(farther.mean())


def _ecdf(values: np.ndarray, w: np.ndarray, points: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(w[order]) / w.sum()
    index = np.searchsorted(values[order], points, side="right")
    return np.where(index > 0, cumulative[np.maximum(index - 1, 0)], 0.0)


def _effective(w: np.ndarray) -> float:
    return float(w.sum() ** 2 / np.sum(w**2))


def roc(y: np.ndarray, score: np.ndarray, w: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """(background efficiency, signal efficiency, AUC) of a binary response, weighted; the AUC by the trapezoid
    rule, which also holds where negative weights make the curve step back (scikit-learn refuses those)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    if unweighted(w):
        fpr, tpr, _ = roc_curve(y, score)
        return fpr, tpr, float(roc_auc_score(y, score))
    fpr, tpr, _ = roc_curve(y, score, sample_weight=w)
    return fpr, tpr, float(np.trapezoid(tpr, fpr))


def signal_efficiency_at(y: np.ndarray, score: np.ndarray, w: np.ndarray | None, background: float) -> float:
    """The signal efficiency of the cut on the response that keeps `background` of the background weight
    (interpolated along the ROC curve)."""
    fpr, tpr, _ = roc(y, score, w)
    fpr = np.maximum.accumulate(fpr)  # negative weights can step back; the cut keeps at least what it kept
    return float(np.interp(background, fpr, tpr))


def efficiency_table(train: tuple, test: tuple) -> dict[str, float]:
    """TMVA's table, flat for metrics.json: sig_eff_at_bkg_0p01 (test) and train_sig_eff_at_bkg_0p01, ...
    `train`/`test`: (labels, response, weights)."""
    out = {}
    for background in BACKGROUND_EFFICIENCIES:
        key = f"sig_eff_at_bkg_{background:.2f}".replace(".", "p")
        out[key] = signal_efficiency_at(*test, background)
        out[f"train_{key}"] = signal_efficiency_at(*train, background)
    return out


def significance(s: np.ndarray, b: np.ndarray, sigma_b: np.ndarray | float = 0.0) -> np.ndarray:
    """The median discovery significance of s signal over b background events (Asimov):
    Z = sqrt(2((s+b) ln(1+s/b) - s)); with an uncertainty sigma_b on b, Cowan's
    Z = sqrt(2((s+b) ln((s+b)(b+sigma^2) / (b^2+(s+b)sigma^2)) - (b^2/sigma^2) ln(1 + sigma^2 s / (b(b+sigma^2))))).
    0 where b is not positive (no background left: too few events to say)."""
    s, b = np.asarray(s, np.float64), np.asarray(b, np.float64)
    var = np.broadcast_to(np.asarray(sigma_b, np.float64) ** 2, b.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        plain = 2 * ((s + b) * np.log1p(s / b) - s)
        cowan = 2 * (
            (s + b) * np.log((s + b) * (b + var) / (b**2 + (s + b) * var))
            - b**2 / np.where(var > 0, var, 1.0) * np.log1p(var * s / (b * (b + var)))
        )
        z = np.sqrt(np.maximum(np.where(var > 0, cowan, plain), 0.0))
    return np.where(b > 0, z, 0.0)


def best_cut(
    choose: tuple,
    report: tuple,
    signal: float,
    background: float,
    min_background_events: int = 10,
    background_uncertainty: float = 0.0,
) -> dict:
    """The cut on the response with the highest significance for the expected yields (s, b = yields x
    efficiencies; `background_uncertainty`: sigma_b / b, Cowan's formula where it is not 0), chosen on `choose`
    (the validation sample: labels, response, weights) among the cuts that keep at least `min_background_events`
    simulated background events of it (fewer estimate the background from next to nothing; all of them, where it
    has fewer), and reported on
    `report` (the test sample, which took no part in choosing): the cut, Z and S/sqrt(S+B), the efficiencies and
    how many test background events pass."""
    from sklearn.metrics import roc_curve

    y, score, w = choose
    fpr, tpr, thresholds = roc_curve(y, score, sample_weight=None if unweighted(w) else w)
    thresholds = np.minimum(thresholds, 1.0)  # the first is +inf: cut above everything
    simulated = np.asarray(score)[np.asarray(y) == 0]
    passing = _passing(simulated, thresholds)
    z = significance(signal * tpr, background * fpr, background_uncertainty * background * fpr)
    # a sample with fewer background events than the minimum: only the cut keeping all of them qualifies
    z = np.where(passing >= min(min_background_events, len(simulated)), z, -1.0)
    k = int(np.argmax(z))
    cut = float(thresholds[k])
    y, score, w = report
    y, score = np.asarray(y), np.asarray(score)
    w = np.ones(len(y)) if w is None else np.asarray(w, np.float64)
    kept = score >= cut
    sig_eff = float(w[kept & (y == 1)].sum() / w[y == 1].sum())
    bkg_eff = float(w[kept & (y == 0)].sum() / w[y == 0].sum())
    s, b = signal * sig_eff, background * bkg_eff
    return {
        "best_cut": cut,
        "best_cut_asimov_z": float(significance(s, b, background_uncertainty * b)),
        "best_cut_s_over_sqrt_s_b": float(s / np.sqrt(s + b)) if s + b > 0 else 0.0,
        "best_cut_signal_eff": sig_eff,
        "best_cut_background_eff": bkg_eff,
        "best_cut_background_events": int((kept & (y == 0)).sum()),
        "best_cut_validation_z": float(max(z[k], 0.0)),
    }


def _passing(values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """How many of `values` are at or above each threshold."""
    ordered = np.sort(values)
    return len(ordered) - np.searchsorted(ordered, thresholds, side="left")


def separation(
    s: np.ndarray, b: np.ndarray, ws: np.ndarray | None = None, wb: np.ndarray | None = None, bins: int = 40
) -> float:
    """TMVA's separation <S^2> = 1/2 sum (S - B)^2 / (S + B) over normalised histograms (separation_edges: what
    lies beyond them is not counted, as TMVA leaves the overflow out): 0 for identical distributions, 1 for
    disjoint ones."""
    edges = separation_edges(s, b, ws, wb, bins)
    hs, _ = np.histogram(s, edges, weights=ws)
    hb, _ = np.histogram(b, edges, weights=wb)
    return separations_of_histograms(hs[None], hb[None])[0]


def separation_edges(
    s: np.ndarray, b: np.ndarray, ws: np.ndarray | None = None, wb: np.ndarray | None = None, bins: int = 40
) -> np.ndarray:
    """TMVA's histogram range for a variable's separation: each class's mean +- 8 RMS (weighted by |w|), the
    widest of the two, clipped to the values' range - one event far out does not squeeze the rest into a bin."""
    values = np.concatenate([s, b])
    if not len(values):
        return np.linspace(0.0, 1.0, bins + 1)
    low, high = float(values.min()), float(values.max())
    reach = []
    for x, w in ((s, ws), (b, wb)):
        if len(x):
            weights = None if w is None else np.abs(w)
            if weights is not None and not weights.sum() > 0:
                weights = None
            mean = np.average(x, weights=weights)
            rms = np.sqrt(np.average((x - mean) ** 2, weights=weights))
            reach += [mean - 8 * rms, mean + 8 * rms]
    low, high = max(low, min(reach)), min(high, max(reach))
    if not high > low:  # one value: numpy's unit-wide range around it
        low, high = low - 0.5, high + 0.5
    return np.linspace(low, high, bins + 1)


def separations_of_histograms(hs: np.ndarray, hb: np.ndarray) -> list[float]:
    """<S^2> of each row's pair of (unnormalised) signal and background histograms."""
    hs, hb = hs / hs.sum(axis=1, keepdims=True), hb / hb.sum(axis=1, keepdims=True)
    total = hs + hb
    terms = np.where(total > 0, (hs - hb) ** 2 / np.where(total > 0, total, 1), 0.0)
    return [float(0.5 * np.sum(row)) for row in terms]  # row by row: each sum as one histogram's (same bits)


def metric_key(name: str) -> str:
    return name.replace(" ", "_")


def ks_numbers(checked: dict) -> dict[str, float]:
    """check()'s KS probabilities as metrics.json keys: ks_p_<class> (unbinned: the verdict's) and
    ks_p_binned_<class> (TMVA's binned number, to compare with a TMVA macro)."""
    found = {f"ks_p_{metric_key(name)}": p for name, p in checked["ks_p"].items()}
    return {**found, **{f"ks_p_binned_{metric_key(name)}": p for name, p in checked["ks_p_binned"].items()}}


def check(task: str, class_names: list[str], train: tuple, test: tuple) -> dict:
    """TMVA's overtraining check on one model: per class, the response on the training sample against the test
    sample, a KS test each. `train`/`test`: (labels, model outputs, weights). Returns {"ks_p": {class: p},
    "panels": [(title, [class dicts for physics_plots.response])], "xlabel": ...}; for regression the residuals
    (prediction - truth) take the response's place."""
    (y_tr, s_tr, w_tr), (y_te, s_te, w_te) = train, test

    def entry(name, mask_tr, mask_te, column, with_p=True):
        a, b = column(s_tr)[mask_tr], column(s_te)[mask_te]
        wa, wb = (None if w is None else w[m] for w, m in ((w_tr, mask_tr), (w_te, mask_te)))
        tested = with_p and len(a) and len(b)
        return {
            "name": name,
            "train": a,
            "w_train": wa,
            "test": b,
            "w_test": wb,
            "p": ks_test(a, b, wa, wb)[1] if tested else None,
            "p_binned": ks_binned(a, b, wa, wb)[1] if tested else None,  # TMVA's number, beside the verdict's
        }

    if task == "regression":
        a, b = s_tr[:, 0] - y_tr, s_te[:, 0] - y_te
        c = {
            "name": "residuals",
            "train": a,
            "w_train": w_tr,
            "test": b,
            "w_test": w_te,
            "p": ks_test(a, b, w_tr, w_te)[1],
            "p_binned": ks_binned(a, b, w_tr, w_te)[1],
        }
        return {
            "ks_p": {"residuals": c["p"]},
            "ks_p_binned": {"residuals": c["p_binned"]},
            "panels": [("prediction - truth", [c])],
            "xlabel": "prediction - truth",
        }
    if task == "binary":
        classes = [entry(name, y_tr == k, y_te == k, lambda s: s[:, 0]) for k, name in enumerate(class_names)]
        panels = [(f"{class_names[1]} vs {class_names[0]}", classes)]
    else:
        panels, classes = [], []
        for k, name in enumerate(class_names):
            own = entry(name, y_tr == k, y_te == k, lambda s, k=k: s[:, k])
            rest = entry("rest", y_tr != k, y_te != k, lambda s, k=k: s[:, k], with_p=False)
            panels.append((f"response of class {name}", [own, rest]))
            classes.append(own)
    return {
        "ks_p": {c["name"]: c["p"] for c in classes if c["p"] is not None},
        "ks_p_binned": {c["name"]: c["p_binned"] for c in classes if c["p_binned"] is not None},
        "panels": panels,
        "xlabel": "response",
    }
