"""The download stage against a real HTTP server on 127.0.0.1: mirrors, hashes, retries, atomic placement,
cache hits, and the offline error."""

from __future__ import annotations

import hashlib

import pytest

from mlbasics.data import download, sources
from mlbasics.params import config
from tests import loopback


def _pinned(path, url="https://origin.invalid/data/") -> sources.RemoteFile:
    return sources.RemoteFile(path.name, hashlib.sha256(path.read_bytes()).hexdigest(), url + path.name)


def _leftovers(folder):
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "www"
    (root / "good").mkdir(parents=True)
    (root / "bad").mkdir()
    good = loopback.write_keras_mnist(root / "good" / "mnist.npz", 50, 10)
    corrupt = bytearray(good.read_bytes())
    corrupt[len(corrupt) // 2] ^= 0xFF  # same size, one byte flipped
    (root / "bad" / "mnist.npz").write_bytes(bytes(corrupt))
    with loopback.serve(root) as server:
        yield server, _pinned(good)


def test_a_good_mirror_is_used_and_the_file_lands_verified(tmp_path, served):
    server, file = served
    dest = tmp_path / "cache" / "mnist" / "mnist.npz"
    used = download.fetch_file(file, dest, [f"{server.url}/good/mnist.npz", file.url], retries=0)
    assert used == f"{server.url}/good/mnist.npz"
    assert download.sha256_file(dest) == file.sha256
    assert _leftovers(dest.parent) == ["mnist.npz"]  # no temporary directory left behind


def test_corrupt_truncated_and_missing_mirrors_are_skipped_for_the_next(tmp_path, served):
    server, file = served
    dest = tmp_path / "cache" / "mnist.npz"
    urls = [
        f"{server.url}/bad/mnist.npz",
        f"{server.url}/truncated/good/mnist.npz",
        f"{server.url}/nowhere/mnist.npz",
        f"{server.url}/good/mnist.npz",
    ]
    assert download.fetch_file(file, dest, urls, retries=0) == urls[-1]
    assert download.sha256_file(dest) == file.sha256
    assert _leftovers(dest.parent) == ["mnist.npz"]


def test_a_transient_server_error_is_retried(tmp_path, served):
    server, file = served
    url = f"{server.url}/flaky/good/mnist.npz"
    assert download.fetch_file(file, tmp_path / "mnist.npz", [url], retries=1) == url
    assert server.requests.count("/flaky/good/mnist.npz") == 2


def test_all_mirrors_bad_gives_one_clear_error_and_leaves_nothing(tmp_path, served):
    server, file = served
    dest = tmp_path / "cache" / "mnist" / "mnist.npz"
    dead = loopback.dead_url()
    urls = [f"{server.url}/bad/mnist.npz", f"{server.url}/truncated/good/mnist.npz", f"{dead}/mnist.npz", file.url]
    with pytest.raises(download.DownloadError) as info:
        download.fetch_file(file, dest, urls, retries=1, timeout=5, dataset="mnist")
    message = str(info.value)
    assert "dataset 'mnist': could not download mnist.npz" in message
    for url in urls:
        assert url in message  # every URL tried is named, with its reason
    assert "hash does not match" in message and "Connection refused" in message
    assert "snakemake fetch" in message and str(dest.parent) in message  # how to pre-seed the cache
    assert _leftovers(dest.parent) == []


def test_a_cache_hit_makes_no_request(tmp_path, served):
    server, file = served
    dest = tmp_path / "mnist.npz"
    download.fetch_file(file, dest, [f"{server.url}/good/mnist.npz"], retries=0)
    before = list(server.requests)
    assert download.fetch_file(file, dest, [f"{loopback.dead_url()}/mnist.npz"], retries=0) == "cache"
    assert server.requests == before


def test_a_corrupt_cached_file_is_replaced(tmp_path, served):
    server, file = served
    dest = tmp_path / "mnist.npz"
    dest.write_bytes(b"not the file")
    assert download.fetch_file(file, dest, [f"{server.url}/good/mnist.npz"], retries=0) != "cache"
    assert download.sha256_file(dest) == file.sha256


def test_mirror_urls_base_or_template_then_origin():
    file = sources.RemoteFile("a.gz", "0" * 64, "https://origin.example/x/a.gz")
    urls = sources.candidate_urls(file, ["http://m1/", "http://m2/{dataset}", "file:///srv/{dataset}/{file}"], "ds")
    assert urls == ["http://m1/a.gz", "http://m2/ds/a.gz", "file:///srv/ds/a.gz", "https://origin.example/x/a.gz"]


def test_fetch_reports_every_missing_file_of_a_dataset_and_writes_no_receipt(tmp_path):
    policy = {"cache_dir": str(tmp_path / "cache"), "mirrors": [loopback.dead_url()], "retries": 0, "timeout": 5}
    with pytest.raises(download.DownloadError) as info:
        download.fetch("fashion_mnist", "fashion_mnist", {}, policy)
    message = str(info.value)
    for file in sources.CATALOG["fashion_mnist"]:
        assert file.name in message and file.url in message
    assert _leftovers(tmp_path / "cache") in ([], ["fashion_mnist"])


def test_fetch_of_an_embedded_dataset_downloads_nothing(tmp_path):
    policy = {**config.section_defaults("download"), "cache_dir": str(tmp_path / "cache")}
    receipt = download.fetch("iris", "iris", {}, policy)
    assert receipt == {"dataset": "iris", "loader": "iris", "files": []}
    assert not (tmp_path / "cache").exists()


def test_file_urls_work_as_mirrors(tmp_path, served):
    server, file = served
    dest = tmp_path / "c" / "mnist.npz"
    url = f"file://{server.root}/good/mnist.npz"
    assert download.fetch_file(file, dest, [url], retries=0) == url


def test_a_cache_that_cannot_be_written_is_one_error_before_any_request(tmp_path, served, capsys):
    """A cache folder that cannot be made or written (here a file stands where the folder should be: root may
    write anywhere else) stops the download with one line naming the cache and the remedy; no URL is asked."""
    server, file = served
    (tmp_path / "cache").write_text("a file, not a folder")
    with pytest.raises(download.DownloadError) as info:
        download.fetch_file(file, tmp_path / "cache" / "mnist" / "mnist.npz", [f"{server.url}/good/mnist.npz"])
    message = str(info.value)
    assert message.startswith(f"dataset '': cannot write mnist.npz into the download cache {tmp_path}/cache/mnist")
    assert "Set download.cache_dir to a folder you can write" in message and "\n" not in message
    assert server.requests == []
