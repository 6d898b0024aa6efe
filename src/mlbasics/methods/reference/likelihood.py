"""Method likelihood: the projective likelihood (TMVA's Likelihood) - per class, the product over the inputs of
one-dimensional densities, each class's response its share of the summed products.

The densities are histograms, as TMVA's default (PDFInterpol=Spline2 over histograms of NAvEvtPerBin=50 events):
each input is cut into `bins` bins holding equal weight of the training events of all classes (so each bin has
events, and the edges follow the data; each edge between two training values), every class's histogram is its
weight per bin plus `smoothing` (additive smoothing: no bin of a class is ever zero, which would veto the class
outright), normalised. The model is a
scikit-learn pipeline, KBinsDiscretizer then CategoricalNB, so every client of scikit-learn's model (skops, MLflow,
skl2onnx) takes it. `pdf: gaussian` puts a Gaussian in each input's place (scikit-learn's GaussianNB).
"""

from __future__ import annotations

import warnings

import numpy as np

from mlbasics.methods.reference.base import ReferenceMethod


class Likelihood(ReferenceMethod):
    """The projective likelihood (TMVA's Likelihood) with histogram densities, or Gaussian ones."""

    name, display, classifies_only = "likelihood", "likelihood", True

    def build(self, task, seed, threads):
        from sklearn.naive_bayes import CategoricalNB, GaussianNB
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import KBinsDiscretizer

        s = self.settings
        if s["pdf"] == "gaussian":
            return GaussianNB(var_smoothing=s["var_smoothing"])
        edges = KBinsDiscretizer(
            n_bins=s["bins"],
            encode="ordinal",
            strategy="quantile",
            quantile_method="averaged_inverted_cdf",  # the quantile that takes event weights
            subsample=None,
        )
        return Pipeline([("bins", edges), ("histograms", CategoricalNB(alpha=s["smoothing"]))])

    def _fit_estimator(self, x, y, w):
        if self.settings["pdf"] == "gaussian":
            return super()._fit_estimator(x, y, w)
        self._non_negative(w)  # a histogram with negative weight per bin is no density
        edges, histograms = (step for _, step in self.estimator.steps)
        with warnings.catch_warnings():  # an input with fewer values than bins: its bins merge, as they should
            warnings.filterwarnings("ignore", "Bins whose width are too small", UserWarning)
            edges.fit(x, sample_weight=w)
        _between_values(edges, x)
        binned = edges.transform(x)
        histograms.set_params(min_categories=np.asarray(edges.n_bins_))  # a bin no training event fills counts too
        histograms.fit(binned, y, sample_weight=w)


def _between_values(edges, x: np.ndarray) -> None:
    """Move each inner bin edge between the training values on either side of it: the same training events fall in
    each bin, and none sits on an edge, where float32 (ONNX) and float64 could put it in different bins. Just below
    halfway: values on a grid (a test event halfway between two training values) stay clear of it too."""
    for j, e in enumerate(edges.bin_edges_):
        values = np.unique(x[:, j].astype(np.float64))
        inner = e[1:-1]
        at = np.searchsorted(values, inner, side="left")
        inside = (at > 0) & (at < len(values))
        low, high = values[at[inside] - 1], values[at[inside]]
        inner[inside] = low + 0.499 * (high - low)
        edges.bin_edges_[j] = np.concatenate([e[:1], inner, e[-1:]])
