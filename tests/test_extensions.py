"""Extending the project as docs/architecture.md says: a reference method is its module plus its block in the params
schema, a loader likewise. A toy of each (logistic regression, scikit-learn's two moons) is added to a copy of the
project - the module and the schema, no other file - and the copy's real Snakemake runs them end to end.

Also here: the registries and the schema agree on every method and loader the project ships.
"""

from __future__ import annotations

import filecmp
import json
import sys
from pathlib import Path

import pytest
import yaml

from mlbasics.data import loaders
from mlbasics.methods import registry
from mlbasics.params import config
from tests.helpers import ROOT, copy_project, load_default_params, run

SCHEMA = Path("src/mlbasics/params/params.schema.yaml")
TOY_METHOD = Path("src/mlbasics/methods/reference/logistic.py")
TOY_LOADER = Path("src/mlbasics/data/loaders/moons.py")

METHOD_MODULE = '''"""Method logistic: logistic regression (scikit-learn), a toy reference method."""

from mlbasics.methods.reference.base import ReferenceMethod


class Logistic(ReferenceMethod):
    name, display, classifies_only = "logistic", "logistic regression", True

    def build(self, task, seed, threads):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=self.settings["c"], random_state=seed)
'''
LOADER_MODULE = '''"""Loader moons: scikit-learn's two interleaving half circles, a toy loader."""

import numpy as np

from mlbasics.data.arrays import Dataset
from mlbasics.data.loaders.base import Loader


def moons(n_samples: int = 1000, noise: float = 0.2, seed: int = 0) -> Dataset:
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=n_samples, noise=noise, random_state=seed)
    return Dataset(x.astype(np.float32), y.astype(np.int64), ["upper", "lower"])


LOADERS = [Loader("moons", moons, options=frozenset({"n_samples", "noise", "seed"}))]
'''


def add_to_schema(path: Path) -> None:
    """The schema blocks of the two toys: the method's name and its block of keys; the loader's name (its
    options, n_samples, noise and seed, are declared already)."""
    schema = yaml.safe_load(path.read_text())
    model = schema["$defs"]["model"]["properties"]
    model["method"]["enum"].append("logistic")
    model["logistic"] = {
        "type": "object",
        "additionalProperties": False,
        "default": {},
        "description": "method logistic - logistic regression",
        "properties": {"c": {"type": "number", "exclusiveMinimum": 0, "default": 1.0}},
    }
    schema["$defs"]["dataset"]["properties"]["loader"]["enum"].append("moons")
    path.write_text(yaml.safe_dump(schema, sort_keys=False, width=120))


def toy_params() -> dict:
    params = load_default_params()
    params["apply"] = {}  # the default set scores the hep toy, which this project does not have
    params["datasets"] = {
        "moons": {
            "loader": "moons",
            "options": {"n_samples": 600, "noise": 0.25},
            "preprocess": {},
            "model": {"hidden_layers": [8], "epochs": 3},
        }
    }
    params["variants"] = {"baseline": {}, "logistic": {"method": "logistic", "logistic": {"c": 0.5}}}
    params["run"] = {"datasets": ["moons"], "variants": ["baseline", "logistic"]}
    params["expected_yields"] = {}
    params["gates"] = {}
    return params


def changed_files(project: Path) -> list[str]:
    """The source files of the copy that differ from the project's, or are new (params and dvc.yaml aside)."""
    found = []
    for path in sorted((project / "src").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            original = ROOT / path.relative_to(project)
            if not original.exists() or not filecmp.cmp(path, original, shallow=False):
                found.append(path.relative_to(project).as_posix())
    return found


@pytest.fixture(scope="module")
def extended(tmp_path_factory) -> Path:
    project = copy_project(tmp_path_factory.mktemp("extended"))
    (project / TOY_METHOD).write_text(METHOD_MODULE)
    (project / TOY_LOADER).write_text(LOADER_MODULE)
    add_to_schema(project / SCHEMA)
    (project / "params.yaml").write_text(yaml.safe_dump(toy_params(), sort_keys=False))
    return project


def test_a_toy_method_and_a_toy_loader_are_two_files_each(extended):
    assert changed_files(extended) == sorted([TOY_LOADER.as_posix(), TOY_METHOD.as_posix(), SCHEMA.as_posix()])


@pytest.mark.engine
def test_the_toys_run_through_the_real_snakemake(extended):
    env = {"PYTHONPATH": str(extended / "src")}  # the copy's package, for the jobs and their warm worker
    shown = run([sys.executable, "-m", "mlbasics", "validate"], cwd=extended, **env).stdout
    assert "2 runs: moons/baseline, moons/logistic" in shown
    run([sys.executable, "-m", "snakemake", "--cores", "2"], cwd=extended, timeout=900, **env)
    metrics = json.loads((extended / "reports/moons/logistic/metrics.json").read_text())
    assert metrics["roc_auc"] > 0.85  # two moons are nearly linearly separable at this noise
    page = (extended / "reports/moons/index.html").read_text()
    assert "logistic regression" in page  # the display name the module declares
    assert (extended / "models/moons/logistic/model/model.skops").is_file()


def test_every_shipped_method_and_loader_is_in_the_schema_and_the_registry():
    schema = config.load_schema()["$defs"]
    assert set(schema["model"]["properties"]["method"]["enum"]) == set(registry.METHODS)
    assert set(registry.REFERENCE) <= set(schema["model"]["properties"])  # each method's block
    assert set(schema["dataset"]["properties"]["loader"]["enum"]) == set(loaders.registry())
    options = set(schema["dataset"]["properties"]["options"]["properties"])
    for loader in loaders.registry().values():
        assert loader.options <= options, (loader.name, loader.options - options)
