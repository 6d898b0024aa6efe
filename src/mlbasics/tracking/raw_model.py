"""The model a run logs to MLflow: an MLflow pyfunc model that takes the raw inputs - the bundle's input
columns (branches, `jet_pt[0]`, table columns) before any scaling - applies the bundle's fitted scaler and
returns the model's scores (a classifier's class scores, never labels; a regression's value), whatever the
method. `mlflow.pyfunc.load_model("runs:/<id>/model").predict(table)` thus gives the training's scores.

The pyfunc model carries the method's own file and the bundle (data/bundle.py) as artifacts; its signature
names the raw inputs and the outputs. Loading it imports mlbasics (the project's environment).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd


class RawInputModel(mlflow.pyfunc.PythonModel):
    """Raw inputs -> the bundle's scaler -> the trained method's scores (a k-fold variant: the folds' mean)."""

    def load_context(self, context) -> None:
        from mlbasics.data import bundle
        from mlbasics.methods import fold_models
        from mlbasics.methods import training as methods

        found = bundle.read(context.artifacts["bundle"])
        self.inputs, self.outputs = found["inputs"], found["outputs"]
        methods.prepare(found["model"], 0)
        # a k-fold variant's every fold model, averaged (TMVA's OutputEnsembling=Avg); else its one model
        self.members = fold_models.members(found, Path(context.artifacts["model"]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        if isinstance(model_input, pd.DataFrame):
            x = model_input[self.inputs].to_numpy(np.float64) if self.inputs else model_input.to_numpy(np.float64)
        else:
            x = np.asarray(model_input, np.float64)
        from mlbasics.methods import fold_models

        scores = fold_models.average(self.members, x)
        return pd.DataFrame(scores.reshape(len(x), -1), columns=self.outputs)


def log(model_folder: str | Path, bundle_path: str | Path, raw_example: np.ndarray, scores: np.ndarray) -> str:
    """Log the trained model as a raw-input pyfunc model named "model" into the active run, and its ONNX file
    (the scaler folded in) as the artifact onnx/model.onnx; its model id. `raw_example`: rows of raw inputs,
    `scores`: model scores of as many rows (the signature: names and types)."""
    import mlflow
    from mlflow.models import infer_signature

    from mlbasics.data import bundle

    found = bundle.read(bundle_path)
    if found.get("onnx_file"):
        mlflow.log_artifact(str(Path(bundle_path).parent / found["onnx_file"]), artifact_path="onnx")
    names = found["inputs"] or [f"x{i}" for i in range(raw_example.shape[1])]
    example = pd.DataFrame(raw_example.astype(np.float64), columns=names)
    outputs = pd.DataFrame(np.asarray(scores, np.float32).reshape(len(example), -1), columns=found["outputs"])
    with warnings.catch_warnings():  # its advice to log an input example: the signature is given instead
        warnings.simplefilter("ignore", UserWarning)
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=RawInputModel(),
            artifacts={"model": str(model_folder), "bundle": str(bundle_path)},
            signature=infer_signature(example, outputs),
            pip_requirements=_requirements(),
        ).model_id


def _requirements() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for package in ("mlbasics", "numpy", "pandas", "scikit-learn", "skops", "tensorflow", "keras"):
        try:
            found.append(f"{package}=={version(package)}")
        except PackageNotFoundError:  # a source checkout run without installing: the project's lock pins it
            continue
    return found
