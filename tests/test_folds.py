"""k-fold training (split.folds): which fold each event is in, the parts fold i's model trains and is tested on,
and - with a model that remembers every training event (one nearest neighbour) on random labels, where a score from
a model that saw the event is always right and any other is a coin flip - that no event is scored by a model that
trained on it, neither in the pooled evaluation nor in apply by fold."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlbasics.core.errors import ParamsError
from mlbasics.core.files import read_arrays, read_json
from mlbasics.core.formats import FormatError
from mlbasics.data import folds, preprocess
from mlbasics.data.arrays import Dataset
from mlbasics.params import config
from mlbasics.stages import apply as scoring
from mlbasics.stages import folds as joining
from mlbasics.stages import train
from mlbasics.stages.settings import FoldsSettings, TrainSettings
from tests.helpers import tiny_params

SPLIT = {"train": 0.6, "validation": 0.2, "test": 0.2, "folds": 5}


def test_fold_by_decides_the_fold_and_whole_events_stay_together():
    key = np.array([10, 11, 12, 13, 14, 15, 7, 7], np.int64)
    y = np.array([0, 1, 0, 1, 0, 1, 1, 1])
    assert folds.assign_folds(y, 5, 0, fold_key=key).tolist() == [0, 1, 2, 3, 4, 0, 2, 2]
    groups = np.array([0, 1, 2, 3, 4, 5, 6, 6])
    assert folds.assign_folds(y, 5, 0, groups, key).tolist() == [0, 1, 2, 3, 4, 0, 2, 2]
    with pytest.raises(FormatError, match="rows of one event"):
        folds.assign_folds(y, 5, 0, groups, np.array([10, 11, 12, 13, 14, 15, 7, 8]))


def test_seeded_folds_are_stratified_and_the_parts_of_each_model_are_disjoint():
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(400), rng.integers(1, 4, 400))
    y = (rng.random(400) < 0.25).astype(np.int64)[groups]
    fold = folds.assign_folds(y, 5, 42, groups)
    assert np.array_equal(fold, folds.assign_folds(y, 5, 42, groups))  # seeded
    first = np.unique(groups, return_index=True)[1]
    for k in (0, 1):  # each fold has a fifth of each class's events, to one event
        counts = np.bincount(fold[first][y[first] == k], minlength=5)
        assert counts.max() - counts.min() <= 1
    for event in np.unique(groups):  # an event's rows share a fold
        assert len(set(fold[groups == event])) == 1
    holdout = folds.holdout_flags(y, fold, 0.25, 42, groups)
    assert abs(holdout[first].mean() - 0.25) < 0.02
    for i in range(5):
        parts = folds.fold_parts(fold, holdout, i)
        rows = np.concatenate(list(parts.values()))
        assert sorted(rows.tolist()) == list(range(len(y)))  # every row in exactly one part
        assert set(groups[parts["test"]]).isdisjoint(groups[np.r_[parts["train"], parts["val"]]])
    for sample, (rows, model) in folds.pooled_models(fold, holdout, 5).items():
        own = model == fold[rows]
        assert own.all() if sample == "test" else not own.any()  # test: its own fold; the others: the next


def test_folds_that_leave_a_class_out_are_refused_naming_class_and_fold():
    x = np.zeros((43, 1), np.float32)
    y = np.array([0] * 40 + [1] * 3)
    data = Dataset(x, y, ["background", "signal"], "toy.csv")
    with pytest.raises(FormatError, match=r"class 'signal' has no event in fold \d's (test|validation|training) part"):
        preprocess.preprocess(data, split=SPLIT, seed=0)


def test_params_refuse_fold_by_without_folds_or_without_columns_and_warm_starts():
    params = tiny_params()
    params["split"]["fold_by"] = "eventNumber"
    with pytest.raises(ParamsError, match=r"split.fold_by: needs folds"):
        config.validate_params(params)
    params["split"]["folds"] = 5
    with pytest.raises(ParamsError, match=r"dataset 'gaussians' .* has no branches or columns"):
        config.validate_params(params)
    params = tiny_params()
    params["split"]["folds"] = 3
    params["variants"]["warm"] = {"warm_start": "baseline"}
    params["run"]["variants"] = ["baseline", "warm"]
    with pytest.raises(ParamsError, match=r"variants.warm.warm_start: not with split.folds"):
        config.validate_params(params)


@pytest.fixture(scope="module")
def remembered(tmp_path_factory):
    """Random labels learnt by one nearest neighbour in 5 folds (by an event column), joined: the table, the
    processed data and the joined variant's folder."""
    tmp = tmp_path_factory.mktemp("folds")
    rng = np.random.default_rng(5)
    n = 500
    table = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n), "event": np.arange(1000, 1000 + n)})
    table["label"] = np.where(rng.random(n) < 0.5, "signal", "background")
    table.to_csv(tmp / "events.csv", index=False)
    y = (table["label"] == "signal").to_numpy(np.int64)
    x = table[["x1", "x2"]].to_numpy(np.float32)
    data = Dataset(x, y, ["background", "signal"], "events.csv", feature_names=["x1", "x2"])
    data = Dataset(**{**data.__dict__, "fold_key": table["event"].to_numpy()})
    arrays, scalers = preprocess.preprocess(data, split={**SPLIT, "fold_by": "event"}, seed=1)
    preprocess.save(arrays, data.class_names, tmp / "data.npz", scalers, tmp / "scaler.json", (), ["x1", "x2"])
    params = tiny_params()
    params["variants"]["nn1"] = {"method": "knn", "knn": {"n_neighbors": 1}}
    spec = config.model_spec(config.validate_params(params), "gaussians", "nn1")
    names = {"model": "model", "history": "history.csv", "stats": "run_stats.json", "scores": "scores.npz"}
    names["bundle"] = "bundle.json"
    each = [{k: str(tmp / f"fold-{i}" / v) for k, v in names.items()} for i in range(5)]
    for i, outputs in enumerate(each):
        settings = TrainSettings("toy", "nn1", 1, spec, loader="table", fold=i)
        train.run(settings, {"data": str(tmp / "data.npz"), "scaler": str(tmp / "scaler.json")}, outputs)
    joined = {k: str(tmp / "nn1" / v) for k, v in names.items()}
    inputs = {"data": str(tmp / "data.npz"), **{k: [o[k] for o in each] for k in names}}
    joining.run(FoldsSettings("toy", "nn1", 5, "event"), inputs, joined)
    return tmp, y, joined


def test_no_event_is_scored_by_a_model_that_trained_on_it(remembered):
    _, y, joined = remembered
    scores = read_arrays(joined["scores"])
    assert scores["test"].shape[0] == len(y)  # every event exactly one out-of-fold score
    right = (scores["test"][:, 0] > 0.5) == y
    assert abs(right.mean() - 0.5) < 0.08  # a coin flip: no score comes from a model that saw its event
    train_rows = preprocess.pooled(joined["scores"].replace("nn1/scores.npz", "data.npz"))[1]["train"][0]
    assert ((scores["train"][:, 0] > 0.5) == y[train_rows]).all()  # the model that did see them remembers them
    bundle = read_json(joined["bundle"])
    assert bundle["folds"]["count"] == 5 and bundle["folds"]["fold_by"] == "event"


def test_apply_by_fold_scores_each_event_with_the_model_that_never_saw_it(remembered, tmp_path):
    tmp, y, joined = remembered
    model = scoring.Model("nn1", read_json(joined["bundle"]), tmp / "nn1" / "model")
    found = {}
    for mode in ("by_fold", "average"):
        out = scoring.apply([model], [(tmp / "events.csv", None)], tmp_path / mode, folds=mode)
        found[mode] = pd.read_parquet(out[0])["score_nn1"].to_numpy()
    assert np.array_equal(found["by_fold"], read_arrays(joined["scores"])["test"][:, 0])  # the out-of-fold scores
    # the folds' mean: four of five models trained on each event but the validation ones (a quarter): ~0.875 right
    assert ((found["average"] > 0.5) == y).mean() > 0.8
    seeded = scoring.Model("nn1", {**model.bundle, "folds": {**model.bundle["folds"], "fold_by": None}}, model.folder)
    with pytest.raises(FormatError, match="variant 'nn1': its folds were dealt by seed"):
        scoring.apply([seeded], [(tmp / "events.csv", None)], tmp_path / "seeded", folds="by_fold")


def test_progress_names_the_fold_a_k_fold_variant_is_training(tmp_path):
    from mlbasics.pipeline import declarations as stages
    from mlbasics.report.progress import rows

    folder = tmp_path / "models/hep/baseline/fold-3"
    folder.mkdir(parents=True)
    now = 1_000_000.0
    running = {"epoch": 4, "epochs": 10, "updated": now, "started": now - 8, "seconds_per_epoch": 2.0, "loss": 0.5}
    (folder / "progress.json").write_text(json.dumps(running))
    templates = {"stats": stages.RUN_STATS, "metrics": stages.METRICS}
    row = rows(tmp_path, [("hep", "baseline")], templates, now=now)[0]
    assert row[:3] == ["hep/baseline (fold-3)", "running", "4/10"] and row[5] == "12 s"


def test_the_page_shows_each_folds_lowest_ks_probability_where_there_are_many_classes():
    from mlbasics.report.pages import lowest_ks_per_fold

    row = {"n_folds": 2, "ks_p_a_fold_0": 0.5, "ks_p_b_fold_0": 0.2, "ks_p_a_fold_1": 0.9, "ks_p_b_fold_1": 0.7}
    assert lowest_ks_per_fold({**row, "ks_p_a": 0.01}) == [0.2, 0.7]
    assert lowest_ks_per_fold({"ks_p_a": 0.3}) == []


def test_progress_fits_80_columns_without_cutting_a_run_name(tmp_path):
    """`progress` in an 80-column terminal: every line fits, and gaussians/baseline and gaussians/bdt keep their
    whole names (a cut name could be either)."""
    import time

    from rich.console import Console

    from mlbasics.pipeline import declarations as stages
    from mlbasics.report.progress import table

    now = time.time()
    for variant in ("baseline", "bdt", "sgd-momentum-learning_rate_0.01"):
        folder = tmp_path / f"models/gaussians/{variant}"
        folder.mkdir(parents=True)
        running = {"epoch": 14, "epochs": 200, "updated": now, "started": now - 8, "seconds_per_epoch": 0.0123}
        running.update(loss=0.301234, val_loss=0.331234)
        (folder / "progress.json").write_text(json.dumps(running))
    templates = {"stats": stages.RUN_STATS, "metrics": stages.METRICS}
    pairs = [("gaussians", "baseline"), ("gaussians", "bdt"), ("gaussians", "sgd-momentum-learning_rate_0.01")]
    console = Console(width=80, record=True, color_system=None)
    console.print(table(tmp_path, pairs, templates))
    shown = console.export_text()
    assert all(len(line) <= 80 for line in shown.splitlines()), shown
    assert "gaussians/baseline " in shown and "gaussians/bdt " in shown and "\u2026" not in shown, shown
    assert "0.301 / 0.331" in shown and "0.012 s/ep" in shown  # the long name folds; nothing is cut
