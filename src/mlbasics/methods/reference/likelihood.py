"""Method likelihood: the projective likelihood (TMVA's Likelihood)."""

from __future__ import annotations

from mlbasics.methods.reference.base import ReferenceMethod


class Likelihood(ReferenceMethod):
    """The projective likelihood (TMVA's Likelihood): per class, a product of one-dimensional Gaussian densities
    of the inputs (scikit-learn's GaussianNB)."""

    name, display, classifies_only = "likelihood", "likelihood", True

    def build(self, task, seed, threads):
        from sklearn.naive_bayes import GaussianNB

        return GaussianNB(var_smoothing=self.settings["var_smoothing"])
