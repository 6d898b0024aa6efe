"""The reference methods behind the method seam (methods/reference/, model_files.py): every method fits, saves,
loads and predicts as the stages ask; the BDT is scikit-learn's estimator exactly, its history is scikit-learn's
own per-iteration loss; event weights change what it learns in the expected direction; model files are the same
bytes for the same fit and a tampered one is refused before anything in it runs."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from mlbasics.core.errors import ParamsError
from mlbasics.core.tasks import loss_and_metric
from mlbasics.data import loaders as datasets
from mlbasics.data import preprocess
from mlbasics.evaluation import response
from mlbasics.methods import registry as method_rules
from mlbasics.methods import training as methods
from mlbasics.methods.model_files import ModelFileError, canonical_skops
from mlbasics.methods.training import REFERENCE_METHODS
from mlbasics.params import config
from tests.helpers import ROOT

SPLIT = {"train": 0.6, "validation": 0.2, "test": 0.2}


def spec_for(method: str, **block) -> dict:
    """A model spec as config.model_spec resolves it: the schema's defaults for the method's block."""
    defaults = config.model_defaults()
    return method_rules.own_keys({**defaults, "method": method, method: {**defaults[method], **block}}, method)


@pytest.fixture(scope="module")
def hep_arrays(tmp_path_factory) -> dict:
    ds = datasets.make("hep_toy", {"n_events": 1500, "seed": 3}, folder=str(tmp_path_factory.mktemp("hep")))
    arrays, _ = preprocess.preprocess(ds, split=SPLIT, seed=0, scaler="standard")
    return arrays


@pytest.fixture(scope="module")
def iris_arrays() -> dict:
    arrays, _ = preprocess.preprocess(datasets.make("iris"), split=SPLIT, seed=0, scaler="standard")
    return arrays


def test_the_registry_knows_every_method_the_schema_offers():
    schema = config.load_schema()["$defs"]["model"]["properties"]
    assert sorted(schema["method"]["enum"]) == sorted(method_rules.METHODS)
    assert set(REFERENCE_METHODS) == set(method_rules.REFERENCE) == {m for m in method_rules.REFERENCE if m in schema}
    assert set(method_rules.TAKES) == set(method_rules.METHODS)


@pytest.mark.parametrize("name", method_rules.REFERENCE)
@pytest.mark.parametrize("data", ["hep", "iris"])
def test_each_reference_method_fits_saves_loads_and_predicts_through_the_seam(
    tmp_path, name, data, hep_arrays, iris_arrays
):
    arrays, task, n_classes = (hep_arrays, "binary", 2) if data == "hep" else (iris_arrays, "multiclass", 3)
    spec = spec_for(name)
    if name in ("bdt", "random_forest"):
        spec["event_weights"] = {"negative": "ignore", "balance_classes": False}
        spec[name] = {**spec[name], **({"max_iter": 30} if name == "bdt" else {"n_estimators": 30})}
    method = methods.create(spec)
    assert method.name == name and method.flavour == "sklearn"
    rows, stats = method.fit(arrays, task, n_classes, seed=0)
    assert all(len(row) == 5 and np.isfinite(row[1:]).all() for row in rows)
    assert [r[0] for r in rows] == list(range(1, (30 if name == "bdt" else 1) + 1))
    assert stats["epochs_run"] == len(rows) and stats["train_wall_s"] >= 0
    method.save(tmp_path / "model")
    assert [p.name for p in (tmp_path / "model").iterdir()] == ["model.skops"]
    again = methods.load(spec, tmp_path / "model")
    x = arrays["x_test"]
    scores = again.predict(x)
    assert scores.tobytes() == method.predict(x).tobytes() and scores.dtype == np.float32
    assert scores.shape == ((len(x), 1) if task == "binary" else (len(x), 3))
    assert again.input_weights() is None
    # its ONNX model, the scaler folded in, gives these scores from the raw inputs in ONNX Runtime
    import onnxruntime

    from mlbasics.methods import onnx_export

    scaler = preprocess.fit_scaler("standard", arrays["x_train"] * 3.0 + 1.0)  # raw = scaled inputs made raw
    raw = (x.astype(np.float64) * scaler.scale + scaler.offset).astype(np.float32)
    session = onnxruntime.InferenceSession(onnx_export.export(again, scaler, task, x.shape[1]))
    [onnx_scores] = session.run(["scores"], {"inputs": raw})
    np.testing.assert_allclose(onnx_scores, again.predict(scaler.transform(raw)), rtol=0, atol=1e-5, err_msg=name)
    found = again.importance(x, arrays["y_test"], arrays.get("w_test"), task, 0)
    if name in ("bdt", "random_forest", "fisher"):
        assert len(found[1]) == x.shape[1] and found[0]
    else:
        assert found is None


def test_regression_methods_and_the_ones_that_only_classify(tmp_path):
    ds = datasets.make("regression_toy", {"n_samples": 400, "seed": 1})
    arrays, _ = preprocess.preprocess(ds, split=SPLIT, seed=0, scaler="standard")
    for name in ("bdt", "random_forest", "knn"):
        rows, _ = methods.create(spec_for(name)).fit(arrays, "regression", 0, seed=0)
        assert rows[-1][1] < rows[0][1] or len(rows) == 1  # MSE falls while boosting
    with pytest.raises(ParamsError, match="method fisher: separates classes; the data is a regression"):
        methods.create(spec_for("fisher")).fit(arrays, "regression", 0, seed=0)


def test_the_bdt_is_scikit_learns_estimator_and_its_history_is_scikit_learns_loss(hep_arrays):
    """The same test AUC (to 1e-9) as the estimator fitted directly on the same split and weights, with the
    defaults' TMVA-like settings spelled out (depth 2, leaves of 5 % of the events, 20 bins); the history's losses
    are the weighted log loss of the staged predictions; its accuracy is the staged predictions'."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import log_loss

    spec = spec_for("bdt", max_iter=40, early_stopping=None)
    spec["event_weights"] = {"negative": "ignore", "balance_classes": False}
    method = methods.create(spec)
    rows, _ = method.fit(hep_arrays, "binary", 2, seed=5)
    a = hep_arrays
    w, w_val = (np.where(a[k] < 0, 0.0, a[k]) for k in ("w_train", "w_val"))
    # ignored negative weights, scaled to mean 1, in float32: as training hands them to the estimator
    w, w_val = ((v * (len(v) / v.sum())).astype(np.float32) for v in (w, w_val))
    leaf = round(0.05 * len(a["y_train"]))
    direct = HistGradientBoostingClassifier(
        max_iter=40, max_depth=2, max_leaf_nodes=None, min_samples_leaf=leaf, max_bins=20, random_state=5
    ).fit(a["x_train"], a["y_train"], sample_weight=w)
    ours = response.roc(a["y_test"], method.predict(a["x_test"])[:, 0], a["w_test"])[2]
    theirs = response.roc(a["y_test"], direct.predict_proba(a["x_test"])[:, 1], a["w_test"])[2]
    assert abs(ours - theirs) < 1e-9
    for i, (train, val) in enumerate(
        zip(direct.staged_predict_proba(a["x_train"]), direct.staged_predict_proba(a["x_val"]), strict=True)
    ):
        assert rows[i][1] == pytest.approx(log_loss(a["y_train"], train, sample_weight=w), rel=1e-6)
        assert rows[i][3] == pytest.approx(log_loss(a["y_val"], val, sample_weight=w_val), rel=1e-6)
        assert rows[i][4] == pytest.approx(np.average(val.argmax(1) == a["y_val"], weights=w_val), rel=1e-9)


def test_event_weights_change_what_the_bdt_learns_in_the_expected_direction(hep_arrays):
    """Weighting the signal events 20x (a larger cross section) makes the BDT call more events signal: more of the
    test signal is selected at the response's 0.5 cut, and unit weights give the unweighted model exactly."""
    a = {k: v for k, v in hep_arrays.items() if not k.startswith("w_")}
    spec = {**spec_for("bdt", max_iter=30), "event_weights": {"negative": "ignore", "balance_classes": False}}

    def fitted(weights):
        method = methods.create(spec)
        method.fit({**a, **weights}, "binary", 2, seed=0)
        return method.predict(a["x_test"])[:, 0]

    plain = fitted({})
    unit = fitted({f"w_{p}": np.ones(len(a[f"y_{p}"])) for p in ("train", "val", "test")})
    assert unit.tobytes() == plain.tobytes()
    heavy = fitted({f"w_{p}": np.where(a[f"y_{p}"] == 1, 20.0, 1.0) for p in ("train", "val", "test")})
    signal = a["y_test"] == 1
    assert (heavy[signal] > 0.5).mean() > (plain[signal] > 0.5).mean() + 0.05
    assert (heavy[~signal] > 0.5).mean() > (plain[~signal] > 0.5).mean()


def test_a_random_forest_refuses_negative_weights_naming_the_option(hep_arrays):
    with pytest.raises(ParamsError, match=r"set event_weights\.negative: ignore"):
        spec = spec_for("random_forest", n_estimators=5)
        methods.create({**spec, "event_weights": {"negative": "keep", "balance_classes": True}}).fit(
            hep_arrays, "binary", 2, seed=0
        )


@pytest.mark.engine  # fits in two fresh processes
@pytest.mark.parametrize("name", ["bdt", "random_forest"])
def test_the_same_fit_gives_the_same_model_bytes_in_another_process(tmp_path, iris_arrays, name):
    """skops names members by object id, and a forest's tree nodes carry padding bytes from memory; the canonical
    file depends on neither."""
    script = (
        "import sys, numpy as np\nfrom mlbasics.methods import training as methods\n"
        "from tests.test_reference_methods import spec_for\narrays = dict(np.load(sys.argv[1]))\n"
        f"m = methods.create(spec_for('{name}'))\n"
        "m.fit(arrays, 'multiclass', 3, seed=0)\nm.save(sys.argv[2])\n"
    )
    np.savez(tmp_path / "arrays.npz", **iris_arrays)
    for out in ("a", "b"):
        subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / "arrays.npz"), str(tmp_path / out)],
            check=True,
            cwd=ROOT,
        )
    assert (tmp_path / "a/model.skops").read_bytes() == (tmp_path / "b/model.skops").read_bytes()


def test_canonical_files_keep_every_member_and_load_as_skops_wrote_them(iris_arrays):
    import skops.io

    method = methods.create(spec_for("knn"))
    method.fit(iris_arrays, "multiclass", 3, seed=0)
    raw = skops.io.dumps(method.estimator)
    canonical = canonical_skops(raw)
    assert len(zipfile.ZipFile(io.BytesIO(canonical)).namelist()) == len(zipfile.ZipFile(io.BytesIO(raw)).namelist())
    again = skops.io.loads(canonical, trusted=list(method_rules.trusted_types()))
    x = iris_arrays["x_test"]
    assert (again.predict_proba(x) == method.estimator.predict_proba(x)).all()


def test_a_tampered_model_file_is_refused_before_anything_in_it_runs(tmp_path, iris_arrays):
    spec = spec_for("fisher")
    method = methods.create(spec)
    method.fit(iris_arrays, "multiclass", 3, seed=0)
    method.save(tmp_path / "model")
    path = tmp_path / "model" / "model.skops"
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    schema = json.loads(members["schema.json"])
    schema["content"]["content"]["priors"] = {
        "__class__": "system",
        "__module__": "os",
        "__loader__": "TypeNode",
        "__id__": 999,
    }
    members["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    with pytest.raises(ModelFileError, match=r"refused - it holds types .*os\.system"):
        methods.load(spec, tmp_path / "model")
    path.write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(ModelFileError, match="not a model file this project wrote"):
        methods.load(spec, tmp_path / "model")


def test_the_trusted_types_are_exactly_what_the_methods_are_made_of(hep_arrays, iris_arrays):
    import skops.io

    seen = set()
    for name in method_rules.REFERENCE:
        for arrays, task, k in ((hep_arrays, "binary", 2), (iris_arrays, "multiclass", 3)):
            spec = spec_for(name)
            spec["event_weights"] = {"negative": "ignore", "balance_classes": False}
            method = methods.create(spec)
            method.fit(arrays, task, k, seed=0)
            types = set(skops.io.get_untrusted_types(data=skops.io.dumps(method.estimator)))
            assert types <= set(method.trusted), (name, types - set(method.trusted))
            seen |= types
    assert seen <= set(method_rules.trusted_types())
    assert {"sklearn.tree._tree.Tree", "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"} <= seen


def test_loss_and_metric_are_the_mlps_definitions():
    y = np.array([0, 1, 1, 0])
    p = np.array([[0.1], [0.8], [0.4], [0.0]])
    loss, accuracy = loss_and_metric("binary", y, p, None)
    assert accuracy == 0.75
    assert loss == pytest.approx(-np.mean(np.log([0.9, 0.8, 0.4, 1 - 1e-7])))
    mse, mae = loss_and_metric("regression", np.array([1.0, 2.0]), np.array([2.0, 2.0]), np.array([1.0, 3.0]))
    assert (mse, mae) == (0.25, 0.25)


def test_on_large_samples_the_bdt_history_is_computed_on_a_sample_of_each_split_and_the_trees_are_unchanged():
    """Above boosted_trees.SCORED events per split the per-iteration numbers come from SCORED events drawn once:
    the trees stay scikit-learn's exactly, and the history's losses stay close to the whole splits' ones."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import log_loss

    from mlbasics.methods.reference.bdt import SCORED

    rng = np.random.default_rng(0)
    arrays = {}
    for part, n in (("train", 3 * SCORED), ("val", 2 * SCORED), ("test", 2000)):
        x = rng.normal(size=(n, 4)).astype(np.float32)
        arrays[f"x_{part}"], arrays[f"y_{part}"] = x, (x[:, 0] + x[:, 1] * x[:, 2] + rng.normal(size=n) > 0) * 1
    method = methods.create(spec_for("bdt", max_iter=20, early_stopping=None, min_samples_leaf=20, max_bins=255))
    rows, _ = method.fit(arrays, "binary", 2, seed=1)
    direct = HistGradientBoostingClassifier(
        max_iter=20, max_depth=2, max_leaf_nodes=None, early_stopping=False, random_state=1
    ).fit(arrays["x_train"], arrays["y_train"])
    x_test = arrays["x_test"]
    assert np.abs(method.predict(x_test)[:, 0] - direct.predict_proba(x_test)[:, 1]).max() < 1e-6
    for part, column in (("train", 1), ("val", 3)):
        whole = log_loss(arrays[f"y_{part}"], direct.predict_proba(arrays[f"x_{part}"]))
        assert rows[-1][column] == pytest.approx(whole, rel=0.03) and rows[-1][column] != whole


def test_permutation_importance_scores_a_bounded_subsample_of_a_large_test_sample(hep_arrays, monkeypatch):
    """Up to IMPORTANCE_EVENTS test events every one is scored (the numbers as before); beyond, each repeat scores
    a seeded subsample of that many, so the cost stays bounded - the same seed, the same numbers."""
    from mlbasics.methods.reference import base

    method = methods.create(spec_for("random_forest", n_estimators=10))
    method.fit(hep_arrays, "binary", 2, seed=0)
    x, y, w = hep_arrays["x_test"], hep_arrays["y_test"], hep_arrays["w_test"]
    whole = method.importance(x, y, w, "binary", 0)
    monkeypatch.setattr(base, "IMPORTANCE_EVENTS", len(y) // 4)
    part = method.importance(x, y, w, "binary", 0)
    assert part[0] == whole[0] and not np.array_equal(part[1], whole[1]) and np.isfinite(part[1]).all()
    assert np.array_equal(method.importance(x, y, w, "binary", 0)[1], part[1])


def test_the_bdt_ranks_its_inputs_as_tmva_does_from_its_own_trees(capsys, monkeypatch):
    """TMVA's BDT ranking - per tree (gain x events)^2 per split, normalised, summed, normalised - read from the
    fitted trees without predicting anything: the inputs in the order of their weight in the truth, summing to 1,
    in the order permutation importance finds. Where the trees' nodes cannot be read it says so and permutes."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(6000, 4)).astype(np.float32)
    y = ((2 * x[:, 0] + x[:, 1] + 0.3 * x[:, 2] + 0.5 * rng.normal(size=6000)) > 0).astype(np.int64)
    arrays = {"x_train": x[:4000], "y_train": y[:4000], "x_val": x[4000:5000], "y_val": y[4000:5000]}
    method = methods.create(spec_for("bdt"))
    method.fit(arrays, "binary", 2, seed=0)
    what, values, errors = method.importance(x[5000:], y[5000:], None, "binary", 0)
    assert what == "split gain (TMVA's BDT ranking)" and errors is None
    assert list(np.argsort(-values)) == [0, 1, 2, 3] and values.sum() == pytest.approx(1.0)
    from mlbasics.methods.reference.base import permutation_importance

    permuted = permutation_importance(method, x[5000:], y[5000:], None, "binary", 0)[1]
    assert list(np.argsort(-permuted)[:3]) == [0, 1, 2]
    from sklearn.ensemble import HistGradientBoostingClassifier

    from mlbasics.methods.reference import bdt

    assert bdt.split_importance(HistGradientBoostingClassifier(), 4) is None  # no trees where they are read
    monkeypatch.setattr(bdt, "split_importance", lambda estimator, n: None)  # a scikit-learn that moved them
    assert method.importance(x[5000:], y[5000:], None, "binary", 0)[0].startswith("permutation")
    assert "bdt: the fitted trees' nodes are not readable; importance by permutation instead" in capsys.readouterr().out


def _two_classes(rng: np.random.Generator, n: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    y = (rng.random(n) < 0.3).astype(np.int64)
    x = rng.multivariate_normal([0, 0, 0], [[1, 0.5, 0], [0.5, 1, 0.2], [0, 0.2, 1]], n)
    return x + y[:, None] * [0.8, 0.2, -0.5], y


def test_fisher_with_event_weights_is_tmvas_formula():
    """TMVA's MethodFisher by hand, event by event: W = sum_i w_i (x_i - m_class)(x_i - m_class)^T / sum_i w_i with
    weighted class means, F = W^-1 (m_S - m_B). The fitted coefficients are F up to a positive factor (the same event
    order, the same ROC), the weights count (an event of weight 2 is two events), and without weights it is
    scikit-learn's LinearDiscriminantAnalysis exactly."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    rng = np.random.default_rng(8)
    x, y = _two_classes(rng)
    w = rng.uniform(0.2, 3.0, len(y)) * np.where(y == 1, 0.05, 1.0)  # a small signal cross section
    spec = spec_for("fisher")
    spec["event_weights"] = {"negative": "keep", "balance_classes": False}
    method = methods.create(spec)
    arrays = {"x_train": x, "y_train": y, "w_train": w, "x_val": x[:10], "y_val": y[:10], "w_val": w[:10]}
    method.fit(arrays, "binary", 2, seed=0)

    means = {k: (w[y == k, None] * x[y == k]).sum(0) / w[y == k].sum() for k in (0, 1)}
    within = np.zeros((3, 3))
    for xi, yi, wi in zip(x, y, w, strict=True):
        d = xi - means[yi]
        within += wi * np.outer(d, d)
    tmva = np.linalg.solve(within / w.sum(), means[1] - means[0])
    ratio = method.estimator.coef_[0] / tmva
    assert ratio.min() > 0 and np.ptp(ratio) < 1e-6 * ratio.mean()  # weights train as float32
    # the unweighted fit points elsewhere: the weights are used
    plain = LinearDiscriminantAnalysis().fit(x, y)
    cos = plain.coef_[0] @ tmva / np.linalg.norm(plain.coef_[0]) / np.linalg.norm(tmva)
    assert cos < 0.9999
    # a weight of 2 is the event twice
    twice = np.concatenate([x, x[w > 2]]), np.concatenate([y, y[w > 2]])
    halved = np.concatenate([np.where(w > 2, w / 2, w), w[w > 2] / 2])
    again = methods.create(spec)
    again.fit({**arrays, "x_train": twice[0], "y_train": twice[1], "w_train": halved}, "binary", 2, seed=0)
    np.testing.assert_allclose(again.estimator.coef_, method.estimator.coef_, rtol=1e-6)
    np.testing.assert_allclose(again.estimator.intercept_, method.estimator.intercept_, rtol=1e-6)
    # unweighted: scikit-learn's own fit, probabilities and all
    unweighted = methods.create(spec)
    unweighted.fit({k: v for k, v in arrays.items() if not k.startswith("w_")}, "binary", 2, seed=0)
    np.testing.assert_allclose(unweighted.estimator.predict_proba(x), plain.predict_proba(x), atol=1e-12)


def test_the_likelihood_multiplies_weighted_histograms_of_the_inputs():
    """TMVA's projective likelihood with histogram densities, by hand: per input the bin of each event (edges from
    the fit), per class its weight in that bin plus the smoothing over its weight plus the smoothing times the
    bins, the product over the inputs times the class's weight share; the response is the signal's share. A
    bimodal signal over a background of the same mean and variance - the same Gaussian - is separated, where
    GaussianNB sees next to nothing."""
    rng = np.random.default_rng(4)
    n = 6000
    y = (rng.random(n) < 0.5).astype(np.int64)
    bimodal = np.where(rng.random(n) < 0.5, -2.0, 2.0) + 0.5 * rng.normal(size=n)
    x = np.column_stack([np.where(y == 1, bimodal, np.sqrt(4.25) * rng.normal(size=n)), rng.normal(size=n)])
    w = rng.uniform(0.5, 2.0, n)
    spec = spec_for("likelihood", bins=30, smoothing=0.5)
    spec["event_weights"] = {"negative": "keep", "balance_classes": False}
    arrays = {"x_train": x, "y_train": y, "w_train": w, "x_val": x[:100], "y_val": y[:100], "w_val": w[:100]}
    method = methods.create(spec)
    method.fit(arrays, "binary", 2, seed=0)
    w_fit = w * n / w.sum()  # the training weights, scaled to mean 1
    edges = method.estimator.named_steps["bins"].bin_edges_
    product = np.ones((n, 2))
    for j in range(2):
        inner = edges[j][1:-1]
        bins = np.searchsorted(inner, x[:, j], side="right")
        for k in (0, 1):
            counts = np.bincount(bins[y == k], weights=w_fit[y == k], minlength=len(inner) + 1)
            product[:, k] *= (counts[bins] + 0.5) / (counts.sum() + 0.5 * (len(inner) + 1))
    share = np.array([w_fit[y == k].sum() for k in (0, 1)])
    expected = product[:, 1] * share[1] / (product @ share)
    np.testing.assert_allclose(method.predict(x)[:, 0], expected, rtol=2e-5)
    gaussian = methods.create({**spec, "likelihood": {**spec["likelihood"], "pdf": "gaussian"}})
    gaussian.fit(arrays, "binary", 2, seed=0)
    auc = {m: response.roc(y, m.predict(x)[:, 0])[2] for m in (method, gaussian)}
    assert auc[gaussian] < 0.6 < 0.75 < auc[method]
    # negative weights are refused by name where training would keep them
    with pytest.raises(ParamsError, match=r"method likelihood: 1 training events have negative weights"):
        methods.create(spec).fit({**arrays, "w_train": np.where(np.arange(n) == 7, -1.0, w)}, "binary", 2, seed=0)
