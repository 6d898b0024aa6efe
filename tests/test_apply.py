"""Applying trained models to new ROOT files (`python -m mlbasics apply`, stages/apply.py): the friend tree is
entry-aligned with the input, every passing entry's score is the model's score of that event computed directly
(the bundle's inputs, selection and scaler), the others get the sentinel, chunks change nothing, and a mistake in
the input is one line that writes nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import uproot

from mlbasics import cli
from mlbasics.core.formats import FormatError
from mlbasics.data import bundle, preprocess, root_files
from mlbasics.data.arrays import Dataset
from mlbasics.methods import onnx_export
from mlbasics.methods import training as methods
from mlbasics.params import config
from mlbasics.pipeline import declarations as stages
from mlbasics.stages import apply as scoring
from mlbasics.stages import train
from mlbasics.stages.settings import TrainSettings

INPUTS = ["var1", "var2", "max(jet_pt)", "jet_pt[1]"]
SELECTION = "var3 > -1"


def write_events(path: Path, n: int, seed: int, shift: float = 0.0) -> None:
    """A tree like a physicist's: flat variables and a jagged jet pT (some events with fewer than two jets)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, size=(n, 3))
    jets = [np.sort(20 + rng.exponential(30 + 10 * shift, k))[::-1] for k in rng.poisson(1.5, n)]
    root_files.write_tree(
        path, "events", {**{f"var{j + 1}": x[:, j].astype(np.float32) for j in range(3)}, "jet_pt": jets}
    )


def write_rntuple(folder: Path) -> None:
    """The input as uproot 5.7 writes a dict: an RNTuple, to which uproot applies no selection."""
    with uproot.recreate(folder / "in.root") as file:
        file["events"] = {name: np.zeros(5, np.float32) for name in ("var1", "var2", "var3")}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A trained BDT, Fisher and MLP of a small signal/background dataset, laid out as the pipeline lays it out."""
    root = tmp_path_factory.mktemp("apply")
    write_events(root / "sig.root", 900, 1, shift=0.8)
    write_events(root / "bkg.root", 900, 2)
    dataset = root_files.read(
        [
            root_files.Sample("signal", [root / "sig.root"], "events"),
            root_files.Sample("background", [root / "bkg.root"], "events"),
        ],
        INPUTS,
        SELECTION,
        drop_invalid=True,
    )
    raw = Dataset(dataset.x, dataset.y, dataset.class_names, feature_names=dataset.feature_names)
    arrays, scaler = preprocess.preprocess(
        raw, split={"train": 0.6, "validation": 0.2, "test": 0.2}, seed=0, scaler="standard"
    )
    data = root / stages.PROCESSED.format(dataset="toy")
    scaler_path = root / stages.SCALER.format(dataset="toy")
    preprocess.save(arrays, raw.class_names, data, scaler, scaler_path, feature_names=raw.feature_names)
    defaults = config.model_defaults()
    for variant, spec in (
        ("bdt", {**defaults, "method": "bdt", "bdt": {**defaults["bdt"], "max_iter": 20}}),
        ("fisher", {**defaults, "method": "fisher"}),
        ("mlp", {**defaults, "hidden_layers": [8], "epochs": 3}),
    ):
        spec = {k: v for k, v in spec.items() if k in ("method", "task", "event_weights", variant) or variant == "mlp"}
        outputs = {
            k: root / v.format(dataset="toy", variant=variant) for k, v in stages.STAGES["train"].outputs.items()
        }
        settings = TrainSettings("toy", variant, 0, spec, loader="root", selection=SELECTION)
        train.run(settings, {"data": data, "scaler": scaler_path}, outputs, threads=1)
    return root


def models(project: Path, variants=("bdt", "fisher", "mlp")) -> list[scoring.Model]:
    return scoring.read_models("toy", list(variants), str(project / stages.BUNDLE), str(project / stages.MODEL))


def test_the_bundle_says_how_a_raw_event_becomes_the_model_input(project):
    found = bundle.read(project / stages.BUNDLE.format(dataset="toy", variant="bdt"))
    assert found["inputs"] == INPUTS and found["selection"] == SELECTION and found["loader"] == "root"
    assert found["class_names"] == ["background", "signal"] and found["outputs"] == ["signal"]
    assert found["task"] == "binary" and found["model_file"] == "model/model.skops"
    assert found["scaler"]["kind"] == "standard" and len(found["scaler"]["offset"]) == len(INPUTS)


def test_friend_scores_are_the_models_scores_entry_by_entry(project, tmp_path):
    write_events(tmp_path / "data.root", 3000, 7, shift=0.3)
    [friend] = scoring.apply(models(project), [(tmp_path / "data.root", None)], tmp_path / "out")
    scores = uproot.open(friend)["events"].arrays(library="np")
    read = uproot.open(tmp_path / "data.root")["events"].arrays(["var1", "var2", "var3", "jet_pt"], library="np")
    x = root_files.input_columns(read, INPUTS, "data.root")
    passes = (read["var3"] > -1) & np.isfinite(x).all(axis=1)
    assert len(scores["pass_selection"]) == 3000 and (scores["pass_selection"] == passes).all()
    assert 0 < passes.sum() < 3000  # both kinds present: entries outside the selection and without a second jet
    scaler = preprocess.Scaler.from_dict(
        bundle.read(project / stages.BUNDLE.format(dataset="toy", variant="bdt"))["scaler"]
    )
    for variant in ("bdt", "fisher", "mlp"):
        spec = bundle.read(project / stages.BUNDLE.format(dataset="toy", variant=variant))["model"]
        direct = methods.load(spec, project / stages.MODEL.format(dataset="toy", variant=variant)).predict(
            scaler.transform(x[passes])
        )[:, 0]
        np.testing.assert_allclose(scores[f"score_{variant}"][passes], direct, rtol=0, atol=1e-6)
        assert (scores[f"score_{variant}"][~passes] == scoring.SENTINEL).all()


def test_chunks_change_nothing(project, tmp_path, monkeypatch):
    write_events(tmp_path / "data.root", 1000, 8)
    [whole] = scoring.apply(models(project, ["bdt"]), [(tmp_path / "data.root", "events")], tmp_path / "whole")
    monkeypatch.setattr(scoring, "STEP", 77)
    [chunked] = scoring.apply(models(project, ["bdt"]), [(tmp_path / "data.root", "events")], tmp_path / "chunked")
    a, b = (uproot.open(p)["events"].arrays(library="np") for p in (whole, chunked))
    assert all((a[k] == b[k]).all() for k in a) and list(a) == list(b)


@pytest.mark.parametrize(
    ("make_input", "variant", "message"),
    [
        (
            lambda d: root_files.write_tree(d / "in.root", "events", {"var1": np.zeros(5, np.float32)}),
            "bdt",
            "in.root:events: cannot evaluate 'var2'",
        ),
        (lambda d: write_events(d / "in.root", 10, 0), "nope", "variant 'nope' of dataset 'toy' has no trained model"),
        (
            lambda d: root_files.write_tree(d / "in.root", "other", {"x": np.zeros(5)}),
            "bdt",
            "in.root: no tree 'events' (trees in the file: other)",
        ),
        (write_rntuple, "bdt", "in.root: 'events' is an RNTuple"),
        (
            lambda d: root_files.write_tree(
                d / "in.root",
                "events",
                {f"var{j}": np.zeros(5, np.float32) for j in (1, 2, 3)} | {"jet_pt": np.ones(5)},
            ),
            "bdt",
            "in.root:events: 'max(jet_pt)': branch 'jet_pt' has one value per event; use jet_pt",
        ),
        (
            lambda d: root_files.write_tree(
                d / "in.root",
                "events",
                {"var1": np.zeros(5, np.float32), "var2": np.zeros(5, np.float32), "jet_pt": [np.ones(2)] * 5},
            ),
            "bdt",
            "in.root:events: cannot evaluate 'var3 > -1' (not found: 'var3'",
        ),
    ],
    ids=[
        "missing branch",
        "variant never trained",
        "missing tree",
        "an RNTuple",
        "branch of another shape",
        "selection's branch missing",
    ],
)
def test_a_bad_input_is_one_line_and_writes_nothing(
    project, tmp_path, capsys, monkeypatch, make_input, variant, message
):
    make_input(tmp_path)
    monkeypatch.chdir(project)
    code = cli.main(
        [
            "apply",
            "--dataset",
            "toy",
            "--variant",
            variant,
            "--input",
            f"{tmp_path / 'in.root'}:events",
            "--output",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and message in err[0], err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_the_command_scores_a_glob_of_files(project, tmp_path, capsys, monkeypatch):
    for i in range(2):
        write_events(tmp_path / f"part{i}.root", 200, 10 + i)
    monkeypatch.chdir(project)
    code = cli.main(
        [
            "apply",
            "--dataset",
            "toy",
            "--variant",
            "fisher",
            "--input",
            str(tmp_path / "part*.root"),
            "--output",
            str(tmp_path / "out"),
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["part0.root", "part1.root"]
    assert uproot.open(tmp_path / "out" / "part1.root")["events"].num_entries == 200


def test_the_onnx_models_take_raw_inputs_and_give_the_native_scores(project, tmp_path):
    """Each variant's model.onnx (its scaler folded in) scores raw inputs as the trained model does, in ONNX
    Runtime: the BDT, Fisher's discriminant and the MLP."""
    import onnxruntime

    write_events(tmp_path / "data.root", 2000, 9, shift=0.4)
    read = uproot.open(tmp_path / "data.root")["events"].arrays(["var1", "var2", "var3", "jet_pt"], library="np")
    x = root_files.input_columns(read, INPUTS, "data.root")
    x = x[np.isfinite(x).all(axis=1)]
    for variant in ("bdt", "fisher", "mlp"):
        found = bundle.read(project / stages.BUNDLE.format(dataset="toy", variant=variant))
        assert found["onnx_file"] == "model/model.onnx"
        folder = project / stages.MODEL.format(dataset="toy", variant=variant)
        session = onnxruntime.InferenceSession(folder / "model.onnx", providers=["CPUExecutionProvider"])
        [scores] = session.run(["scores"], {"inputs": x.astype(np.float32)})
        native = methods.load(found["model"], folder).predict(preprocess.Scaler.from_dict(found["scaler"]).transform(x))
        np.testing.assert_allclose(scores, native, rtol=0, atol=1e-5, err_msg=variant)
        again = onnx_export.export(
            methods.load(found["model"], folder), preprocess.Scaler.from_dict(found["scaler"]), "binary", len(INPUTS)
        )
        assert again == (folder / "model.onnx").read_bytes(), f"{variant}: the same model, the same bytes"


def test_the_mlflow_model_of_every_method_takes_raw_inputs_and_returns_scores(project, tmp_path):
    """The pyfunc model a run logs (tracking/raw_model.py) for the BDT, Fisher and the MLP: raw columns in,
    scaled inside, the classifier's scores out (not 0/1 labels), named by the bundle's outputs."""
    import mlflow
    import pandas as pd

    from mlbasics.tracking import raw_model

    write_events(tmp_path / "data.root", 500, 11, shift=0.4)
    read = uproot.open(tmp_path / "data.root")["events"].arrays(["var1", "var2", "var3", "jet_pt"], library="np")
    x = root_files.input_columns(read, INPUTS, "data.root")
    x = x[np.isfinite(x).all(axis=1)]
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_experiment("raw-inputs")
    for variant in ("bdt", "fisher", "mlp"):
        found = bundle.read(project / stages.BUNDLE.format(dataset="toy", variant=variant))
        folder = project / stages.MODEL.format(dataset="toy", variant=variant)
        native = methods.load(found["model"], folder).predict(preprocess.Scaler.from_dict(found["scaler"]).transform(x))
        with mlflow.start_run() as run:
            raw_model.log(folder, project / stages.BUNDLE.format(dataset="toy", variant=variant), x[:3], native[:3])
        model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
        assert model.metadata.get_input_schema().input_names() == INPUTS
        predicted = model.predict(pd.DataFrame(x, columns=INPUTS))
        assert list(predicted.columns) == ["signal"]
        assert len(np.unique(predicted["signal"])) > 2, f"{variant}: scores, not labels"
        np.testing.assert_allclose(predicted.to_numpy(), native, rtol=0, atol=1e-6, err_msg=variant)
    mlflow.set_tracking_uri(None)


def test_a_model_trained_on_a_table_scores_tables_into_parquet(tmp_path):
    """The table loader's models: a CSV or Parquet table in, a Parquet file of the same score columns out,
    row-aligned with the input; a row with a missing cell gets the sentinel; a missing column is one line."""
    import pandas as pd

    from mlbasics.core import formats

    rng = np.random.default_rng(3)
    n = 600
    kind = np.where(rng.random(n) < 0.5, "signal", "background")
    frame = pd.DataFrame({"pt": rng.normal(np.where(kind == "signal", 1.0, 0.0)), "eta": rng.normal(size=n)})
    frame.assign(kind=kind).to_csv(tmp_path / "train.csv", index=False)
    x, y, names, columns, _, _ = formats.read_table(tmp_path / "train.csv", "kind")
    arrays, scaler = preprocess.preprocess(
        Dataset(x, y, names, feature_names=columns), split={"train": 0.6, "validation": 0.2, "test": 0.2}, seed=0
    )
    data, scaler_path = tmp_path / "data.npz", tmp_path / "scaler.json"
    preprocess.save(arrays, names, data, scaler, scaler_path, feature_names=columns)
    defaults = config.model_defaults()
    spec = {"method": "bdt", "task": "auto", "event_weights": defaults["event_weights"], "bdt": defaults["bdt"]}
    outputs = {k: tmp_path / v.format(dataset="t", variant="bdt") for k, v in stages.STAGES["train"].outputs.items()}
    train.run(TrainSettings("t", "bdt", 0, spec, loader="table"), {"data": data, "scaler": scaler_path}, outputs, 1)
    model = scoring.read_models("t", ["bdt"], str(tmp_path / stages.BUNDLE), str(tmp_path / stages.MODEL))
    new = frame.iloc[:50].copy()
    new.loc[3, "pt"] = np.nan
    new[["eta", "pt"]].to_csv(tmp_path / "new.csv", index=False)  # columns in another order: read by name
    new.to_parquet(tmp_path / "new_parquet.parquet")
    written = scoring.apply(model, [(tmp_path / "new.csv", None), (tmp_path / "new_parquet.parquet", None)], tmp_path)
    assert [p.name for p in written] == ["new.parquet", "new_parquet.parquet"]
    direct = methods.load(spec, tmp_path / stages.MODEL.format(dataset="t", variant="bdt")).predict(
        scaler.transform(new[["pt", "eta"]].to_numpy())
    )[:, 0]
    for path in written:
        scores = pd.read_parquet(path)
        assert list(scores.columns) == ["score_bdt", "pass_selection"] and len(scores) == 50
        assert not scores["pass_selection"][3] and scores["score_bdt"][3] == scoring.SENTINEL
        keep = np.arange(50) != 3
        np.testing.assert_allclose(scores["score_bdt"][keep], direct[keep], rtol=0, atol=1e-6)
    (tmp_path / "bad.csv").write_text("pt\n1.0\n")
    with pytest.raises(FormatError, match=r"^bad\.csv: column 'eta' not found \(columns: pt\)$"):
        scoring.apply(model, [(tmp_path / "bad.csv", None)], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_application_report_stacks_processes_weights_entries_and_counts_yields(project, tmp_path):
    """An apply set's report (stages/apply_report.py): each file's passing entries, weighted by the set's weight
    branch, the simulated files stacked by process (two files of one process summed), data as points; the
    yields per file as JSON."""
    import json

    from mlbasics.stages import apply_report

    for name, seed, shift in (("ttbar_a.root", 1, 0.8), ("ttbar_b.root", 2, 0.8), ("wjets.root", 3, 0.0)):
        write_events(tmp_path / name, 300, seed, shift)
    write_events(tmp_path / "data.root", 400, 4, 0.3)
    files = [str(tmp_path / n) for n in ("ttbar_a.root", "ttbar_b.root", "wjets.root", "data.root")]
    scoring.apply(models(project, ["bdt", "fisher"]), [(Path(f), "events") for f in files], tmp_path / "friends")
    spec = {
        "files": files,
        "tree": "events",
        "weight": "var1 * 0 + 2",  # an expression of the input's branches: every entry counts twice
        "processes": {"ttbar_a.root": "ttbar", "ttbar_b.root": "ttbar", "wjets.root": "wjets"},
        "data": ["data.root"],
    }
    outputs = {"figure": tmp_path / "report" / "response.png", "yields": tmp_path / "report" / "yields.json"}
    apply_report.run("mc", spec, files, [tmp_path / "friends" / Path(f).name for f in files], outputs)
    yields = json.loads(outputs["yields"].read_text())
    for name in ("ttbar_a.root", "wjets.root", "data.root"):
        passes = uproot.open(tmp_path / "friends" / name)["events"]["pass_selection"].array(library="np")
        assert yields[name]["passing"] == passes.sum() and yields[name]["weighted"] == 2 * passes.sum()
    assert yields["ttbar_b.root"]["process"] == "ttbar" and yields["data.root"]["process"] == "data"
    assert outputs["figure"].stat().st_size > 10_000


def test_an_apply_sets_pinned_files_are_fetched_over_http_and_verified(tmp_path, capsys, monkeypatch):
    """`python -m mlbasics apply-fetch`: a set's files to download come over real HTTP into
    <cache_dir>/applied/<set>/, verified by sha256, with a receipt; a wrong hash is one error naming the file and
    the URL, and no receipt."""
    import hashlib
    import json

    import yaml

    from mlbasics.core.files import sha256_file
    from tests import loopback
    from tests.helpers import load_default_params

    served = tmp_path / "served"
    served.mkdir()
    write_events(served / "data.root", 50, 1)
    good = {"name": "data.root", "sha256": sha256_file(served / "data.root")}
    monkeypatch.chdir(tmp_path)
    params = load_default_params()
    params["download"]["cache_dir"] = "cache"
    with loopback.serve(served) as server:
        entry = {**good, "url": f"{server.url}/data.root"}
        params["apply"]["hep_mc"]["files"] = [entry]
        params["apply"]["hep_mc"].pop("processes")
        Path("params.yaml").write_text(yaml.safe_dump(params))
        assert cli.main(["apply-fetch", "--set", "hep_mc"]) == 0, capsys.readouterr().err
        receipt = json.loads(Path("data/applied/hep_mc.download.json").read_text())
        assert receipt["files"] == [{**good, "path": "cache/applied/hep_mc/data.root"}]
        assert sha256_file("cache/applied/hep_mc/data.root") == good["sha256"]
        params["apply"]["hep_mc"]["files"] = [{**entry, "sha256": hashlib.sha256(b"other").hexdigest()}]
        params["download"]["retries"] = 0
        Path("params.yaml").write_text(yaml.safe_dump(params))
        Path("data/applied/hep_mc.download.json").unlink()
        capsys.readouterr()
        assert cli.main(["apply-fetch", "--set", "hep_mc"]) == 1
    err = capsys.readouterr().err
    assert "apply set 'hep_mc': 1 of 1 files missing" in err and f"{server.url}/data.root" in err and "sha256" in err
    assert not Path("data/applied/hep_mc.download.json").exists()
