"""The package's layering, as import-linter checks it (the contract is in pyproject.toml): no module imports
from a layer above its own or from a sibling in its layer, so there is no import cycle; and every module has a
place in the layers, so a new one cannot slip past the check."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.helpers import ROOT, engine_env

LINT = str(Path(sys.executable).parent / "lint-imports")


def layers() -> list[str]:
    contract = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]
    return [m.strip().removeprefix("mlbasics.") for layer in contract["layers"] for m in layer.split("|")]


def lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LINT, "--no-cache"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env=engine_env(PYTHONPATH=str(root / "src")),
    )


def test_every_subpackage_has_a_layer():
    """Each top-level module and subpackage is one layer's (a new folder cannot slip past the check), and the
    contract stays a picture a reader can hold: at most ten layers."""
    package = ROOT / "src" / "mlbasics"
    found = [p.stem for p in package.glob("*.py") if p.stem != "__init__"]
    found += [p.name for p in package.iterdir() if (p / "__init__.py").is_file()]
    assert sorted(layers()) == sorted(found)
    contract = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]
    assert len(contract["layers"]) <= 10


def test_the_layers_hold():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout[-3000:]


def test_an_upward_import_breaks_the_contract(tmp_path):
    """The same check on a copy where a low module imports a high one (what would make a cycle) fails."""
    shutil.copytree(ROOT / "src", tmp_path / "src")
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    low = tmp_path / "src" / "mlbasics" / "core" / "files.py"
    low.write_text(low.read_text() + "\n\ndef _late():\n    from mlbasics.stages import train  # noqa: F401\n")
    result = lint(tmp_path)
    assert "mlbasics.core.files -> mlbasics.stages.train" in result.stdout, result.stdout[-3000:]
    assert result.returncode == 1


def test_the_warm_worker_imports_every_stage_module_and_no_other_module_of_ours_but_the_cli():
    """The worker's list names the package by its stages (each stage's module imports its libraries), so a new
    stage or a moved module cannot leave the worker importing something else."""
    from mlbasics.pipeline import declarations, worker

    ours = [m for m in worker.WARM if m.startswith("mlbasics.")]
    stage_modules = {f"mlbasics.stages.{stage.module or name}" for name, stage in declarations.STAGES.items()}
    assert stage_modules <= set(ours)
    assert set(ours) - stage_modules == {"mlbasics.cli", "mlbasics.methods.numpy_mlp"}
    assert all(module in worker.WARM for module in worker.READY_AFTER.values())
    for module in ours:
        assert (ROOT / "src" / (module.replace(".", "/") + ".py")).is_file() or (
            ROOT / "src" / module.replace(".", "/") / "__init__.py"
        ).is_file(), module
