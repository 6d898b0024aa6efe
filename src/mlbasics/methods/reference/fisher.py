"""Method fisher: Fisher's linear discriminant (scikit-learn's LinearDiscriminantAnalysis; TMVA's Fisher)."""

from __future__ import annotations

import numpy as np

from mlbasics.methods.reference.base import ReferenceMethod


class Fisher(ReferenceMethod):
    """Fisher's linear discriminant (scikit-learn's LinearDiscriminantAnalysis; TMVA's Fisher)."""

    name, display, weighted, classifies_only = "fisher", "Fisher", False, True

    def build(self, task, seed, threads):
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

        shrinkage = self.settings["shrinkage"]
        return LinearDiscriminantAnalysis(solver="svd" if shrinkage is None else "lsqr", shrinkage=shrinkage)

    def importance(self, x, y, w, task, seed):
        """The discriminant's coefficients on standardised inputs: each coefficient times its input's spread
        (averaged over the classes' discriminants for more than two classes)."""
        coef = np.atleast_2d(self.estimator.coef_) * x.std(axis=0)
        values = coef[0] if coef.shape[0] == 1 else np.abs(coef).mean(axis=0)
        return "Fisher coefficient x input spread", values, None
