"""The reference methods' common part: a scikit-learn estimator behind the method seam (methods/training.py) - the
same splits, the event weights where the estimator takes them, the same seed, and outputs the evaluate and report
stages treat like the MLP's.

- History: a method fitted in one step has one row, the fitted model's numbers (the BDT: one per iteration).
- Model file: `model.skops`, safe and reproducible (model_files.py), loaded trusting only the types the method
  declares.
- MLflow: the sklearn flavour, serialised with skops, with a signature.
Settings: each method's block of params keys (defaults and descriptions in the schema).
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import ClassVar

import numpy as np

from mlbasics.core.errors import ParamsError
from mlbasics.core.files import atomic_dir
from mlbasics.core.provenance import fit_stats
from mlbasics.core.tasks import history_columns, loss_and_metric
from mlbasics.data.event_weights import split_weights
from mlbasics.methods.model_files import canonical_skops, load_estimator


class ReferenceMethod:
    """A scikit-learn estimator behind the method seam; subclasses say how to build it from their block."""

    # What the method declares (methods/registry.py reads it; adding a method is its module here plus its schema
    # block): its params name, its name on the pages, whether it regresses (classifies_only) and takes images, and
    # the types (beyond skops' own) its model file may hold - loading trusts nothing else.
    name: ClassVar[str]
    display: ClassVar[str]
    takes_images: ClassVar[bool] = False  # images are left to the MLP: hundreds of pixels as separate variables
    trusted: ClassVar[tuple[str, ...]] = ()
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

    def fit(
        self,
        arrays,
        task,
        n_classes,
        seed,
        *,
        checkpoint_dir=None,
        init_model=None,
        verbose=0,
        threads=0,
        progress=None,
        tensorboard=None,  # an MLP's: no epochs to log here
    ):
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
            print(
                f"{self.name}: fitted in {elapsed:.2f} s, {len(rows)} iteration(s); last: "
                + ", ".join(f"{v:.4f}" for v in rows[-1][1:]),
                flush=True,
            )
        ended = self.ended or [[1, int((began + elapsed) * 1000)]]  # the BDT's iterations, or the one step
        return rows, fit_stats(elapsed, len(y) * len(rows), len(rows), len(rows) < self.total_steps(), 0, began, ended)

    def _check(self, arrays: dict, task: str) -> None:
        if self.classifies_only and task == "regression":
            raise ParamsError(f"method {self.name}: separates classes; the data is a regression (float targets)")
        if "w_train" in arrays and not self.weighted:
            print(
                f"method {self.name}: scikit-learn's estimator takes no event weights - trained without them "
                "(evaluation uses them)",
                flush=True,
            )

    def _weights(self, arrays: dict) -> tuple[np.ndarray | None, np.ndarray | None]:
        if not self.weighted:
            return None, None
        return split_weights(arrays, self.spec["event_weights"])

    def total_steps(self) -> int:
        return 1

    def _fit(self, x, y, w, x_val, y_val, w_val, task) -> list[list]:
        """Fit in one step; the one history row: the fitted model's training and validation loss and metric."""
        self._fit_estimator(x, y, w)
        self.fitted = copy.deepcopy(self.estimator)  # before any prediction: k-NN's trees count their queries
        train, val = (
            loss_and_metric(task, y_, self.predict(x_)[:, 0] if task == "regression" else self.predict(x_), w_)
            for x_, y_, w_ in ((x, y, w), (x_val, y_val, w_val))
        )
        return [[1, *train, *val]]

    def _fit_estimator(self, x: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> None:
        self.estimator.fit(x, y, **({} if w is None else {"sample_weight": w}))

    def _non_negative(self, w: np.ndarray | None) -> None:
        """Refuse negative training weights (event_weights.negative keep) where the method cannot take them."""
        if w is not None and (w < 0).any():
            raise ParamsError(
                f"method {self.name}: {int((w < 0).sum())} training events have negative weights, which "
                f"{self.display} cannot take; set event_weights.negative: ignore (or abs)"
            )

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
        return cls(spec, load_estimator(Path(path) / cls.FILE, cls.trusted))

    def input_weights(self) -> np.ndarray | None:
        return None

    def log_model(self, folder: str | Path, example: np.ndarray, outputs: np.ndarray) -> str:
        from importlib.metadata import version

        import mlflow.sklearn
        from mlflow.models import infer_signature

        signature = infer_signature(example, outputs)
        return mlflow.sklearn.log_model(
            self.estimator,
            name="model",
            signature=signature,
            serialization_format="skops",
            skops_trusted_types=list(self.trusted),
            pip_requirements=[f"scikit-learn=={version('scikit-learn')}", f"skops=={version('skops')}"],
        ).model_id

    def importance(
        self, x: np.ndarray, y: np.ndarray, w: np.ndarray | None, task: str, seed: int
    ) -> tuple[str, np.ndarray, np.ndarray | None] | None:
        """(what it measures, one value per input, their errors or None), or None where the method has none."""
        return None


IMPORTANCE_EVENTS = 20_000  # test events each permutation repeat scores, at most (a seeded subsample beyond)


def permutation_importance(method: ReferenceMethod, x, y, w, task, seed, repeats: int = 5):
    """Permutation importance on the test sample: how much the headline score drops when one input's values
    are shuffled among the events (scikit-learn's, `repeats` shuffles seeded by `seed`), weighted. Beyond
    IMPORTANCE_EVENTS test events each repeat scores a seeded subsample of that many (scikit-learn's
    max_samples): its cost stays bounded (on 2 million events it was most of a BDT's evaluation)."""
    from sklearn.inspection import permutation_importance as permute

    from mlbasics.evaluation.response import roc

    def score(estimator, x_, y_, sample_weight=None):
        scores = ReferenceMethod(method.spec, estimator).predict(x_)
        if task == "binary":
            return roc(y_, scores[:, 0], sample_weight)[2]
        if task == "regression":
            return -loss_and_metric(task, y_, scores[:, 0], sample_weight)[0]
        return loss_and_metric(task, y_, scores, sample_weight)[1]

    subsample = 1.0 if len(x) <= IMPORTANCE_EVENTS else IMPORTANCE_EVENTS
    found = permute(
        method.estimator,
        x,
        y,
        scoring=score,
        n_repeats=repeats,
        random_state=seed,
        sample_weight=w,
        n_jobs=1,
        max_samples=subsample,
    )
    what = {"binary": "drop in test ROC AUC", "regression": "rise in test MSE"}.get(task, "drop in test accuracy")
    return f"permutation: {what}", found.importances_mean, found.importances_std
