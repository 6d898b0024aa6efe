"""The folds stage: join one variant's k fold trainings (split.folds) into the variant's files, so that the
evaluation, the report and apply read them as they read a single training's:

- model/fold-<i>/: each fold's model (what apply averages, or picks by fold_by);
- scores.npz: the pooled samples, each event once (data/folds.py, pooled_models) - test: every event's
  out-of-fold score; val and train: the next fold's model's - and each fold's own training and test scores
  (fold_<i>_train, fold_<i>_test: the overtraining check per fold);
- history.csv: the mean over folds of each epoch every fold ran;
- run_stats.json: the folds' training times summed, fold 0's other numbers;
- bundle.json: fold 0's, with every fold's scaler and model file under `folds`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from mlbasics.core.files import atomic_dir, read_arrays, read_csv, read_json, write_arrays, write_csv, write_json
from mlbasics.data.folds import fold_parts, pooled_models
from mlbasics.stages.settings import FoldsSettings

TIMES = ("train_wall_s",)  # summed over folds: what the k trainings cost together


def run(settings: FoldsSettings, inputs: dict, outputs: dict, threads: int = 0) -> None:
    """The folds stage: the k folds' models, scores, histories, statistics and bundles in; the variant's out."""
    k = settings.folds
    with np.load(inputs["data"], allow_pickle=False) as npz:
        fold, holdout = npz["fold"], npz["holdout"]
    scores = [read_arrays(path) for path in inputs["scores"]]
    write_arrays(outputs["scores"], pooled_scores(fold, holdout, scores))
    with atomic_dir(outputs["model"]) as folder:
        for i, path in enumerate(inputs["model"]):
            # not Snakemake's marker of a finished folder output: it belongs to the fold's folder
            shutil.copytree(path, folder / f"fold-{i}", ignore=shutil.ignore_patterns(".snakemake_timestamp"))
    histories = [read_csv(path) for path in inputs["history"]]
    header = list(histories[0][0])
    write_csv(outputs["history"], header, mean_history(histories, header))
    stats = [read_json(path) for path in inputs["stats"]]
    write_json(
        outputs["stats"], {**stats[0], **{t: sum(s[t] for s in stats) for t in TIMES if t in stats[0]}, "folds": k}
    )
    write_json(outputs["bundle"], joined_bundle([read_json(path) for path in inputs["bundle"]], settings.fold_by))
    print(f"{settings.dataset}/{settings.variant}: {k} folds joined, every event scored by the model that never saw it")


def pooled_scores(fold: np.ndarray, holdout: np.ndarray, scores: list[dict]) -> dict[str, np.ndarray]:
    """The pooled samples' scores (each event once, by the model pooled_models names), each fold's own training
    and test scores, and fold 0's pictures (a decision boundary, an image model's weights)."""
    k = len(scores)
    parts = [fold_parts(fold, holdout, i) for i in range(k)]
    seeds = [key.removeprefix("test_seed_") for key in scores[0] if key.startswith("test_seed_")]
    out: dict[str, np.ndarray] = {}
    for sample, (rows, model) in pooled_models(fold, holdout, k).items():
        for name in [sample, *(f"{sample}_seed_{n}" for n in seeds if sample != "train")]:
            first = scores[0][name]
            pooled = np.empty((len(rows), *first.shape[1:]), first.dtype)
            for m in range(k):
                mine = model == m
                where = np.searchsorted(parts[m][sample], rows[mine])  # each row's place in fold m's sample
                pooled[mine] = scores[m][name][where]
            out[name] = pooled
    for i in range(k):
        out[f"fold_{i}_train"], out[f"fold_{i}_test"] = scores[i]["train"], scores[i]["test"]
    out.update({key: scores[0][key] for key in ("boundary", "input_weights") if key in scores[0]})
    return out


def mean_history(histories: list[list[dict]], header: list[str]) -> list[list]:
    """Each epoch's numbers averaged over the folds, for the epochs every fold ran (early stopping may end a fold
    sooner)."""
    epochs = min(len(h) for h in histories)
    rows = []
    for e in range(epochs):
        values = [np.mean([float(h[e][column]) for h in histories]) for column in header[1:]]
        rows.append([int(float(histories[0][e]["epoch"])), *(float(v) for v in values)])
    return rows


def joined_bundle(bundles: list[dict], fold_by: str | None) -> dict:
    """The variant's bundle: fold 0's (its scaler and model file: a reader that knows no folds gets one fold's
    model), and under `folds` each fold's scaler and model files in the joined model folder, with fold_by (how
    apply finds a simulated event's own fold)."""
    members = []
    for i, bundle in enumerate(bundles):
        moved = {key: _in_fold(bundle[key], i) for key in ("model_file", "onnx_file")}
        members.append({"scaler": bundle["scaler"], **moved})
    return {**bundles[0], **members[0], "folds": {"count": len(bundles), "fold_by": fold_by, "members": members}}


def _in_fold(path: str | None, i: int) -> str | None:
    """A fold's model file as the joined model folder holds it: model/x -> model/fold-<i>/x."""
    return None if path is None else str(Path("model") / f"fold-{i}" / Path(path).relative_to("model"))
