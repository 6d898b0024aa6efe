"""Moving a finished run to another machine through a DVC remote on a shared directory: `dvc push` where it ran; in
a second clone `python -m mlbasics pull` (dvc pull, Snakemake's outputs marked up to date, the runs imported into
that clone's MLflow store). Afterwards neither engine has anything to do there, and the files are the same bytes."""

from __future__ import annotations

import json
import sys

import pytest
from mlflow import MlflowClient

from mlbasics.params import config
from mlbasics.pipeline import declarations as stages
from tests.helpers import copy_project, git_init, grid_outputs, run, tiny_params
from tests.test_dvc import DVC, WITH_WORKER

pytestmark = pytest.mark.engine
GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid"]


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    root = tmp_path_factory.mktemp("sharing")
    params = tiny_params()
    params["run"]["datasets"] = ["gaussians"]
    first = git_init(copy_project(root / "first", params))
    run([*WITH_WORKER, *DVC, "repro"], cwd=first, timeout=600)
    run([*DVC, "remote", "add", "-d", "shared", str(root / "remote")], cwd=first)
    run(["git", "add", "-A"], cwd=first)
    run([*GIT, "commit", "-qm", "reproduced, with a remote"], cwd=first)
    run([*DVC, "push"], cwd=first)
    second = root / "second"
    run(["git", "clone", "-q", str(first), str(second)], cwd=root)
    pulled = run([sys.executable, "-m", "mlbasics", "pull"], cwd=second, timeout=600)
    return first, second, pulled.stdout


def test_the_pulled_clone_has_every_output_byte_for_byte(shared):
    first, second, _ = shared
    params = config.load_params(first / "params.yaml")
    for rel in grid_outputs(params):
        if (first / rel).is_file():
            assert (second / rel).read_bytes() == (first / rel).read_bytes(), rel
        else:  # a model folder (Snakemake's marker aside: .dvcignore keeps it out of DVC's view)
            names = [
                sorted(p.name for p in (root / rel).iterdir() if p.name != ".snakemake_timestamp")
                for root in (first, second)
            ]
            assert names[0] == names[1] and all(
                (second / rel / n).read_bytes() == (first / rel / n).read_bytes() for n in names[0]
            ), rel


def test_neither_engine_has_anything_to_do_after_the_pull(shared):
    _, second, _ = shared
    assert json.loads(run([*DVC, "status", "--json"], cwd=second).stdout) == {}
    dry = run([sys.executable, "-m", "snakemake", "-n", "--cores", "1"], cwd=second)
    assert "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-3000:]


def test_the_runs_are_imported_into_the_clones_store(shared):
    first, second, output = shared
    params = config.load_params(second / "params.yaml")
    n = len(config.grid(params))
    assert f"pull: {n} runs in sqlite:///mlflow.db (experiment mlbasics), {n} imported now" in output
    client = MlflowClient(f"sqlite:///{second / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("mlbasics")
    runs = client.search_runs([experiment.experiment_id], filter_string="tags.`mlbasics.role` = 'variant'")
    assert sorted((r.data.tags["dataset"], r.data.tags["variant"]) for r in runs) == sorted(config.grid(params))
    assert all(r.info.status == "FINISHED" for r in runs)
    record = json.loads((first / stages.RUN_RECORD.format(dataset="gaussians", variant="dropout")).read_text())
    assert any(r.data.tags["mlbasics.uid"] == record["uid"] for r in runs), "the same runs, not new ones"
