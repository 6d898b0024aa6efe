"""The shared fixtures: a tiny project and the session's Snakemake run (what they are built from is in
helpers.py)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.helpers import copy_project, run, tiny_params, with_root_pair


@pytest.fixture(scope="session")
def snakemake_run(tmp_path_factory) -> Path:
    """The tiny pipeline, run once per session with --cores 8 against a store that does not exist yet
    (test_snakemake checks it and then reruns parts of it; test_browser crawls its reports)."""
    project = copy_project(tmp_path_factory.mktemp("snakemake") / "project", with_root_pair(tiny_params()))
    assert not (project / "mlflow.db").exists()
    done = run([sys.executable, "-m", "snakemake", "--cores", "8"], cwd=project, timeout=900)
    (project.parent / "snakemake.out").write_text(done.stdout + done.stderr)  # the console, as a user saw it
    for tree in ("models", "reports", "data/applied"):  # as this run left them: test_snakemake reruns parts
        shutil.copytree(project / tree, project.parent / "as-run" / tree)
    return project


@pytest.fixture(scope="session")
def snakemake_outputs(snakemake_run) -> Path:
    """The models and reports of the session's Snakemake run as it wrote them, whatever ran on it since."""
    return snakemake_run.parent / "as-run"


@pytest.fixture
def tiny_project(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "project", tiny_params())
