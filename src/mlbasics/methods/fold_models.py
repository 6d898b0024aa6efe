"""A k-fold variant's models (split.folds) as its bundle lists them (stages/folds.py): each fold's scaler and
model, and the two ways to score an event with them - TMVA's OutputEnsembling=Avg (the mean of the fold models'
scores: data, and samples no fold trained on) and by fold (a simulated event by the model of its own fold, the one
that never saw it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlbasics.data.preprocess import Scaler
from mlbasics.methods import training as methods


@dataclass(frozen=True)
class Member:
    scaler: Scaler
    method: object


def members(bundle: dict, model: Path) -> list[Member]:
    """Every fold's scaler and loaded model (one member without folds); `model`: the variant's model folder (the
    bundle names its files as model/...)."""
    found = bundle.get("folds")
    entries = found["members"] if found else [{"scaler": bundle["scaler"], "model_file": bundle["model_file"]}]
    return [
        Member(
            Scaler.from_dict(e["scaler"]),
            methods.load(bundle["model"], (Path(model) / Path(e["model_file"]).relative_to("model")).parent),
        )
        for e in entries
    ]


def average(members: list[Member], x: np.ndarray) -> np.ndarray:
    """The mean of the models' scores of raw inputs x (one model: its scores)."""
    total = None
    for member in members:
        scores = np.asarray(member.method.predict(member.scaler.transform(x)), np.float64)
        total = scores if total is None else total + scores
    return (total / len(members)).astype(np.float32)


def by_fold(members: list[Member], x: np.ndarray, fold: np.ndarray) -> np.ndarray:
    """Each row scored by the model of its fold (`fold`: 0 .. k-1 per row)."""
    out = None
    for i, member in enumerate(members):
        mine = fold == i
        if not mine.any():
            continue
        scores = np.asarray(member.method.predict(member.scaler.transform(x[mine])), np.float32)
        if out is None:
            out = np.empty((len(x), scores.shape[1]), np.float32)
        out[mine] = scores
    return np.empty((0, 1), np.float32) if out is None else out
