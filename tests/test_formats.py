"""The raw-format readers on files written in the real formats, and their refusals of bad or hostile input."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import tarfile

import numpy as np
import pytest

from mlbasics.core import formats
from tests import loopback


def test_idx_round_trip_gz_and_plain(tmp_path):
    x, _ = loopback.images(7, 28)
    for name in ("a-idx3-ubyte.gz", "a-idx3-ubyte"):
        np.testing.assert_array_equal(formats.read_idx(loopback.write_idx(tmp_path / name, x)), x)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda raw: b"\x01\x02" + raw[2:], "not an IDX file"),
        (lambda raw: raw[:2] + b"\x0d" + raw[3:], "is not unsigned byte"),
        (lambda raw: raw[:-5], "need 3152 bytes, file has 3147"),
        (lambda raw: raw + b"\x00", "need 3152 bytes, file has 3153"),
        (lambda raw: raw[:6], "header truncated"),
    ],
)
def test_idx_header_is_validated(tmp_path, mutate, message):
    x, _ = loopback.images(4, 28)
    path = tmp_path / "bad-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(mutate(loopback.idx_bytes(x))))
    with pytest.raises(formats.FormatError, match=message) as info:
        formats.read_idx(path)
    assert "bad-idx3-ubyte.gz" in str(info.value)


def test_truncated_gzip_is_a_format_error(tmp_path):
    path = loopback.write_idx(tmp_path / "x-idx3-ubyte.gz", loopback.images(50, 28)[0])
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(formats.FormatError, match="cannot read"):
        formats.read_idx(path)


def test_idx_images_and_labels_must_pair(tmp_path):
    x, y = loopback.images(10, 28)
    images = loopback.write_idx(tmp_path / "i.gz", x)
    labels = loopback.write_idx(tmp_path / "l.gz", y[:9])
    with pytest.raises(formats.FormatError, match="10 items"):
        formats.read_idx_pair(images, labels)


def test_keras_mnist_npz_concatenates_train_and_test(tmp_path):
    x, y = formats.read_keras_mnist(loopback.write_keras_mnist(tmp_path / "mnist.npz", 30, 10))
    assert x.shape == (40, 28, 28) and x.dtype == np.uint8 and y.shape == (40,)


def test_cifar10_tarball_planes_become_rgb_images(tmp_path):
    archive = loopback.write_cifar10(tmp_path / "cifar-10-python.tar.gz", per_batch=5)
    x, y, names = formats.read_cifar10(archive)
    expected, labels = loopback.images(30, 32, seed=3, channels=3)
    assert x.shape == (30, 32, 32, 3)
    np.testing.assert_array_equal(x, expected)  # R, G, B planes put back in the right place
    np.testing.assert_array_equal(y, labels)
    assert names == loopback.CIFAR_NAMES


def test_greyscale_uses_the_lecture_formula():
    rgb = np.array([[[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]]]], dtype=np.uint8)
    grey = formats.to_greyscale(rgb)
    np.testing.assert_allclose(
        grey[0, 0], [0.2989 * 255, 0.5870 * 255, 0.1140 * 255, 0.2989 * 10 + 0.5870 * 20 + 0.1140 * 30], rtol=1e-6
    )


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_runs_code_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    batch = {b"data": np.zeros((1, 3072), np.uint8), b"labels": [0], b"x": _Exploit(marker)}
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
            loopback._add(tar, f"cifar-10-batches-py/{name}", pickle.dumps(batch, protocol=2))
    with pytest.raises(formats.FormatError, match=r"refusing to load (posix|os)\.system"):
        formats.read_cifar10(archive)
    assert not marker.exists()


def test_a_tar_member_escaping_with_dotdot_is_refused_and_nothing_is_written_outside(tmp_path):
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        loopback._add(tar, "cifar-10-batches-py/batches.meta", b"x")
        loopback._add(tar, "../escaped.txt", b"gotcha")
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(formats.FormatError, match="unsafe archive member"):
        formats.safe_extract(archive, dest)
    assert not (tmp_path / "escaped.txt").exists()
    with pytest.raises(formats.FormatError, match="unsafe archive member"):
        formats.read_cifar10(archive)
    assert not (tmp_path / "escaped.txt").exists()


def test_absolute_paths_and_links_out_are_refused(tmp_path):
    archive = tmp_path / "links.tar"
    with tarfile.open(archive, "w") as tar:
        link = tarfile.TarInfo("cifar-10-batches-py/link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    with pytest.raises(formats.FormatError, match="unsafe archive member"):
        formats.safe_extract(archive, tmp_path / "dest")
    absolute = tmp_path / "abs.tar"
    with tarfile.open(absolute, "w") as tar:
        loopback._add(tar, str(tmp_path / "abs-escaped.txt"), b"x")
    formats.safe_extract(absolute, tmp_path / "dest2")  # the data filter strips the leading '/'
    assert not (tmp_path / "abs-escaped.txt").exists()


def test_tables_csv_and_parquet_read_the_same(tmp_path):
    csv, parquet = loopback.write_tables(tmp_path)
    x1, y1, names1, cols, w1, _ = formats.read_table(csv, "kind", ["pt", "eta"])
    x2, y2, names2, _, _, _ = formats.read_table(parquet, "kind", ["pt", "eta"])
    assert names1 == names2 == ["background", "signal"] and cols == ["pt", "eta"]
    np.testing.assert_allclose(x1, x2, rtol=1e-6)
    np.testing.assert_array_equal(y1, y2)
    assert formats.read_table(csv, "kind")[0].shape == (300, 2)  # every other column but the run number
    assert w1 is None


def test_a_weight_column_gives_event_weights_and_is_no_feature(tmp_path):
    path = tmp_path / "w.csv"
    path.write_text("a,b,w,y\n1,2,0.5,s\n3,4,-1.25,b\n5,6,2,s\n")
    x, y, names, columns, w, _ = formats.read_table(path, "y", weight="w")
    assert columns == ["a", "b"] and x.shape == (3, 2) and names == ["b", "s"] and y.tolist() == [1, 0, 1]
    assert w.dtype == np.float64 and w.tolist() == [0.5, -1.25, 2.0]  # negative weights are kept
    path.write_text("a,b,w,y\n1,2,0.5,s\n3,4,,b\n")
    with pytest.raises(formats.FormatError, match="column 'w', data row 2"):
        formats.read_table(path, "y", weight="w")
    with pytest.raises(formats.FormatError, match="weight column 'wt' not found"):
        formats.read_table(path, "y", weight="wt")
    with pytest.raises(formats.FormatError, match="weight column 'w' is also listed in features"):
        formats.read_table(path, "y", ["a", "w"], weight="w")


def test_table_errors_name_the_column(tmp_path):
    csv, _ = loopback.write_tables(tmp_path)
    with pytest.raises(formats.FormatError, match="label column 'label' not found"):
        formats.read_table(csv, "label")
    with pytest.raises(formats.FormatError, match="feature column 'mass' not found"):
        formats.read_table(csv, "kind", ["pt", "mass"])
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,y\n1,2,0\n3,oops,1\n")
    with pytest.raises(formats.FormatError, match="column 'b'"):
        formats.read_table(bad, "y")
    with pytest.raises(formats.FormatError, match=r"unknown table format '\.xlsx'"):
        formats.read_table(tmp_path / "t.xlsx", "y")


def test_numeric_labels_sort_as_numbers(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("f,y\n" + "".join(f"{i},{v}\n" for i, v in enumerate([10, 2, 2, 10, 1])))
    _, y, names, _, _, _ = formats.read_table(path, "y")
    assert names == ["1", "2", "10"] and y.tolist() == [2, 1, 1, 2, 0]


def test_restricted_unpickler_loads_what_cifar_needs():
    data = pickle.dumps({b"data": np.arange(6, dtype=np.uint8).reshape(2, 3), b"labels": [1, 2]}, protocol=2)
    loaded = formats.safe_unpickle(data, "batch")
    np.testing.assert_array_equal(loaded[b"data"], np.arange(6).reshape(2, 3))
    with pytest.raises(formats.FormatError, match="refusing"):
        formats.safe_unpickle(pickle.dumps(io.BytesIO(b"x")), "other")
