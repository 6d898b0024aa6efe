"""A trained model's bundle: what turns a raw event into the model's input, saved beside the model as a small,
versioned JSON (`models/<dataset>/<variant>/bundle.json`), so the model can be applied to new files without the
params it was trained with.

It holds the input expressions in the model's input order (branches, elements such as `jet_pt[0]`, reductions
such as `max(jet_pt)`), the selection, the fitted scaler, the class names and their order, the task, the method
with its model file, and the model's settings. The train stage writes it from the processed data and the scaler
the preprocess stage fitted; `python -m mlbasics apply` reads it and computes the inputs through the same code
the dataset stage uses (data/root_files.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlbasics.core.files import read_json
from mlbasics.core.formats import TABLE_SUFFIXES, FormatError

FORMAT, VERSION = "mlbasics-bundle", 1


def build(
    *,
    dataset: str,
    variant: str,
    loader: str,
    selection: str | None,
    inputs: list[str],
    scaler: dict[str, Any],
    class_names: list[str],
    task: str,
    method: str,
    model_file: str,
    onnx_file: str | None,
    spec: dict[str, Any],
) -> dict[str, Any]:
    """The bundle as a mapping (what bundle.json holds)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "dataset": dataset,
        "variant": variant,
        "loader": loader,
        "inputs": list(inputs),
        "selection": selection,
        "scaler": scaler,
        "task": task,
        "class_names": list(class_names),
        "outputs": output_names(task, class_names),
        "method": method,
        "model_file": model_file,
        "onnx_file": onnx_file,  # the model with its scaler folded in, taking the raw inputs; None: not exportable
        "model": spec,  # the model's settings, as the method reads them (params.grid.model_spec)
    }


def output_names(task: str, class_names: list[str]) -> list[str]:
    """What each column of the model's scores is: the signal (the second class) for two classes, every class for
    more, the value for a regression."""
    if task == "binary":
        return [class_names[1]]
    if task == "multiclass":
        return list(class_names)
    return ["value"]


def friend_name(input_name: str) -> str:
    """What apply names the scores of an input file: a ROOT file's friend has the input's name; a table's scores
    are a Parquet file of the input's stem."""
    name = Path(input_name).name
    if is_table(name):
        return f"{Path(name[:-3] if name.lower().endswith('.gz') else name).stem}.parquet"
    return name


def is_table(name: str) -> bool:
    """A CSV or Parquet table (what the table loader reads), by its name."""
    return Path(name).suffix.lower() in TABLE_SUFFIXES


def read(path: str | Path) -> dict[str, Any]:
    """A bundle from its file, refusing another format or a newer version in one line."""
    path = Path(path)
    if not path.is_file():
        raise FormatError(f"{path}: no model bundle (train the variant first: snakemake or dvc repro)")
    found = read_json(path)
    if found.get("format") != FORMAT or not isinstance(found.get("version"), int):
        raise FormatError(f"{path}: not a model bundle of this project")
    if found["version"] > VERSION:
        raise FormatError(f"{path}: bundle version {found['version']} is newer than this mlbasics reads ({VERSION})")
    return found
