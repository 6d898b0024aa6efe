"""ROOT input through uproot, on the two real ROOT files of the shared test data (jagged and flat branches, an
event-weight branch, a string branch) and on files written here; every mistake named in one line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import uproot

from mlbasics.core import formats
from mlbasics.core.formats import FormatError
from mlbasics.data import arrays as data
from mlbasics.data import loaders as datasets
from mlbasics.data import root_files, sources
from mlbasics.data.loaders import embedded
from mlbasics.params import config
from mlbasics.pipeline import declarations as stages
from tests.helpers import ROOT, write_root_pair

SHARED = Path(os.environ.get("MNIST_T10K_DIR", ROOT.parent / "shared" / "data" / "mnist-t10k")).parent
SAMPLES = Path(os.environ.get("ROOT_SAMPLES_DIR", SHARED / "root-samples"))
HZZ, ZMUMU = SAMPLES / "uproot-HZZ.root", SAMPLES / "uproot-Zmumu.root"
needs_samples = pytest.mark.skipif(not HZZ.is_file(), reason=f"real ROOT samples not present at {SAMPLES}")


@needs_samples
def test_real_jagged_and_flat_branches_with_a_selection_and_weights():
    import uproot

    tree = uproot.open(HZZ)["events"]
    raw = tree.arrays(["NJet", "MET_px", "Jet_Px", "Muon_Px", "EventWeight"], library="np")
    keep = raw["NJet"] >= 1
    events = root_files.read(
        [root_files.Sample("signal", [HZZ], "events", 2.0), root_files.Sample("background", [HZZ], "events")],
        ["MET_px", "Jet_Px[0]", "len(Jet_Px)", "max(Jet_Px)"],
        "NJet >= 1",
        "EventWeight",
    )
    n = int(keep.sum())
    assert events.x.shape == (2 * n, 4) and events.class_names == ["background", "signal"]
    assert events.feature_names == ["MET_px", "Jet_Px[0]", "len(Jet_Px)", "max(Jet_Px)"]
    signal = events.x[:n]  # the signal sample is read first
    np.testing.assert_array_equal(signal[:, 0], raw["MET_px"][keep].astype(np.float32))
    np.testing.assert_array_equal(signal[:, 1], [j[0] for j in raw["Jet_Px"][keep]])
    np.testing.assert_array_equal(signal[:, 2], [len(j) for j in raw["Jet_Px"][keep]])
    np.testing.assert_array_equal(signal[:, 3], [j.max() for j in raw["Jet_Px"][keep]])
    np.testing.assert_allclose(events.w[:n], 2.0 * raw["EventWeight"][keep])  # the sample's scale
    np.testing.assert_allclose(events.w[n:], raw["EventWeight"][keep])
    assert (events.y[:n] == 1).all() and (events.y[n:] == 0).all()


@needs_samples
def test_one_real_tree_with_a_string_label_branch_and_default_inputs():
    events = root_files.read([root_files.Sample(None, [ZMUMU], "events")], label="Type")
    assert events.class_names == ["GG", "GT", "TT"] and np.bincount(events.y).tolist() == [516, 1145, 643]
    assert "Type" not in events.feature_names and {"M", "pt1", "eta2", "Q1"} <= set(events.feature_names)
    assert events.w is None and events.x.dtype == np.float32


@needs_samples
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"branches": ["Jet_Px"]}, "branch 'Jet_Px' is jagged (a list per event); pick an element, Jet_Px[0]"),
        ({"branches": ["Jet_Px[0]"]}, "'Jet_Px[0]' has no valid value in 716 selected event(s)"),
        ({"branches": ["MET_px[0]"]}, "'MET_px[0]': branch 'MET_px' has one value per event; use MET_px"),
        ({"branches": ["MET_px", "nope"]}, "cannot evaluate 'nope'"),
        ({"branches": ["MET_px"], "selection": "NJt >= 1"}, "with selection 'NJt >= 1'"),
    ],
    ids=["jagged", "missing element", "flat indexed", "no branch", "bad selection"],
)
def test_mistakes_in_branches_and_selection_are_named(kwargs, message):
    with pytest.raises(FormatError) as error:
        root_files.read([root_files.Sample("signal", [HZZ], "events")], **kwargs)
    assert message in str(error.value) and "uproot-HZZ.root:events" in str(error.value)


def test_a_missing_tree_or_a_file_that_is_not_root_is_named(tmp_path):
    write_root_pair(tmp_path)
    with pytest.raises(FormatError, match=r"sig.root: no tree 'evts' \(trees in the file: events, Runs\)"):
        root_files.read([root_files.Sample("signal", [tmp_path / "sig.root"], "evts")])
    with uproot.recreate(tmp_path / "rntuple.root") as file:  # uproot 5.7 writes an RNTuple for a dict
        file["events"] = {"x1": np.arange(10, dtype=np.float32), "n": np.arange(10) % 3}
    with pytest.raises(
        FormatError, match=r"rntuple\.root: no tree 'evts' \(trees in the file: none; RNTuples: events\)"
    ):
        root_files.read([root_files.Sample("signal", [tmp_path / "rntuple.root"], "evts")])
    with pytest.raises(FormatError, match=r"rntuple\.root: 'events' is an RNTuple .* selections and expressions would"):
        root_files.read([root_files.Sample("signal", [tmp_path / "rntuple.root"], "events")], ["x1"], "n >= 1")
    (tmp_path / "fake.root").write_text("not ROOT")
    with pytest.raises(FormatError, match=r"fake\.root: not a readable ROOT file"):
        root_files.read([root_files.Sample("signal", [tmp_path / "fake.root"], "events")])


def test_the_root_loader_reads_a_pair_from_the_download_receipt_and_keeps_weights(tmp_path):
    files = write_root_pair(tmp_path)
    receipt = {
        "dataset": "pair",
        "files": [{"name": f["name"], "path": str(tmp_path / f["name"]), "sha256": f["sha256"]} for f in files],
    }
    options = {
        "files": files,
        "tree": "events",
        "signal": {"files": ["sig.root"], "scale": 0.5},
        "background": {"files": ["bkg.root"]},
        "branches": ["x1", "jet_pt[0]"],
        "selection": "njet >= 1",
        "weight": "w",
    }
    assert sources.check_options("root", options) is None
    ds = datasets.make("root", options, receipt)
    assert ds.class_names == ["background", "signal"] and ds.feature_names == ["x1", "jet_pt[0]"]
    assert (ds.w < 0).any() and ds.w.dtype == np.float64
    data.save(ds, tmp_path / "raw.npz")
    back = data.load(tmp_path / "raw.npz")
    assert back.feature_names == ds.feature_names and back.w.tobytes() == ds.w.tobytes()


@pytest.mark.parametrize(
    "options, message",
    [
        ({"path": "x.root", "tree": "t", "signal": {}}, "background: loader 'root' needs both signal and background"),
        ({"path": "x.root", "signal": {}, "background": {}}, "signal: loader 'root' needs a tree name"),
        (
            {"path": "x.root", "tree": "t", "label": "y", "signal": {}, "background": {}},
            "label: loader 'root' takes either",
        ),
        (
            {"path": "x.root", "tree": "t", "signal": {"files": ["a.root"]}, "background": {}},
            "signal.files: with a local path",
        ),
        ({"tree": "t", "label": "y"}, "path: loader 'root' needs exactly one of path"),
    ],
)
def test_root_options_are_checked_before_any_work(options, message):
    assert message in (sources.check_options("root", options) or "")


def test_the_hep_toy_goes_through_root_files_with_weights(tmp_path):
    ds = embedded.hep_toy(str(tmp_path / "hep"), 400, seed=1)
    assert ds.feature_names == ["var1", "var2", "var3", "var4", "jet_pt[0]"]
    assert ds.class_names == ["background", "signal"] and (ds.w < 0).any() and (ds.x[:, 4] >= 20).all()
    # the ntuples are kept, and every event says where it was read: its file and entry
    assert sorted(p.name for p in (tmp_path / "hep").iterdir()) == ["background.root", "signal.root"]
    assert ds.origin_files == [(tmp_path / "hep" / f).as_posix() for f in ("signal.root", "background.root")]
    for index, name in enumerate(ds.origin_files):
        var1 = uproot.open(name)["events"]["var1"].array(library="np")
        rows = ds.origin[:, 0] == index
        assert rows.sum() < 400 and np.array_equal(ds.x[rows, 0], var1[ds.origin[rows, 1]])
    params = config.load_params(ROOT / "params.yaml")
    assert params["datasets"]["hep"]["loader"] == "hep_toy" and "hep" in params["run"]["datasets"]
    # the toy's own selection travels to the model's bundle, as a user's would
    assert stages.stage_settings(params, "train", "hep", "baseline")["selection"] == "njet_pt >= 1"


def test_a_truncated_file_or_a_histogram_where_a_tree_should_be_is_one_line(tmp_path):
    """A file that breaks off (a copy cut short) is named as truncated wherever its bytes run out - in the tree's
    header, in its baskets, mid-way through apply's chunks - never as a wrong expression, never a traceback; a
    name that is not a tree says what it is."""
    root_files.write_tree(tmp_path / "full.root", "events", {"x": np.arange(100_000, dtype=np.float32)})
    data = (tmp_path / "full.root").read_bytes()
    seen = set()
    for cut in range(1_000, len(data) - 2_000, 4_999):
        (tmp_path / "cut.root").write_bytes(data[:cut])
        for read in (
            lambda: root_files.read([root_files.Sample(n, [tmp_path / "cut.root"], "events") for n in "ab"], ["x"]),
            lambda: list(root_files.input_chunks(tmp_path / "cut.root", "events", ["x"], None, step=7_000)),
        ):
            with pytest.raises(FormatError) as error:
                read()
            message = str(error.value)
            assert message.startswith("cut.root") and "\n" not in message, message
            assert "truncated or damaged" in message or "not a readable ROOT file" in message, message
            seen.add("truncated" in message)
    assert seen == {True}
    with uproot.recreate(tmp_path / "histogram.root") as file:
        file["events"] = np.histogram(np.arange(10), bins=5)
    with pytest.raises(FormatError, match=r"^histogram\.root: 'events' is a TH1D, not a tree$"):
        root_files.read([root_files.Sample("signal", [tmp_path / "histogram.root"], "events")], ["x"])


def test_reading_in_chunks_gives_the_bytes_of_reading_at_once(tmp_path):
    """root_files.read goes through each tree `step` entries at a time (bounded memory on large ntuples): any
    step gives the same arrays - inputs, weights, classes, event groups and each event's file and entry."""
    embedded.hep_toy(str(tmp_path), 500, seed=2)
    samples = [root_files.Sample(n, [tmp_path / f"{n}.root"], "events") for n in ("signal", "background")]
    inputs = ["var1", "var4", "jet_pt[0]", "max(jet_pt)", "len(jet_pt)"]
    options = {"selection": "njet_pt >= 1", "weight": "weight", "group": ["var2"]}
    whole = root_files.read(samples, inputs, **options, step=10**9)
    for step in (1, 7, 128):
        chunked = root_files.read(samples, inputs, **options, step=step)
        for field in ("x", "y", "w", "origin"):
            a, b = getattr(whole, field), getattr(chunked, field)
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), (field, step)
        assert all(a.tobytes() == b.tobytes() for a, b in zip(whole.group_keys, chunked.group_keys, strict=True))
    assert whole.x.dtype == np.float32 and len(whole.x) == len(whole.origin) > 0
    # an element beyond the end is refused with its count over the whole tree, whatever the step
    messages = []
    for step in (5, 10**9):
        with pytest.raises(FormatError, match=r"'jet_pt\[3\]' has no valid value in \d+ selected") as error:
            root_files.read(samples, ["var1", "jet_pt[3]"], "njet_pt >= 1", step=step)
        messages.append(str(error.value))
    assert messages[0] == messages[1], messages
    assert "select events that have it, e.g. selection: 'njet_pt >= 4'" in messages[0]  # its counter, its index


def test_identifiers_are_never_default_inputs_and_the_log_names_the_inputs(tmp_path, capsys):
    rng = np.random.default_rng(2)
    branches = {"mass": rng.normal(size=50).astype(np.float32), "pt": rng.normal(size=50).astype(np.float32)}
    ids = {"eventNumber": np.arange(50, dtype=np.int64), "runNumber": np.full(50, 7, np.int32)}
    ids["luminosityBlock"] = np.ones(50, np.int32)
    root_files.write_tree(tmp_path / "s.root", "events", {**branches, **ids})
    events = root_files.read([root_files.Sample("signal", [tmp_path / "s.root"], "events")])
    assert events.feature_names == ["mass", "pt"]
    assert "s.root: inputs (every flat numeric branch but identifiers): mass, pt" in capsys.readouterr().out
    table = tmp_path / "t.csv"
    table.write_text("fLength,event_id,Run,fAlpha,class\n1,10,1,2,g\n2,11,1,3,h\n")
    assert formats.read_table(table, "class")[3] == ["fLength", "fAlpha"]


def write_process(path, n: int, shift: float, negative: float, seed: int, generated: list[float]) -> np.ndarray:
    """A process's ntuple: x, its event weights w (a share `negative` of them -1, as NLO samples have), and a Runs
    tree whose genEventSumw entries sum to the generated sample's weight."""
    rng = np.random.default_rng(seed)
    w = np.where(rng.random(n) < negative, -1.0, 1.0)
    root_files.write_tree(path, "events", {"x": rng.normal(shift, 1.0, n).astype(np.float32), "w": w})
    root_files.write_tree(path, "Runs", {"genEventSumw": np.asarray(generated)})
    return w


def receipt_of(paths) -> tuple[dict, list[dict]]:
    """The download receipt of local files (as the download stage writes it) and their `files` entries."""
    import hashlib

    entries = [{"name": p.name, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()} for p in paths]
    receipt = {"dataset": "three", "files": [{**e, "path": str(p)} for e, p in zip(entries, paths, strict=True)]}
    return receipt, [{**e, "url": p.as_uri()} for e, p in zip(entries, paths, strict=True)]


def test_processes_are_normalised_by_cross_section_luminosity_and_generator_weights(tmp_path):
    """Signal and two backgrounds, one with 10 % negative weights: each event's weight becomes w x xsec x lumi /
    sumw, sumw read from the Runs tree (the generator weights' sum, not the number of events) or given; the
    yields table is the hand computation."""
    paths = [tmp_path / f"{n}.root" for n in ("tth", "ttbar", "wjets")]
    w_tth = write_process(paths[0], 400, 1.0, 0.0, 1, [150.0, 250.0])
    w_tt = write_process(paths[1], 600, 0.0, 0.0, 2, [1000.0])
    w_wj = write_process(paths[2], 500, -0.5, 0.1, 3, [300.0, 100.0])
    receipt, files = receipt_of(paths)
    processes = [
        {
            "name": "ttH",
            "class": "signal",
            "files": ["tth.root"],
            "xsec": 0.5,
            "lumi": 1000,
            "sumw": "Runs:genEventSumw",
        },
        {"name": "ttbar", "class": "background", "files": ["ttbar.root"], "xsec": 800.0, "lumi": 1000, "sumw": 1000},
        {
            "name": "wjets",
            "class": "background",
            "files": ["wjets.root"],
            "xsec": 2000.0,
            "lumi": 1000,
            "sumw": "Runs:genEventSumw",
        },
    ]
    options = {"files": files, "tree": "events", "weight": "w", "branches": ["x"], "processes": processes}
    assert sources.check_options("root", options) is None
    dataset = datasets.make("root", options, receipt)
    scales = [0.5 * 1000 / 400, 800.0 * 1000 / 1000, 2000.0 * 1000 / 400]
    assert dataset.class_names == ["background", "signal"] and [p["scale"] for p in dataset.processes] == scales
    expected = np.concatenate([w_tth * scales[0], w_tt * scales[1], w_wj * scales[2]])
    np.testing.assert_allclose(dataset.w, expected)
    rows = {r["process"]: r for r in data.yields(dataset)}
    assert rows["ttH"]["entries"] == 400 and rows["ttH"]["expected"] == pytest.approx(400 * 1.25)
    assert rows["wjets"]["sum_weights"] == pytest.approx(w_wj.sum()) and (w_wj < 0).mean() > 0.05
    assert rows["wjets"]["expected"] == pytest.approx(w_wj.sum() * 5000.0)
    assert rows["all background"]["expected"] == pytest.approx(600 * 800.0 + w_wj.sum() * 5000.0)
    # three classes from three trees: a multiclass dataset
    three = [{**p, "class": p["name"]} for p in processes]
    multi = datasets.make("root", {**options, "processes": three}, receipt)
    assert multi.class_names == ["ttH", "ttbar", "wjets"] and np.bincount(multi.y).tolist() == [400, 600, 500]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"sumw": None}, "processes[0].sumw: needed with xsec"),
        ({"class": "background"}, "processes: they hold one class"),
        ({"files": ["nope.root"]}, "processes[0].files: 'nope.root' is not one of the files"),
    ],
)
def test_process_mistakes_are_named(tmp_path, change, message):
    paths = [tmp_path / "a.root", tmp_path / "b.root"]
    for i, path in enumerate(paths):
        write_process(path, 20, 0.0, 0.0, i, [20.0])
    _, files = receipt_of(paths)
    first = {"name": "a", "class": "signal", "files": ["a.root"], "xsec": 1.0, "sumw": 20.0, **change}
    first = {k: v for k, v in first.items() if v is not None}
    second = {"name": "b", "class": "background", "files": ["b.root"]}
    options = {"files": files, "tree": "events", "processes": [first, second]}
    assert message in sources.check_options("root", options)


def test_a_regression_target_from_a_branch_or_an_expression(tmp_path):
    rng = np.random.default_rng(8)
    x = rng.normal(size=(300, 2)).astype(np.float32)
    truth = (2.0 * x[:, 0] - x[:, 1] + rng.normal(0, 0.1, 300)).astype(np.float32)
    root_files.write_tree(tmp_path / "reg.root", "events", {"x1": x[:, 0], "x2": x[:, 1], "truth": truth})
    options = {"path": str(tmp_path / "reg.root"), "tree": "events", "target": "truth"}
    assert sources.check_options("root", options) is None
    assert sources.is_regression({"loader": "root", "options": options})
    found = datasets.make("root", options, {"dataset": "reg", "files": []})
    assert found.class_names == [] and found.feature_names == ["x1", "x2"]  # the target is no input
    assert found.y.dtype == np.float32 and np.array_equal(found.y, truth)
    doubled = datasets.make("root", {**options, "target": "truth * 2", "branches": ["x1"]}, {"dataset": "reg"})
    np.testing.assert_allclose(doubled.y, 2 * truth, rtol=1e-6)
    assert "label: loader 'root' with a target" in sources.check_options("root", {**options, "label": "x1"})


def test_three_classes_from_three_trees_run_through_every_stage(tmp_path, monkeypatch):
    """A multiclass ROOT config - three processes, each its own class, normalised by cross section and generator
    weights, one with negative weights - downloaded, read, trained (an MLP and a BDT) and reported through the
    real stage code: per-class KS probabilities, the page's yields table with every process."""
    from mlbasics.cli import run_stage
    from tests.helpers import settings_for

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    paths = [tmp_path / f"{n}.root" for n in ("ttH", "ttbar", "wjets")]
    for path, shift, negative, seed in zip(paths, (1.5, 0.0, -1.5), (0.0, 0.0, 0.1), (1, 2, 3), strict=True):
        write_process(path, 400, shift, negative, seed, [400.0])
    _, files = receipt_of(paths)
    processes = [
        {"name": n, "class": n, "files": [f"{n}.root"], "xsec": x, "lumi": 100, "sumw": "Runs:genEventSumw"}
        for n, x in (("ttH", 0.5), ("ttbar", 800.0), ("wjets", 2000.0))
    ]
    raw = config.load_params(ROOT / "params.yaml")
    raw["datasets"] = {
        "three": {
            "loader": "root",
            "options": {"files": files, "tree": "events", "weight": "w", "branches": ["x"], "processes": processes},
            "preprocess": {"scaler": "standard"},
            "model": {"hidden_layers": [8], "epochs": 3, "bdt": {"max_iter": 10}},
        }
    }
    raw.update(run={"datasets": ["three"], "variants": ["baseline", "bdt"]}, gates=None, apply=None)
    raw["expected_yields"] = None
    raw["tracking"] = {"uri": f"sqlite:///{tmp_path}/mlflow.db", "experiment": "three"}
    params = config.validate_params(raw)
    for stage in ("download", "dataset", "preprocess"):
        run_stage(stage, settings_for(params, stage, "three"))
    for variant in ("baseline", "bdt"):
        for stage in ("train", "evaluate"):
            run_stage(stage, settings_for(params, stage, "three", variant))
    run_stage("report", settings_for(params, "report", "three"))
    # MLflow wrote the URI to the environment while logging; the stage put it back, so a warm worker's next job
    # (or the next test) logs where its own params say
    assert "MLFLOW_TRACKING_URI" not in os.environ
    for variant in ("baseline", "bdt"):
        metrics = json.loads((tmp_path / f"reports/three/{variant}/metrics.json").read_text())
        assert {"ks_p_ttH", "ks_p_ttbar", "ks_p_wjets", "accuracy"} <= set(metrics)
    page = (tmp_path / "reports/three/index.html").read_text()
    assert all(f"<td>{n}</td>" in page for n in ("ttH", "ttbar", "wjets"))
