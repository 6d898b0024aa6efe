"""The lecture config through the real Snakemake with downloads from a loopback mirror: files in the real
formats (Keras mnist.npz, Fashion-MNIST IDX .gz, the CIFAR-10 python tarball), a small sample of each.

- a full run: download -> report for mnist, fashion_mnist, cifar10;
- offline with an empty cache: one clear error per dataset, non-zero exit, no partial files, no traceback;
- `snakemake fetch` on one machine, the cache copied to another that runs with every URL dead.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from mlbasics.data import sources
from mlbasics.pipeline import declarations as stages
from mlbasics.pipeline import graph as pipeline
from tests import loopback
from tests.helpers import copy_project, run

pytestmark = pytest.mark.engine
DATASETS = ["mnist", "fashion_mnist", "cifar10"]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--cores", "2"]


@pytest.fixture(scope="module")
def www(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("www")
    loopback.write_keras_mnist(root / "mnist.npz", 500, 100)
    loopback.write_fashion_mnist(root, 500, 100)
    loopback.write_cifar10(root / "cifar-10-python.tar.gz", per_batch=100)
    return root


def overrides(project: Path, www: Path, mirror: str, origin: str) -> Path:
    """Small samples, a tiny model, one variant; the files pinned to the fixtures' hashes, their origin
    `origin` and the mirror list `[mirror]`."""
    datasets = {}
    for name in DATASETS:
        files = [
            {
                "name": f.name,
                "sha256": hashlib.sha256((www / f.name).read_bytes()).hexdigest(),
                "url": f"{origin}/{f.name}",
            }
            for f in sources.CATALOG[name]
        ]
        datasets[name] = {
            "options": {"files": files, "max_samples": 400},
            "model": {"hidden_layers": [16], "epochs": 2},
        }
    path = project / "test-overrides.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "run": {"datasets": DATASETS, "variants": ["baseline"]},
                "datasets": datasets,
                "download": {"mirrors": [mirror], "retries": 0, "timeout": 10},
            }
        )
    )
    return path


def configfiles(project: Path) -> list[str]:
    return ["--configfile", "config/lecture.yaml", str(project / "test-overrides.yaml")]


def cache_files(project: Path) -> list[str]:
    cache = project / "data" / "downloads"
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file()) if cache.exists() else []


def expected_cache() -> list[str]:
    return sorted(f"{d}/{f.name}" for d in DATASETS for f in sources.CATALOG[d])


def assert_full_run(project: Path) -> None:
    for d in DATASETS:
        for stage in ("download", "dataset", "preprocess", "report"):
            for path in pipeline.outputs(stage, d).values():
                assert (project / path).exists(), path  # a file, or a folder (the dataset's files)
        assert (project / stages.METRICS.format(dataset=d, variant="baseline")).is_file()
        assert 'src="preview.png"' in (project / stages.DATASET_PAGE.format(dataset=d)).read_text()
    assert (project / stages.INDEX).is_file()


def test_lecture_config_downloads_from_a_loopback_mirror_and_reports(tmp_path, www):
    project = copy_project(tmp_path / "project")
    with loopback.serve(www) as server:
        overrides(project, www, mirror=server.url, origin=loopback.dead_url())
        run([*SNAKEMAKE, *configfiles(project)], cwd=project)
        assert sorted(server.requests) == sorted(f"/{f.name}" for d in DATASETS for f in sources.CATALOG[d])
    assert_full_run(project)
    assert cache_files(project) == expected_cache()
    # the mirrors, retries and timeout decide how files are fetched, not what they are: changing them reruns nothing
    raw = yaml.safe_load((project / "test-overrides.yaml").read_text())
    raw["download"] = {"mirrors": [loopback.dead_url()], "retries": 3, "timeout": 5}
    (project / "test-overrides.yaml").write_text(yaml.safe_dump(raw))
    dry = run([*SNAKEMAKE, "--dry-run", *configfiles(project)], cwd=project)
    assert "Nothing to be done" in dry.stdout + dry.stderr


def test_offline_with_an_empty_cache_fails_clearly_per_dataset(tmp_path, www):
    project = copy_project(tmp_path / "project")
    dead = loopback.dead_url()
    overrides(project, www, mirror=dead, origin=dead)
    result = run([*SNAKEMAKE, *configfiles(project)], cwd=project, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    for d in DATASETS:
        assert output.count(f"error: dataset {d!r}:") == 1, output[-3000:]
        assert output.count("To work offline, pre-seed the cache") == len(DATASETS)
    assert "Traceback" not in output
    assert cache_files(project) == []
    assert not list((project / "data").rglob("*.npz")) if (project / "data").exists() else True
    leftovers = [p for p in (project / "data").rglob("*") if p.is_file()] if (project / "data").exists() else []
    assert leftovers == []


def test_fetch_on_one_machine_then_copy_the_cache_to_run_offline(tmp_path, www):
    login = copy_project(tmp_path / "login")
    with loopback.serve(www) as server:
        overrides(login, www, mirror=server.url, origin=loopback.dead_url())
        result = run([*SNAKEMAKE[:3], "fetch", *SNAKEMAKE[3:], *configfiles(login)], cwd=login)
    assert cache_files(login) == expected_cache()
    built = sorted(str(p.relative_to(login)) for p in (login / "data").rglob("*") if p.is_file())
    assert built == sorted(
        [stages.RECEIPT.format(dataset=d) for d in DATASETS] + [f"data/downloads/{f}" for f in expected_cache()]
    )
    assert "rule train" not in result.stdout + result.stderr

    compute = copy_project(tmp_path / "compute")  # another machine: no network, only the copied cache
    shutil.copytree(login / "data" / "downloads", compute / "data" / "downloads")
    dead = loopback.dead_url()
    overrides(compute, www, mirror=dead, origin=dead)
    run([*SNAKEMAKE, *configfiles(compute)], cwd=compute)
    assert_full_run(compute)
