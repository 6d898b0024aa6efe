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
from mlbasics.methods import fold_models
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


FOLDS = ("average", "by_fold")  # how a k-fold variant scores: its folds' mean, or each event by its own fold


def apply(
    models: list[Model],
    inputs: list[tuple[Path, str | None]],
    output: Path,
    threads: int = 0,
    folds: str = "average",
) -> list[Path]:
    """Score every input (a ROOT file with its tree name, or None for the file's only tree; a CSV or Parquet table
    with None) with every model; one output per input in `output`: a friend file named like the input, or a
    table's Parquet file. A k-fold variant (split.folds) scores with the mean of its fold models (`folds`
    "average": data, samples no fold trained on), or each event with the model of its own fold, by the variant's
    split.fold_by ("by_fold": the simulated events it was trained on, each by the model that never saw it).
    Returns the files written."""
    recipe = _same_inputs(models)
    kind = READS[recipe["loader"]]
    fold_by = _fold_by(models, folds)
    checked = _checked(kind, inputs, {**recipe, "inputs": [*recipe["inputs"], *([fold_by] if fold_by else [])]})
    # TensorFlow's threads, where one of the models is an MLP (a reference method starts no TensorFlow)
    mlp = next((m for m in models if m.bundle["model"].get("method", "mlp") == "mlp"), models[0])
    methods.prepare(mlp.bundle["model"], threads)
    loaded = [(m, fold_models.members(m.bundle, m.folder)) for m in models]
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for path, tree in checked:
        out = output / bundles.friend_name(path.name)
        if kind == "table":
            written.append(_table(path, recipe, loaded, out, fold_by))
        else:
            written.append(_friend(path, tree, recipe, loaded, out, fold_by))
    return written


def _fold_by(models: list[Model], folds: str) -> str | None:
    """What decides an event's fold when scoring by fold: the variants' split.fold_by (None when averaging, or no
    variant has folds); refused, naming the variant, where a variant's folds were dealt by seed."""
    if folds not in FOLDS:
        raise FormatError(f"folds: {folds!r} is not one of {', '.join(FOLDS)}")
    folded = [m for m in models if m.bundle.get("folds")]
    if folds == "average" or not folded:
        return None
    found = {m.bundle["folds"]["fold_by"] for m in folded}
    if None in found:
        variant = next(m.variant for m in folded if m.bundle["folds"]["fold_by"] is None)
        raise FormatError(
            f"variant {variant!r}: its folds were dealt by seed (no split.fold_by), so a file's events have no fold "
            "to be scored by: apply with folds average, or train with split.fold_by"
        )
    if len(found) > 1:
        raise FormatError(f"the variants' folds are decided by different expressions ({', '.join(sorted(found))})")
    return found.pop()


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


def _scores(x: np.ndarray, passes: np.ndarray, loaded: list, fold_by: str | None) -> dict[str, np.ndarray]:
    """One chunk's columns: each model's score branches (SENTINEL where an entry does not pass) and
    pass_selection. With `fold_by` x's last column is its value: a k-fold variant scores each entry by its fold."""
    columns = {"pass_selection": passes}
    key = x[passes, -1].astype(np.int64) if fold_by else None
    inputs = x[passes, :-1] if fold_by else x[passes]
    for model, members in loaded:
        scores = np.full((len(x), len(branch_names(model.variant, model.bundle))), SENTINEL, np.float32)
        if passes.any():
            by_fold = key is not None and len(members) > 1
            chosen = fold_models.by_fold(members, inputs, key % len(members)) if by_fold else None
            scores[passes] = chosen if by_fold else fold_models.average(members, inputs)
        columns.update(dict(zip(branch_names(model.variant, model.bundle), scores.T, strict=True)))
    return columns


def _friend(path: Path, tree: str, recipe: dict, loaded: list, out: Path, fold_by: str | None) -> Path:
    import uproot

    types = {name: np.float32 for model, _ in loaded for name in branch_names(model.variant, model.bundle)}
    read = [*recipe["inputs"], *([fold_by] if fold_by else [])]
    with atomic_path(out) as tmp, uproot.recreate(tmp) as file:
        file.mktree(tree, {**types, "pass_selection": np.bool_})
        for x, passes in root_files.input_chunks(path, tree, read, recipe["selection"], STEP):
            if len(x):
                file[tree].extend(_scores(x, passes, loaded, fold_by))
    return out


def _table(path: Path, recipe: dict, loaded: list, out: Path, fold_by: str | None) -> Path:
    """A table's scores: a Parquet file with the same columns as a friend tree, row-aligned with the input."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = [name for model, _ in loaded for name in branch_names(model.variant, model.bundle)]
    schema = pa.schema([*((name, pa.float32()) for name in names), ("pass_selection", pa.bool_())])
    with atomic_path(out) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for x in table_inputs.table_chunks(path, [*recipe["inputs"], *([fold_by] if fold_by else [])], STEP):
            columns = _scores(x, ~root_files.invalid_values(x).any(axis=1), loaded, fold_by)
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
