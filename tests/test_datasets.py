import numpy as np
import pytest

from mlbasics import datasets


def test_gaussians_is_the_lecture_toy():
    ds = datasets.gaussians(n_samples=20000, seed=3)
    assert ds.x.shape == (20000, 2) and ds.x.dtype == np.float32
    assert np.bincount(ds.y).tolist() == [10000, 10000]
    np.testing.assert_allclose(ds.x[ds.y == 0].mean(axis=0), [-1, -1], atol=0.05)
    np.testing.assert_allclose(ds.x[ds.y == 1].mean(axis=0), [1, 1], atol=0.05)
    np.testing.assert_allclose(ds.x[ds.y == 1].std(axis=0), [1, 1], atol=0.05)
    again = datasets.gaussians(n_samples=20000, seed=3)
    np.testing.assert_array_equal(ds.x, again.x)
    assert not np.array_equal(ds.x, datasets.gaussians(n_samples=20000, seed=4).x)


def test_iris_and_digits_from_scikit_learn():
    iris = datasets.make("iris", {})
    assert iris.x.shape == (150, 4) and iris.class_names == ["setosa", "versicolor", "virginica"]
    digits = datasets.make("digits", {})
    assert digits.x.shape == (1797, 8, 8) and digits.x.max() == 16
    assert digits.class_names == [str(i) for i in range(10)]


def test_mnist5k_is_real_shuffled_and_balanced():
    ds = datasets.mnist5k(seed=0)
    assert ds.x.shape == (5000, 28, 28) and ds.x.dtype == np.uint8
    assert np.bincount(ds.y).tolist() == [500] * 10
    assert len(set(ds.y[:50].tolist())) > 5, "the shipped file is sorted by label; the loader must shuffle"
    assert 30 < ds.x.mean() < 40  # MNIST's mean pixel is about 33


def test_unknown_loader():
    with pytest.raises(ValueError, match="unknown dataset loader 'nope'"):
        datasets.make("nope")


def test_save_and_load_roundtrip_without_pickle(tmp_path):
    ds = datasets.make("iris")
    path = tmp_path / "raw" / "iris.npz"
    datasets.save(ds, path)
    back = datasets.load(path)
    np.testing.assert_array_equal(back.x, ds.x)
    np.testing.assert_array_equal(back.y, ds.y)
    assert back.class_names == ds.class_names
    with np.load(path, allow_pickle=False) as npz:  # loads with pickle disabled
        assert set(npz.files) == {"x", "y", "class_names"}
    assert [p.name for p in path.parent.iterdir()] == ["iris.npz"], "no temporary file left behind"
