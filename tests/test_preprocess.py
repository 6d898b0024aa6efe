import json

import numpy as np
import pytest

from mlbasics.core import tasks
from mlbasics.data import arrays as data
from mlbasics.data import loaders as datasets
from mlbasics.data import preprocess
from mlbasics.data.loaders import embedded

SPLIT = {"train": 0.6, "validation": 0.2, "test": 0.2}


def test_split_is_stratified_disjoint_seeded():
    y = np.repeat(np.arange(3), 100)
    parts = preprocess.split_indices(y, SPLIT, seed=1)
    assert [len(parts[k]) for k in ("train", "val", "test")] == [180, 60, 60]
    everything = np.concatenate(list(parts.values()))
    assert len(set(everything.tolist())) == 300
    for k in parts:
        assert np.bincount(y[parts[k]]).tolist() == [len(parts[k]) // 3] * 3
    again = preprocess.split_indices(y, SPLIT, seed=1)
    assert all(np.array_equal(parts[k], again[k]) for k in parts)
    other = preprocess.split_indices(y, SPLIT, seed=2)
    assert not np.array_equal(parts["test"], other["test"])


@pytest.mark.parametrize("kind", preprocess.SCALERS)
def test_scaler_is_fitted_on_train_only(kind):
    ds = embedded.gaussians(n_samples=1000, seed=0)
    shifted = data.Dataset(ds.x * 3 + 5, ds.y, ds.class_names)
    arrays, scaler = preprocess.preprocess(shifted, split=SPLIT, seed=0, scaler=kind)
    parts = preprocess.split_indices(shifted.y, SPLIT, 0)
    x_train = shifted.x[parts["train"]]
    if kind == "standard":
        np.testing.assert_allclose(scaler.offset, x_train.mean(axis=0), rtol=1e-5)
        np.testing.assert_allclose(arrays["x_train"].mean(axis=0), 0, atol=1e-5)
        assert np.abs(arrays["x_test"].mean(axis=0)).max() > 1e-4  # test data did not take part
    if kind == "minmax":
        assert arrays["x_train"].min() == 0 and arrays["x_train"].max() == pytest.approx(1)
    if kind == "robust":
        np.testing.assert_allclose(np.median(arrays["x_train"], axis=0), 0, atol=1e-5)
    if kind == "none":
        np.testing.assert_array_equal(arrays["x_train"], x_train)
    if kind == "pca_whiten":  # decorrelated, unit variance on the training split
        np.testing.assert_allclose(np.cov(arrays["x_train"], rowvar=False), np.eye(2), atol=1e-4)
    np.testing.assert_allclose(scaler.transform(shifted.x[parts["test"]]), arrays["x_test"], rtol=1e-5)


@pytest.mark.parametrize("kind", preprocess.SCALERS)
def test_scalers_never_see_validation_or_test_data(kind):
    """Wreck the validation and test rows: the fitted scaler (and the training arrays) must not change."""
    ds = embedded.gaussians(n_samples=600, seed=0)
    x = np.abs(ds.x) * 4  # non-negative, as log_standard expects
    parts = preprocess.split_indices(ds.y, SPLIT, 0)
    wrecked = x.copy()
    wrecked[parts["val"]] = 1e6
    wrecked[parts["test"]] = -1e6
    _, clean = preprocess.preprocess(data.Dataset(x, ds.y, ds.class_names), split=SPLIT, seed=0, scaler=kind)
    arrays, dirty = preprocess.preprocess(data.Dataset(wrecked, ds.y, ds.class_names), split=SPLIT, seed=0, scaler=kind)
    assert clean.to_dict() == dirty.to_dict()
    np.testing.assert_array_equal(arrays["x_train"], clean.transform(x[parts["train"]]))


def test_log_standard_tames_data_piling_up_at_zero():
    rng = np.random.default_rng(0)
    x = rng.exponential(1.0, size=(5000, 1)) ** 3  # heavy tail, most values near 0
    scaler = preprocess.fit_scaler("log_standard", x)
    z = scaler.transform(x)[:, 0]
    plain = preprocess.fit_scaler("standard", x).transform(x)[:, 0]
    assert abs(z.mean()) < 1e-6 and z.std() == pytest.approx(1, rel=1e-4)
    assert z.max() < plain.max() / 3, "the log pulls in the tail"
    assert np.isfinite(scaler.transform(x - 10)).all(), "values below the training minimum stay finite"


def test_pca_whitening_drops_flat_directions():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(500, 2))
    x = np.column_stack([a[:, 0], a[:, 0] + a[:, 1], np.zeros(500)])  # correlated, plus a constant pixel
    scaler = preprocess.fit_scaler("pca_whiten", x)
    z = scaler.transform(x)
    assert z.shape == (500, 2)
    np.testing.assert_allclose(np.cov(z, rowvar=False), np.eye(2), atol=1e-6)


def test_constant_feature_does_not_divide_by_zero():
    x = np.zeros((100, 3), np.float32)
    x[:, 0] = np.arange(100)
    for kind in preprocess.SCALERS:
        scaler = preprocess.fit_scaler(kind, x)
        assert np.isfinite(scaler.transform(x)).all()


def test_pixel_scale_and_flatten():
    digits = datasets.make("digits")
    arrays, _ = preprocess.preprocess(digits, split=SPLIT, seed=0, pixel_scale=16, flatten=True, scaler="none")
    assert arrays["x_train"].shape[1] == 64 and arrays["x_train"].dtype == np.float32
    assert arrays["x_train"].max() == 1.0


def test_images_without_flatten_are_refused():
    with pytest.raises(ValueError, match="flatten"):
        preprocess.preprocess(datasets.make("digits"), split=SPLIT, seed=0, flatten=False)


def test_save_load_roundtrip(tmp_path):
    arrays, scaler = preprocess.preprocess(datasets.make("iris"), split=SPLIT, seed=0)
    preprocess.save(arrays, ["a", "b", "c"], tmp_path / "d.npz", scaler, tmp_path / "s.json")
    split = preprocess.load(tmp_path / "d.npz")
    back, names = split.arrays, split.class_names
    assert names == ["a", "b", "c"] and set(back) == set(arrays) and split.task == "multiclass"
    assert tasks.read_task(tmp_path / "d.npz") == "multiclass" and split.image_shape == ()
    np.testing.assert_array_equal(back["x_val"], arrays["x_val"])
    restored = preprocess.Scaler.from_dict(json.loads((tmp_path / "s.json").read_text()))
    np.testing.assert_allclose(restored.offset, scaler.offset)


@pytest.mark.parametrize("kind", preprocess.SCALERS)
def test_scaling_in_chunks_matches_scaling_at_once(kind, monkeypatch):
    """The scaler is fitted and applied preprocess.ROWS rows at a time (bounded memory on large samples): one
    chunk is exactly the whole-sample fit (scikit-learn's fit is one partial_fit), more agree to rounding, and the
    transform of any row is the same bits whatever the chunking."""
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    rng = np.random.default_rng(4)
    x = (rng.lognormal(size=(1000, 3)) * [1.0, 50.0, 0.01]).astype(np.float32)
    rows = np.sort(rng.permutation(1000)[:600])
    once = preprocess.fit_scaler(kind, x, rows)
    if kind == "standard":
        reference = StandardScaler().fit(x[rows].astype(np.float64))
        assert once.offset.tobytes() == reference.mean_.tobytes() and once.scale.tobytes() == reference.scale_.tobytes()
    if kind == "minmax":
        assert once.offset.tobytes() == MinMaxScaler().fit(x[rows].astype(np.float64)).data_min_.tobytes()
    monkeypatch.setattr(preprocess, "ROWS", 64)
    chunked = preprocess.fit_scaler(kind, x, rows)
    np.testing.assert_allclose(chunked.offset, once.offset, rtol=1e-12)
    np.testing.assert_allclose(chunked.scale, once.scale, rtol=1e-12)
    scaled = once.transform(x, rows)
    monkeypatch.setattr(preprocess, "ROWS", 10**9)
    assert scaled.dtype == np.float32 and scaled.tobytes() == once.transform(x[rows]).tobytes()
