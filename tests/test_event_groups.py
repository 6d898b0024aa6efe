"""Several rows per event (candidates): `options.group` names the event of each row, and the split keeps an
event's rows together - in ROOT files written here with uproot, in a CSV table, and on the real Zmumu sample, whose
2,304 dimuon candidates come from 500 events."""

from __future__ import annotations

import numpy as np
import pytest

from mlbasics.core.formats import FormatError
from mlbasics.data import arrays as data
from mlbasics.data import loaders as datasets
from mlbasics.data import preprocess, root_files, sources
from tests.test_root import ZMUMU, needs_samples

FRACTIONS = {"train": 0.6, "validation": 0.2, "test": 0.2}


def candidates(rng, n_events: int, shift: float, first_event: int = 1) -> dict[str, np.ndarray]:
    """n_events events with 1-4 candidates each: an event-level quantity (met, the same for an event's
    candidates) and a per-candidate one (m), with run and event numbers."""
    counts = rng.integers(1, 5, n_events)
    event = np.repeat(np.arange(first_event, first_event + n_events), counts)
    met = np.repeat(rng.normal(shift, 1.0, n_events), counts)
    return {
        "run": np.full(len(event), 7, np.int32),
        "event": event.astype(np.int64),
        "met": met.astype(np.float32),
        "m": rng.normal(shift, 1.0, len(event)).astype(np.float32),
    }


def parts_of(groups: np.ndarray, parts: dict[str, np.ndarray]) -> dict[str, set]:
    return {name: set(groups[index].tolist()) for name, index in parts.items()}


def test_the_split_keeps_each_events_rows_together_and_stratifies_events():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(300), rng.integers(1, 5, 300))
    event_class = (rng.random(300) < 0.3).astype(np.int64)  # 30 % signal events
    y = event_class[groups]
    parts = preprocess.split_indices(y, FRACTIONS, 42, groups)
    rows = np.concatenate(list(parts.values()))
    assert sorted(rows.tolist()) == list(range(len(y)))  # every row once
    events = parts_of(groups, parts)
    assert not (events["train"] & events["val"] or events["train"] & events["test"] or events["val"] & events["test"])
    assert [len(events[k]) for k in ("train", "val", "test")] == [180, 60, 60]  # the fractions count events
    for name, members in events.items():  # each part holds 30 % signal events, to within one event
        share = event_class[sorted(members)].mean()
        assert abs(share - event_class.mean()) <= 1 / len(members) + 1e-9, name
    again = preprocess.split_indices(y, FRACTIONS, 42, groups)
    assert all(np.array_equal(parts[k], again[k]) for k in parts)
    assert not np.array_equal(parts["test"], preprocess.split_indices(y, FRACTIONS, 43, groups)["test"])


def test_root_group_branches_name_events_per_file_and_stay_out_of_the_inputs(tmp_path):
    rng = np.random.default_rng(1)
    signal, background = candidates(rng, 150, 1.0), candidates(rng, 200, 0.0)  # the same event numbers in both
    root_files.write_tree(tmp_path / "sig.root", "events", signal)
    root_files.write_tree(tmp_path / "bkg.root", "events", background)
    samples = [
        root_files.Sample("signal", [tmp_path / "sig.root"], "events"),
        root_files.Sample("background", [tmp_path / "bkg.root"], "events"),
    ]
    events = root_files.read(samples, group=["run", "event"])
    assert events.feature_names == ["met", "m"]  # run and event are not inputs
    assert events.group_keys[2].dtype == np.int64  # 64-bit event numbers as they are
    groups = data.group_ids(events.group_keys)
    assert len(np.unique(groups)) == 350  # event 5 of the signal file is not event 5 of the background's
    keys = np.r_[signal["event"], background["event"] + 10_000]
    assert np.array_equal(groups[:, None] == groups[None, :], keys[:, None] == keys[None, :])
    assert root_files.read(samples).group_keys == []


@pytest.mark.parametrize(
    "group, message",
    [
        (["run", "evt"], "sig.root:events: cannot evaluate 'evt'"),
        (["jet_pt"], "sig.root:events: group branch 'jet_pt' is not one number per entry"),
    ],
    ids=["missing", "jagged"],
)
def test_a_group_branch_that_is_missing_or_jagged_is_named(tmp_path, group, message):
    root_files.write_tree(
        tmp_path / "sig.root",
        "events",
        {"run": np.ones(3, np.int32), "x": np.arange(3.0), "jet_pt": [np.ones(k) for k in (1, 2, 0)]},
    )
    with pytest.raises(FormatError) as error:
        root_files.read([root_files.Sample("signal", [tmp_path / "sig.root"], "events")], ["x"], group=group)
    assert message in str(error.value)


def test_grouped_rows_go_from_a_root_file_through_the_raw_file_into_disjoint_parts(tmp_path, capsys):
    """The loader, the raw .npz and the preprocess stage's function: no event's met value (the same for all its
    candidates, different between events) is in two parts."""
    rng = np.random.default_rng(2)
    sig, bkg = candidates(rng, 120, 1.0), candidates(rng, 160, 0.0, first_event=1000)
    root_files.write_tree(
        tmp_path / "one.root",
        "events",
        {**{k: np.r_[sig[k], bkg[k]] for k in sig}, "kind": np.r_[np.ones(len(sig["m"])), np.zeros(len(bkg["m"]))]},
    )
    options = {"path": str(tmp_path / "one.root"), "tree": "events", "label": "kind", "group": ["run", "event"]}
    assert sources.check_options("root", options) is None
    dataset = datasets.make("root", options, receipt={})
    data.save(dataset, tmp_path / "raw.npz")
    back = data.load(tmp_path / "raw.npz")
    assert back.groups.dtype == np.int64 and np.array_equal(back.groups, dataset.groups)
    arrays, _ = preprocess.preprocess(back, split=FRACTIONS, seed=42, scaler="none")
    assert "one.root: split by event (options.group) - train 168 events (" in capsys.readouterr().out
    met = {name: set(arrays[f"x_{name}"][:, 0].tolist()) for name in ("train", "val", "test")}
    assert not (met["train"] & met["test"] or met["train"] & met["val"] or met["val"] & met["test"])
    assert sum(len(v) for v in met.values()) == 280  # every event, in one part
    ungrouped, _ = preprocess.preprocess(
        data.Dataset(back.x, back.y, back.class_names), split=FRACTIONS, seed=42, scaler="none"
    )
    assert set(ungrouped["x_train"][:, 0].tolist()) & set(ungrouped["x_test"][:, 0].tolist())  # what it prevents


def test_a_table_groups_by_columns_of_any_type(tmp_path):
    path = tmp_path / "cands.csv"
    path.write_text("event,x,kind\na1,0.5,s\na1,0.7,s\nb2,-0.3,b\nc3,0.1,b\nc3,0.2,b\nc3,0.4,b\n")
    dataset = datasets.make("table", {"path": str(path), "label": "kind", "group": ["event"]}, receipt={})
    assert dataset.feature_names == ["x"] and dataset.groups.tolist() == [0, 0, 1, 2, 2, 2]
    # ungrouped, an event column is still no input: identifiers never are by default
    assert datasets.make("table", {"path": str(path), "label": "kind"}, receipt={}).feature_names == ["x"]
    with pytest.raises(FormatError, match=r"cands\.csv: column 'event', data row 1"):  # named as one: refused
        datasets.make("table", {"path": str(path), "label": "kind", "features": ["x", "event"]}, receipt={})
    with pytest.raises(FormatError, match=r"cands\.csv: group column 'evt' not found \(columns: event, x, kind\)"):
        datasets.make("table", {"path": str(path), "label": "kind", "group": ["evt"]}, receipt={})
    path.write_text("event,x,kind\na1,0.5,s\n,0.7,s\nb2,-0.3,b\n")
    with pytest.raises(FormatError, match=r"cands\.csv: group column 'event' is empty in data row 2 \(and 0 more\)"):
        datasets.make("table", {"path": str(path), "label": "kind", "group": ["event"]}, receipt={})


@pytest.mark.parametrize(
    "loader, options, message",
    [
        (
            "root",
            {"path": "a.root", "tree": "t", "label": "y", "branches": ["x", "event"], "group": ["event"]},
            "group: 'event' is also an input",
        ),
        (
            "table",
            {"path": "a.csv", "label": "y", "features": ["x", "event"], "group": ["event"]},
            "group: 'event' is also an input",
        ),
        ("table", {"path": "a.csv", "label": "y", "group": ["y"]}, "group: 'y' is also the label"),
        ("table", {"path": "a.csv", "label": "y", "weight": "w", "group": ["w"]}, "group: 'w' is also the weight"),
        ("iris", {"group": ["event"]}, "group: not an option of loader 'iris'"),
    ],
    ids=["root input", "table feature", "label", "weight", "not a table"],
)
def test_group_options_are_checked_before_any_work(loader, options, message):
    assert message in (sources.check_options(loader, options) or "")


def test_too_few_events_of_a_class_are_counted_as_events():
    groups = np.repeat(np.arange(8), 10)  # 80 rows but 8 events; signal: the first 2 events
    dataset = data.Dataset(
        np.zeros((80, 1), np.float32), (groups < 2).astype(np.int64), ["b", "s"], "c.root", groups=groups
    )
    with pytest.raises(FormatError, match=r"c\.root: class 's' has 2 events; .* at least 5 events of every class"):
        preprocess.check_split(dataset, FRACTIONS)


@needs_samples
def test_the_real_zmumu_candidates_split_by_run_and_event():
    """2,304 candidates of 500 events: grouped, no (Run, Event) pair is in two parts."""
    import uproot

    keys = uproot.open(ZMUMU)["events"].arrays(["Run", "Event"], library="np")
    pairs = np.array([f"{r}:{e}" for r, e in zip(keys["Run"], keys["Event"], strict=True)])
    dataset = datasets.make(
        "root", {"path": str(ZMUMU), "tree": "events", "label": "Type", "group": ["Run", "Event"]}, receipt={}
    )
    assert len(dataset.y) == 2304 and len(np.unique(dataset.groups)) == 500
    assert "Run" not in dataset.feature_names and "Event" not in dataset.feature_names
    parts = preprocess.split_indices(dataset.y, FRACTIONS, 42, dataset.groups)
    seen = {name: set(pairs[index].tolist()) for name, index in parts.items()}
    assert not (seen["train"] & seen["test"] or seen["train"] & seen["val"] or seen["val"] & seen["test"])
    assert [len(seen[k]) for k in ("train", "val", "test")] == [300, 100, 100]


def test_params_take_group_as_a_list_of_names():
    from mlbasics.params import config
    from tests.helpers import ROOT

    params = config.load_params(ROOT / "params.yaml")
    params["datasets"]["cands"] = {
        "loader": "root",
        "preprocess": {},
        "model": {},
        "options": {"path": "cands.root", "tree": "events", "label": "kind", "group": ["run", "event"]},
    }
    assert config.validate_params(params)["datasets"]["cands"]["options"]["group"] == ["run", "event"]
    params["datasets"]["cands"]["options"]["group"] = "event"
    with pytest.raises(config.ParamsError, match=r"datasets\.cands\.options\.group: 'event' is not of type 'array'"):
        config.validate_params(params)
