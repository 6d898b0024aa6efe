"""The package installs without its source tree: `pip install .` (not editable) into a fresh virtual environment
ships the schema and the page templates, and `python -m mlbasics validate` then works in a project folder that
holds nothing but a params.yaml.

The fresh environment sees the locked dependencies of the project's .venv through a path file (no network here),
but not the project's own editable install: mlbasics must come from the wheel pip builds.
"""

from __future__ import annotations

import shutil
import subprocess
import sysconfig
import venv
from pathlib import Path

import pytest

from tests.helpers import ROOT, copy_project

pytestmark = pytest.mark.engine  # builds and installs a wheel (~20 s)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with mlbasics installed from a copy of the sources (the copy goes away afterwards)."""
    base = tmp_path_factory.mktemp("install")
    env = base / "venv"
    venv.EnvBuilder(with_pip=True).create(env)
    python = env / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # the dependencies, as locked in the project's .venv (their directory only: its .pth files are not run)
    (Path(purelib) / "project-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    source = copy_project(base / "source")
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index", str(source)],
        check=True,
        capture_output=True,
        text=True,
    )
    shutil.rmtree(source)  # nothing of the source tree is left to import from
    return python


def test_validate_works_outside_the_source_tree(installed, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "params.yaml", project / "params.yaml")
    where = subprocess.run(
        [installed, "-c", "import mlbasics; print(mlbasics.__file__)"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert "site-packages" in where and str(ROOT) not in where, where
    result = subprocess.run(
        [installed, "-m", "mlbasics", "validate"], cwd=project, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("params.yaml: ok, 26 runs: gaussians/baseline")


def test_the_wheel_ships_the_schema_and_the_templates(installed):
    listed = subprocess.run(
        [installed, "-m", "pip", "show", "--files", "mlbasics"], capture_output=True, text=True, check=True
    ).stdout
    assert "mlbasics/params/params.schema.yaml" in listed
    assert "mlbasics/templates/dataset.html.j2" in listed
    assert "mlbasics/methods/reference/bdt.py" in listed and "mlbasics/data/loaders/root.py" in listed


def test_a_mistake_is_one_line_outside_the_source_tree(installed, tmp_path):
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text().replace("seed: 42", "seed: -1", 1))
    result = subprocess.run(
        [installed, "-m", "mlbasics", "validate"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: params.yaml:")
