"""Apply trained models to new ROOT files - the data, every simulated sample, each systematic variation - as
TMVA's Reader does: for each input tree a friend file whose tree holds one score branch per variant,
entry-aligned with the input tree, so ROOT's `AddFriend` and RDataFrame read the scores beside the original
branches.

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
from mlbasics.data import root_files
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
    if first["loader"] not in ("root", "hep_toy") or not first["inputs"]:
        raise FormatError(
            f"variant {models[0].variant}: trained on a {first['loader']!r} dataset; apply scores ROOT trees "
            "of a dataset read with the root loader"
        )
    return first


def apply(models: list[Model], inputs: list[tuple[Path, str | None]], output: Path, threads: int = 0) -> list[Path]:
    """Score every input tree (file, tree name or None for the file's only tree) with every model; one friend file
    per input in `output`, named like the input. Returns the friend files."""
    recipe = _same_inputs(models)
    trees = [(path, tree or root_files.only_tree(path)) for path, tree in inputs]
    for path, tree in trees:  # every input checked before anything is written
        root_files.check_tree(path, tree, recipe["inputs"], recipe["selection"])
    names = [path.name for path, _ in trees]
    if len(set(names)) < len(names):
        raise FormatError(
            f"two inputs are named {sorted({n for n in names if names.count(n) > 1})[0]}: friend "
            "files are named after their input; apply them to separate --output folders"
        )
    scaler = Scaler.from_dict(recipe["scaler"])
    # TensorFlow's threads, where one of the models is an MLP (a reference method starts no TensorFlow)
    mlp = next((m for m in models if m.bundle["model"].get("method", "mlp") == "mlp"), models[0])
    methods.prepare(mlp.bundle["model"], threads)
    loaded = [(m, methods.load(m.bundle["model"], m.folder)) for m in models]
    output.mkdir(parents=True, exist_ok=True)
    return [_friend(path, tree, recipe, scaler, loaded, output / path.name) for path, tree in trees]


def _friend(path: Path, tree: str, recipe: dict, scaler: Scaler, loaded: list, out: Path) -> Path:
    import uproot

    types = {name: np.float32 for model, _ in loaded for name in branch_names(model.variant, model.bundle)}
    with atomic_path(out) as tmp, uproot.recreate(tmp) as file:
        file.mktree(tree, {**types, "pass_selection": np.bool_})
        for x, passes in root_files.input_chunks(path, tree, recipe["inputs"], recipe["selection"], STEP):
            if not len(x):
                continue
            columns = {"pass_selection": passes}
            scaled = scaler.transform(np.where(passes[:, None], x, 0.0))  # failing entries: any finite value
            for model, method in loaded:
                scores = np.full((len(x), len(branch_names(model.variant, model.bundle))), SENTINEL, np.float32)
                if passes.any():
                    scores[passes] = method.predict(scaled[passes])
                columns.update(dict(zip(branch_names(model.variant, model.bundle), scores.T, strict=True)))
            file[tree].extend(columns)
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
