"""Method fisher: Fisher's linear discriminant with event weights, as TMVA's Fisher computes it.

TMVA (MethodFisher): the within-class matrix W = sum over events of w (x - mean of its class)(x - ...)^T / sum of w,
the class means weighted, and the coefficients F = W^-1 (mean_S - mean_B), scaled by sqrt(W_S W_B) / (W_S + W_B).
Here the same W and means (with the event weights training uses) give every class k the discriminant
x W^-1 mean_k - mean_k W^-1 mean_k / 2 + ln(prior_k), the prior its share of the weight; for two classes their
difference, whose coefficients are TMVA's up to that positive factor - the same ordering of the events, so the
same ROC - and whose logistic is the signal probability for Gaussian classes of one covariance. The fitted model is
a scikit-learn LinearDiscriminantAnalysis holding these numbers (its predict_proba computes exactly that), so
every client of scikit-learn's model loads it; unweighted, it is what scikit-learn's own fit gives.
"""

from __future__ import annotations

import numpy as np

from mlbasics.methods.reference.base import ReferenceMethod


class Fisher(ReferenceMethod):
    """Fisher's linear discriminant with the event weights (TMVA's Fisher), as a scikit-learn
    LinearDiscriminantAnalysis."""

    name, display, classifies_only = "fisher", "Fisher", True

    def build(self, task, seed, threads):
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

        shrinkage = self.settings["shrinkage"]
        return LinearDiscriminantAnalysis(solver="lsqr", shrinkage=shrinkage)

    def _fit_estimator(self, x, y, w):
        self.estimator = fisher_discriminant(self.estimator, x, y, w)

    def importance(self, x, y, w, task, seed):
        """The discriminant's coefficients on standardised inputs: each coefficient times its input's spread
        (averaged over the classes' discriminants for more than two classes)."""
        coef = np.atleast_2d(self.estimator.coef_) * x.std(axis=0)
        values = coef[0] if coef.shape[0] == 1 else np.abs(coef).mean(axis=0)
        return "Fisher coefficient x input spread", values, None


def fisher_discriminant(lda, x: np.ndarray, y: np.ndarray, w: np.ndarray | None):
    """`lda` (an unfitted LinearDiscriminantAnalysis: its shrinkage is used) fitted with event weights `w` (None:
    one each) by TMVA's definitions (module docstring)."""
    x = np.asarray(x, np.float64)
    w = np.ones(len(y)) if w is None else np.asarray(w, np.float64)
    classes = np.unique(y)
    sums = np.array([w[y == k].sum() for k in classes])
    means = np.array([np.average(x[y == k], axis=0, weights=w[y == k]) for k in classes])
    covariances = [_covariance(x[y == k] - m, w[y == k], lda.shrinkage) for k, m in zip(classes, means, strict=True)]
    priors = sums / sums.sum()
    within = sum(p * c for p, c in zip(priors, covariances, strict=True))  # = TMVA's W (without shrinkage)
    inverse = np.linalg.pinv(within, hermitian=True)
    coef = means @ inverse
    intercept = -0.5 * np.einsum("kp,kp->k", coef, means) + np.log(priors)
    if len(classes) == 2:
        coef, intercept = coef[1:] - coef[:1], intercept[1:] - intercept[:1]
    lda.classes_, lda.priors_, lda.means_, lda.covariance_ = classes, priors, means, within
    lda.coef_, lda.intercept_, lda.n_features_in_ = coef, intercept, x.shape[1]
    return lda


def _covariance(centred: np.ndarray, w: np.ndarray, shrinkage) -> np.ndarray:
    """A class's weighted covariance (divided by its weight sum, as TMVA's W), shrunk towards a multiple of the
    identity as scikit-learn shrinks it: by `shrinkage`, or by Ledoit-Wolf's estimate (auto) on the inputs
    standardised."""
    cov = (centred * w[:, None]).T @ centred / w.sum()
    if shrinkage is None:
        return cov
    if shrinkage == "auto":
        from sklearn.covariance import ledoit_wolf_shrinkage

        spread = np.sqrt(np.clip(np.diag(cov), 1e-300, None))
        scaled = centred / spread * np.sqrt(w / w.mean())[:, None]  # as many rows, each carrying its weight
        shrinkage = ledoit_wolf_shrinkage(scaled, assume_centered=True)
        return np.outer(spread, spread) * _shrunk(cov / np.outer(spread, spread), shrinkage)
    return _shrunk(cov, shrinkage)


def _shrunk(cov: np.ndarray, shrinkage: float) -> np.ndarray:
    return (1 - shrinkage) * cov + shrinkage * np.trace(cov) / len(cov) * np.eye(len(cov))
