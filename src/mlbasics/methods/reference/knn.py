"""Method knn: k nearest neighbours (scikit-learn; TMVA's kNN)."""

from __future__ import annotations

from mlbasics.core.errors import ParamsError
from mlbasics.methods.reference.base import ReferenceMethod


class KNN(ReferenceMethod):
    """k nearest neighbours: the training events closest to each event vote (or average, for regression)."""

    name, display, weighted = "knn", "k-NN", False
    trusted = (
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.neighbors._kd_tree.KDTree",
    )

    def build(self, task, seed, threads):
        from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

        s = self.settings
        return (KNeighborsRegressor if task == "regression" else KNeighborsClassifier)(
            n_neighbors=s["n_neighbors"], weights=s["weights"], n_jobs=threads or -1
        )

    def _check(self, arrays, task):
        super()._check(arrays, task)
        if self.settings["n_neighbors"] > len(arrays["y_train"]):
            raise ParamsError(
                f"method knn: n_neighbors {self.settings['n_neighbors']} is more than the "
                f"{len(arrays['y_train'])} training events"
            )
