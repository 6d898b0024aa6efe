"""Method bdt: boosted decision trees by gradient boosting (scikit-learn's HistGradientBoosting; TMVA's BDTG)
behind the method seam, with a history of one row per boosting iteration: the training and validation loss and
metric, read from the raw predictions scikit-learn keeps while it boosts - so the learning curves, "overfitting
since iteration N" and the loss-gap analysis work as for the MLP. The trees are scikit-learn's exactly (a test
compares the test AUC with the estimator fitted directly).
"""

from __future__ import annotations

import time

import numpy as np

from mlbasics.core.tasks import history_columns, weighted_mean
from mlbasics.methods.reference.base import ReferenceMethod, permutation_importance

SCORED = 10_000  # events of each split the per-iteration numbers are computed on (at most)


class BDT(ReferenceMethod):
    """Boosted decision trees by gradient boosting (scikit-learn's HistGradientBoosting; TMVA's BDTG)."""

    name, display, step = "bdt", "BDT", "boosting iteration"
    trusted = ("sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",)

    def build(self, task, seed, threads):
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        s = self.settings
        stop = s["early_stopping"]
        # scoring on our validation split every iteration gives the history; without early stopping the patience
        # exceeds the iterations, so it never stops (the trees are the same as with early_stopping=False)
        return (HistGradientBoostingRegressor if task == "regression" else HistGradientBoostingClassifier)(
            max_iter=s["max_iter"],
            learning_rate=s["learning_rate"],
            max_depth=s["max_depth"],
            max_leaf_nodes=s["max_leaf_nodes"],
            min_samples_leaf=1 if s["min_samples_leaf"] < 1 else int(s["min_samples_leaf"]),  # a fraction: in _fit
            l2_regularization=s["l2_regularization"],
            max_bins=s["max_bins"],
            max_features=s["max_features"],
            early_stopping=True,
            scoring="loss",
            n_iter_no_change=stop["patience"] if stop else s["max_iter"] + 1,
            tol=stop.get("tol", 1e-7) if stop else 1e-7,
            random_state=seed,
        )

    def total_steps(self) -> int:
        return self.settings["max_iter"]

    def _fit(self, x, y, w, x_val, y_val, w_val, task):
        est, rows = self.estimator, []
        leaf = self.settings["min_samples_leaf"]
        if leaf < 1:  # TMVA's MinNodeSize: a fraction of the training events
            est.set_params(min_samples_leaf=max(1, round(leaf * len(y))))
        # the history's numbers on at most SCORED events of each split, drawn once (as scikit-learn scores its
        # scorers): a loss over every event at every iteration would cost a tenth of the fit on large samples.
        # Early stopping decides on the whole validation split.
        rng = np.random.default_rng(est.random_state)
        sub = _subset(rng, len(y))
        if not self.settings["early_stopping"]:
            keep = _subset(rng, len(y_val))
            x_val, y_val, w_val = x_val[keep], y_val[keep], None if w_val is None else w_val[keep]

        def record(
            raw_predictions, y_train, sample_weight_train, raw_predictions_val, y_val, sample_weight_val, n_threads=1
        ):  # scikit-learn's private per-iteration scoring, pinned; tests hold it
            parts = (
                (raw_predictions[sub], y_train[sub], None if sample_weight_train is None else sample_weight_train[sub]),
                (raw_predictions_val, y_val, sample_weight_val),
            )
            (train_loss, train_metric), (val_loss, val_metric) = (
                (
                    est._loss(y_true=t, raw_prediction=r, sample_weight=sw, n_threads=n_threads),
                    _raw_metric(task, r, t, sw),
                )
                for r, t, sw in parts
            )
            est.train_score_.append(-train_loss)
            est.validation_score_.append(-val_loss)
            rows.append([len(rows), train_loss, train_metric, val_loss, val_metric])
            if len(rows) > 1:  # the first row is the start, before any tree
                self.ended.append([len(rows) - 1, int(time.time() * 1000)])
                if self.progress:
                    self.progress.update(len(rows) - 1, rows[-1], history_columns(task))
            return est._should_stop(est.validation_score_)

        est._check_early_stopping_loss = record
        try:
            est.fit(x, y, sample_weight=w, X_val=x_val, y_val=y_val, sample_weight_val=w_val)
        finally:
            del est._check_early_stopping_loss
        # the first row is the constant start, before any tree; squared error is scikit-learn's half of it
        scale = 2.0 if task == "regression" else 1.0
        return [[i, scale * loss, metric, scale * val, val_metric] for i, loss, metric, val, val_metric in rows[1:]]

    def importance(self, x, y, w, task, seed):
        """TMVA's BDT ranking, from the trees themselves (no prediction: permutations cost most of an evaluation
        on large samples): per tree, each split adds (gain x events in the node)^2 to its input, normalised to
        sum 1; summed over the trees and normalised again. The gain is the boosting loss's reduction (TMVA's:
        the separation's)."""
        found = split_importance(self.estimator, x.shape[1])
        if found is None:  # scikit-learn's trees no longer hold their nodes where read here
            print("bdt: the fitted trees' nodes are not readable; importance by permutation instead", flush=True)
            return permutation_importance(self, x, y, w, task, seed)
        return "split gain (TMVA's BDT ranking)", found, None


def split_importance(estimator, n_inputs: int) -> np.ndarray | None:
    """TMVA's variable importance of a boosted forest (BDT.importance), or None where the trees' nodes (a private
    part of scikit-learn's estimator, with the fields read here) are not there."""
    predictors = getattr(estimator, "_predictors", None)
    fields = {"feature_idx", "gain", "count", "is_leaf"}
    if not predictors or not fields <= set(getattr(getattr(predictors[0][0], "nodes", None), "dtype", ()).names or ()):
        return None
    total = np.zeros(n_inputs)
    for tree in (t for iteration in predictors for t in iteration):
        split = tree.nodes[~tree.nodes["is_leaf"].astype(bool)]
        per_tree = np.bincount(split["feature_idx"], weights=(split["gain"] * split["count"]) ** 2, minlength=n_inputs)
        if per_tree.sum() > 0:
            total += per_tree / per_tree.sum()
    return total / total.sum() if total.sum() > 0 else total


def _subset(rng: np.random.Generator, n: int) -> slice | np.ndarray:
    """All of n events, or SCORED of them drawn at random (in their order)."""
    return slice(None) if n <= SCORED else np.sort(rng.choice(n, SCORED, replace=False))


def _raw_metric(task: str, raw: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> float:
    """Accuracy (or MAE) from a boosting model's raw predictions: log-odds (> 0 is the positive class), one
    column per class (the largest wins), or the value."""
    if task == "regression":
        hits = np.abs(raw[:, 0] - y)
    elif raw.shape[1] == 1:
        hits = (raw[:, 0] > 0) == (y == 1)
    else:
        hits = raw.argmax(axis=1) == y
    return float(np.mean(hits)) if w is None else weighted_mean(hits, np.asarray(w, np.float64))
