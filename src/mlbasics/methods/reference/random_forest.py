"""Method random_forest: a random forest (scikit-learn)."""

from __future__ import annotations

from mlbasics.methods.reference.base import ReferenceMethod, permutation_importance


class RandomForest(ReferenceMethod):
    name, display = "random_forest", "random forest"
    trusted = ("sklearn.tree._tree.Tree",)

    def build(self, task, seed, threads):
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        s = self.settings
        return (RandomForestRegressor if task == "regression" else RandomForestClassifier)(
            n_estimators=s["n_estimators"],
            max_depth=s["max_depth"],
            min_samples_leaf=s["min_samples_leaf"],
            max_features=s["max_features"],
            bootstrap=s["bootstrap"],
            random_state=seed,
            n_jobs=threads or -1,
        )

    def _weights(self, arrays):
        w, w_val = super()._weights(arrays)
        self._non_negative(w)
        return w, w_val

    def importance(self, x, y, w, task, seed):
        return permutation_importance(self, x, y, w, task, seed)
