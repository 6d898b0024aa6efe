"""Apply trained models to new ROOT files - the data, every simulated sample, each systematic variation - as
TMVA's Reader does: for each input tree a friend file whose tree holds one score branch per variant,
entry-aligned with the input tree, so ROOT's `AddFriend` and RDataFrame read the scores beside the original
branches. A model trained on a table scores CSV or Parquet tables into a Parquet file of the same columns,
row-aligned with the input.

Each variant's bundle (data/bundle.py) says how a raw entry becomes the model's input: the input expressions,
computed by the same code the dataset stage uses (data/root_files.py), the selection and the fitted scaler. The
tree is read and scored in chunks, so memory is bounded by the chunk, not the file. An entry that fails the
selection, or lacks an input (an element beyond its list's end), gets the score SENTINEL and
`pass_selection = false`. Every input is checked (its tree, branches and selection) before any output is
written, and each friend file is written under a temporary name and renamed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlbasics.core.files import atomic_path
from mlbasics.core.formats import FormatError
from mlbasics.data import bundle as bundles
from mlbasics.data import root_files, table_inputs
from mlbasics.data.preprocess import Scaler
from mlbasics.methods import training as methods

SENTINEL = -999.0  # the score of an entry that fails the selection or lacks an input
STEP = 100_000  # entries read and scored at a time


@dataclass(frozen=True)
class Model:
    """One trained variant: its bundle and its model folder."""

    variant: str
    bundle: dict
    folder: Path


def branch_names(variant: str, found: dict) -> list[str]:
    """The friend tree's score branches of a variant: score_<variant>, or one per class for several classes
    (score_<variant>_<class>, the class name reduced to letters, digits and _)."""
    if found["task"] != "multiclass":
        return [f"score_{variant}"]
    return [f"score_{variant}_{re.sub(r'[^A-Za-z0-9_]', '_', name)}" for name in found["outputs"]]


def _same_inputs(models: list[Model]) -> dict:
    """The variants' shared input recipe (they are variants of one dataset, so it is the same)."""
    first = models[0].bundle
    for model in models[1:]:
        for key in ("inputs", "selection", "scaler"):
            if model.bundle[key] != first[key]:
                raise FormatError(f"variants {models[0].variant} and {model.variant} differ in their {key}")
    if first["loader"] not in READS or not first["inputs"]:
        raise FormatError(
            f"variant {models[0].variant}: trained on a {first['loader']!r} dataset; apply scores the ROOT trees "
            "of a dataset read with the root loader, and the tables of one read with the table loader"
        )
    return first


READS = {"root": "ROOT", "hep_toy": "ROOT", "table": "table"}  # what apply reads, by the dataset's loader


def apply(models: list[Model], inputs: list[tuple[Path, str | None]], output: Path, threads: int = 0) -> list[Path]:
    """Score every input (a ROOT file with its tree name, or None for the file's only tree; a CSV or Parquet table
    with None) with every model; one output per input in `output`: a friend file named like the input, or a
    table's Parquet file. Returns the files written."""
    recipe = _same_inputs(models)
    kind = READS[recipe["loader"]]
    checked = _checked(kind, inputs, recipe)
    scaler = Scaler.from_dict(recipe["scaler"])
    # TensorFlow's threads, where one of the models is an MLP (a reference method starts no TensorFlow)
    mlp = next((m for m in models if m.bundle["model"].get("method", "mlp") == "mlp"), models[0])
    methods.prepare(mlp.bundle["model"], threads)
    loaded = [(m, methods.load(m.bundle["model"], m.folder)) for m in models]
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for path, tree in checked:
        out = output / bundles.friend_name(path.name)
        if kind == "table":
            written.append(_table(path, recipe, scaler, loaded, out))
        else:
            written.append(_friend(path, tree, recipe, scaler, loaded, out))
    return written


def _checked(kind: str, inputs: list[tuple[Path, str | None]], recipe: dict) -> list[tuple[Path, str | None]]:
    """Every input checked before anything is written - its kind, its tree, branches and selection or its
    columns, its output name - with its tree name found."""
    wrong = [path for path, _ in inputs if bundles.is_table(path.name) != (kind == "table")]
    if wrong:
        raise FormatError(f"{wrong[0].name}: not a {kind} file; the variants were trained on {kind} data")
    if kind == "table":
        checked = [(path, None) for path, _ in inputs]
        for path, _ in checked:
            next(iter(table_inputs.table_chunks(path, recipe["inputs"], 1)), None)
    else:
        checked = [(path, tree or root_files.only_tree(path)) for path, tree in inputs]
        for path, tree in checked:
            root_files.check_tree(path, tree, recipe["inputs"], recipe["selection"])
    names = [bundles.friend_name(path.name) for path, _ in checked]
    if len(set(names)) < len(names):
        raise FormatError(
            f"two inputs would both be scored into {sorted({n for n in names if names.count(n) > 1})[0]}: "
            "apply them to separate --output folders"
        )
    return checked


def _scores(x: np.ndarray, passes: np.ndarray, scaler: Scaler, loaded: list) -> dict[str, np.ndarray]:
    """One chunk's columns: each model's score branches (SENTINEL where an entry does not pass) and
    pass_selection."""
    columns = {"pass_selection": passes}
    scaled = scaler.transform(np.where(passes[:, None], x, 0.0))  # failing entries: any finite value
    for model, method in loaded:
        scores = np.full((len(x), len(branch_names(model.variant, model.bundle))), SENTINEL, np.float32)
        if passes.any():
            scores[passes] = method.predict(scaled[passes])
        columns.update(dict(zip(branch_names(model.variant, model.bundle), scores.T, strict=True)))
    return columns


def _friend(path: Path, tree: str, recipe: dict, scaler: Scaler, loaded: list, out: Path) -> Path:
    import uproot

    types = {name: np.float32 for model, _ in loaded for name in branch_names(model.variant, model.bundle)}
    with atomic_path(out) as tmp, uproot.recreate(tmp) as file:
        file.mktree(tree, {**types, "pass_selection": np.bool_})
        for x, passes in root_files.input_chunks(path, tree, recipe["inputs"], recipe["selection"], STEP):
            if len(x):
                file[tree].extend(_scores(x, passes, scaler, loaded))
    return out


def _table(path: Path, recipe: dict, scaler: Scaler, loaded: list, out: Path) -> Path:
    """A table's scores: a Parquet file with the same columns as a friend tree, row-aligned with the input."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = [name for model, _ in loaded for name in branch_names(model.variant, model.bundle)]
    schema = pa.schema([*((name, pa.float32()) for name in names), ("pass_selection", pa.bool_())])
    with atomic_path(out) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for x in table_inputs.table_chunks(path, recipe["inputs"], STEP):
            columns = _scores(x, ~root_files.invalid_values(x).any(axis=1), scaler, loaded)
            writer.write_table(pa.table({name: columns[name] for name in schema.names}, schema=schema))
    return out


def read_models(dataset: str, variants: list[str], bundle_path: str, model_path: str) -> list[Model]:
    """Each variant's bundle and model folder from the path templates ({dataset}, {variant}); a variant never
    trained is named."""
    found = []
    for variant in variants:
        where = Path(bundle_path.format(dataset=dataset, variant=variant))
        if not where.is_file():
            raise FormatError(
                f"variant {variant!r} of dataset {dataset!r} has no trained model ({where} is missing): train it "
                "first (snakemake or dvc repro)"
            )
        found.append(Model(variant, bundles.read(where), Path(model_path.format(dataset=dataset, variant=variant))))
    return found
