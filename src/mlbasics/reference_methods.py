"""The reference methods TMVA puts beside a neural network - boosted decision trees, a random forest, Fisher's
linear discriminant, the projective likelihood and k nearest neighbours - as scikit-learn estimators behind the
method seam (methods.py): the same splits, the event weights where the estimator takes them, the same seed, and
outputs the evaluate and report stages treat like the MLP's.

- History: the BDT (boosted_trees.py) has one row per boosting iteration; the others are fitted in one step and
  have one row, the fitted model's numbers.
- Model file: `model.skops`, safe and reproducible (model_files.py).
- MLflow: the sklearn flavour, serialised with skops, with a signature.
Settings: each method's block of params keys (method_rules; defaults and descriptions in the schema).
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import ClassVar

import numpy as np

from .errors import ParamsError
from .event_weights import training_weights
from .files import atomic_dir
from .model_files import TRUSTED, canonical_skops, load_estimator
from .provenance import fit_stats
from .tasks import history_columns, loss_and_metric


class ReferenceMethod:
    """A scikit-learn estimator behind the method seam; subclasses say how to build it from their block."""

    name: ClassVar[str]
    flavour: ClassVar[str] = "sklearn"
    FILE: ClassVar[str] = "model.skops"
    weighted: ClassVar[bool] = True  # its fit takes sample weights
    step: ClassVar[str | None] = None  # what a history row is; None: fitted in one step, one row
    ranks_inputs: ClassVar[bool] = False  # whether `importance` says anything: set for each subclass below
    logs_saved_file: ClassVar[bool] = False  # log_model logs the loaded estimator (skops writes it anew)
    classifies_only: ClassVar[bool] = False

    def __init__(self, spec: dict, estimator=None):
        self.spec, self.estimator = spec, estimator

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.ranks_inputs = cls.importance is not ReferenceMethod.importance  # permutation, or its coefficients

    @property
    def settings(self) -> dict:
        return self.spec[self.name]

    def build(self, task: str, seed: int, threads: int):
        raise NotImplementedError

    def fit(self, arrays, task, n_classes, seed, *, checkpoint_dir=None, init_model=None, verbose=0, threads=0,
            progress=None):
        self._check(arrays, task)
        w, w_val = self._weights(arrays)
        x, x_val = arrays["x_train"], arrays["x_val"]
        y, y_val = (arrays[k].astype(np.float64 if task == "regression" else np.int64) for k in ("y_train", "y_val"))
        from threadpoolctl import threadpool_limits

        self.estimator = self.build(task, seed, threads)  # (imports scikit-learn's module: not training time)
        started, began, self.ended, self.progress = time.perf_counter(), time.time(), [], progress
        with threadpool_limits(threads or None):  # the job's threads (0: all), as TensorFlow gets them
            rows = self._fit(x, y, w, x_val, y_val, w_val, task)
        elapsed = time.perf_counter() - started
        if progress:
            progress.update(len(rows), rows[-1], history_columns(task), force=True)
        if verbose:
            print(f"{self.name}: fitted in {elapsed:.2f} s, {len(rows)} iteration(s); last: "
                  + ", ".join(f"{v:.4f}" for v in rows[-1][1:]), flush=True)
        ended = self.ended or [[1, int((began + elapsed) * 1000)]]  # the BDT's iterations, or the one step
        return rows, fit_stats(elapsed, len(y) * len(rows), len(rows), len(rows) < self.total_steps(), 0, began,
                               ended)

    def _check(self, arrays: dict, task: str) -> None:
        if self.classifies_only and task == "regression":
            raise ParamsError(f"method {self.name}: separates classes; the data is a regression (float targets)")
        if "w_train" in arrays and not self.weighted:
            print(f"method {self.name}: scikit-learn's estimator takes no event weights - trained without them "
                  "(evaluation uses them)", flush=True)

    def _weights(self, arrays: dict) -> tuple[np.ndarray | None, np.ndarray | None]:
        if not self.weighted:
            return None, None
        return tuple(training_weights(arrays.get(f"w_{part}"), arrays[f"y_{part}"], self.spec["event_weights"])
                     for part in ("train", "val"))

    def total_steps(self) -> int:
        return 1

    def _fit(self, x, y, w, x_val, y_val, w_val, task) -> list[list]:
        """Fit in one step; the one history row: the fitted model's training and validation loss and metric."""
        self.estimator.fit(x, y, **({} if w is None else {"sample_weight": w}))
        self.fitted = copy.deepcopy(self.estimator)  # before any prediction: k-NN's trees count their queries
        train, val = (loss_and_metric(task, y_, self.predict(x_)[:, 0] if task == "regression" else self.predict(x_),
                                      w_) for x_, y_, w_ in ((x, y, w), (x_val, y_val, w_val)))
        return [[1, *train, *val]]

    def predict(self, x: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        """Scores as the MLP gives them: the signal probability (two classes), every class's probability, or the
        value (regression) - float32."""
        if not hasattr(self.estimator, "predict_proba"):
            return self.estimator.predict(x).astype(np.float32)[:, None]
        p = self.estimator.predict_proba(x).astype(np.float32)
        return p[:, 1:] if p.shape[1] == 2 else p

    def save(self, path: str | Path) -> None:
        import skops.io

        # the model as fitted, without the job's threads: the same fit saves the same bytes in every engine (the
        # train stage ends here; evaluation predicts with the loaded model in one thread)
        model = getattr(self, "fitted", self.estimator)
        if "n_jobs" in model.get_params():
            model.set_params(n_jobs=None)
        if hasattr(model, "_bin_mapper"):  # the BDT's binning kept the thread count it ran with
            model._bin_mapper.n_threads = None
        with atomic_dir(path) as folder:
            (folder / self.FILE).write_bytes(canonical_skops(skops.io.dumps(model)))

    @classmethod
    def load(cls, spec: dict, path: str | Path) -> ReferenceMethod:
        return cls(spec, load_estimator(Path(path) / cls.FILE))

    def input_weights(self) -> np.ndarray | None:
        return None

    def log_model(self, folder: str | Path, example: np.ndarray, outputs: np.ndarray) -> str:
        from importlib.metadata import version

        import mlflow.sklearn
        from mlflow.models import infer_signature

        signature = infer_signature(example, outputs)
        return mlflow.sklearn.log_model(self.estimator, name="model", signature=signature,
                                        serialization_format="skops", skops_trusted_types=list(TRUSTED),
                                        pip_requirements=[f"scikit-learn=={version('scikit-learn')}",
                                                          f"skops=={version('skops')}"]).model_id

    def importance(self, x: np.ndarray, y: np.ndarray, w: np.ndarray | None, task: str, seed: int
                   ) -> tuple[str, np.ndarray, np.ndarray | None] | None:
        """(what it measures, one value per input, their errors or None), or None where the method has none."""
        return None


class RandomForest(ReferenceMethod):
    name = "random_forest"

    def build(self, task, seed, threads):
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        s = self.settings
        return (RandomForestRegressor if task == "regression" else RandomForestClassifier)(
            n_estimators=s["n_estimators"], max_depth=s["max_depth"], min_samples_leaf=s["min_samples_leaf"],
            max_features=s["max_features"], bootstrap=s["bootstrap"], random_state=seed, n_jobs=threads or -1)

    def _weights(self, arrays):
        w, w_val = super()._weights(arrays)
        if w is not None and (w < 0).any():
            raise ParamsError(f"method random_forest: {int((w < 0).sum())} training events have negative weights, "
                              "which a random forest cannot take; set event_weights.negative: ignore (or abs)")
        return w, w_val

    def importance(self, x, y, w, task, seed):
        return permutation_importance(self, x, y, w, task, seed)


class Fisher(ReferenceMethod):
    """Fisher's linear discriminant (scikit-learn's LinearDiscriminantAnalysis; TMVA's Fisher)."""

    name, weighted, classifies_only = "fisher", False, True

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


class Likelihood(ReferenceMethod):
    """The projective likelihood (TMVA's Likelihood): per class, a product of one-dimensional Gaussian densities
    of the inputs (scikit-learn's GaussianNB)."""

    name, classifies_only = "likelihood", True

    def build(self, task, seed, threads):
        from sklearn.naive_bayes import GaussianNB

        return GaussianNB(var_smoothing=self.settings["var_smoothing"])


class KNN(ReferenceMethod):
    name, weighted = "knn", False

    def build(self, task, seed, threads):
        from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

        s = self.settings
        return (KNeighborsRegressor if task == "regression" else KNeighborsClassifier)(
            n_neighbors=s["n_neighbors"], weights=s["weights"], n_jobs=threads or -1)

    def _check(self, arrays, task):
        super()._check(arrays, task)
        if self.settings["n_neighbors"] > len(arrays["y_train"]):
            raise ParamsError(f"method knn: n_neighbors {self.settings['n_neighbors']} is more than the "
                              f"{len(arrays['y_train'])} training events")


def permutation_importance(method: ReferenceMethod, x, y, w, task, seed, repeats: int = 5):
    """Permutation importance on the test sample: how much the headline score drops when one input's values
    are shuffled among the events (scikit-learn's, `repeats` shuffles seeded by `seed`), weighted."""
    from sklearn.inspection import permutation_importance as permute

    from .response import roc

    def score(estimator, x_, y_, sample_weight=None):
        scores = ReferenceMethod(method.spec, estimator).predict(x_)
        if task == "binary":
            return roc(y_, scores[:, 0], sample_weight)[2]
        if task == "regression":
            return -loss_and_metric(task, y_, scores[:, 0], sample_weight)[0]
        return loss_and_metric(task, y_, scores, sample_weight)[1]

    found = permute(method.estimator, x, y, scoring=score, n_repeats=repeats, random_state=seed,
                    sample_weight=w, n_jobs=1)
    what = {"binary": "drop in test ROC AUC", "regression": "rise in test MSE"}.get(task, "drop in test accuracy")
    return f"permutation: {what}", found.importances_mean, found.importances_std
