"""What the tests share besides fixtures: the repository root, a tiny copy of the project for the real engines,
the environment their subprocesses run in, and small builders of data and settings."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from mlbasics.params.config import deep_merge  # the merge Snakemake does with --configfile

ROOT = Path(__file__).resolve().parents[1]


VENV_BIN = Path(sys.executable).parent


# Tiny but real: two datasets (binary and 3-class), two variants, a few epochs.
TINY_OVERRIDES = {
    "run": {"datasets": ["gaussians", "iris"], "variants": ["baseline", "dropout"]},
    "datasets": {
        "gaussians": {
            "options": {"n_samples": 400, "seed": 7},
            "model": {"hidden_layers": [8], "epochs": 5, "learning_rate": 0.05},
        },
        "iris": {"model": {"hidden_layers": [8], "epochs": 5, "learning_rate": 0.05}},
    },
    # a few epochs do not reach the real thresholds; the check stage still runs (and passes) every gate
    "gates": {"gaussians": {"accuracy": {"min": 0.0}}, "iris": {"accuracy": {"min": 0.0}}},
}


def write_root_pair(folder: Path, seed: int = 0, n_signal: int = 600, n_background: int = 900) -> list[dict]:
    """TMVA-style signal and background ROOT files, written with uproot - a signal, a background and a second
    background with a tenth of its weights negative, as at NLO: correlated Gaussian x1..x3 (signal shifted), a
    jagged jet_pt branch with its counter njet, an event weight w, and a Runs tree whose genEventSumw sums the
    generated events' weights. Returns the files as params' `files` entries (file:// URLs, their sha256)."""
    import hashlib

    import awkward as ak
    import numpy as np
    import uproot

    rng = np.random.default_rng(seed)
    files = []
    samples = (("sig.root", n_signal, 1.0, 0.0), ("bkg.root", n_background, 0.0, 0.05), ("bkg2.root", 450, -0.3, 0.1))
    for name, n, shift, negative in samples:
        x = rng.multivariate_normal([shift, 0.5 * shift, 0.2 * shift], [[1, 0.5, 0], [0.5, 1, 0.3], [0, 0.3, 1]], n)
        counts = rng.poisson(2.0 + shift, n)
        with uproot.recreate(folder / name) as file:
            file.mktree(
                "events",
                {"x1": np.float32, "x2": np.float32, "x3": np.float32, "jet_pt": "var * float32", "w": np.float64},
                counter_name=lambda _: "njet",
            )
            file["events"].extend(
                {
                    "x1": x[:, 0].astype(np.float32),
                    "x2": x[:, 1].astype(np.float32),
                    "x3": x[:, 2].astype(np.float32),
                    "jet_pt": ak.Array([(20 + rng.exponential(30 + 20 * shift, k)).astype(np.float32) for k in counts]),
                    "w": np.where(rng.random(n) < negative, -1.0, 1.0) * rng.uniform(0.5, 1.5, n),
                }
            )
            file.mktree("Runs", {"genEventSumw": np.float64})
            file["Runs"].extend({"genEventSumw": np.array([0.6, 0.4]) * n})  # two runs, the generated weight
        digest = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        files.append({"name": name, "sha256": digest, "url": (folder / name).as_uri()})
    return files


@functools.cache
def root_pair() -> list[dict]:
    """The session's pair (written once, removed at exit)."""
    folder = Path(tempfile.mkdtemp(prefix="mlbasics-root-pair-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return write_root_pair(folder)


def with_root_pair(params: dict) -> dict:
    """`params` plus the dataset `events`: the ROOT files through `loader: root` - three processes (a signal, two
    backgrounds) normalised by cross section x luminosity / generator weights (read from the Runs tree, or given),
    several branches, one element of a jagged branch, a selection, a weight branch - as a user would write it; and
    an apply set, `events_mc`, scoring the files (downloaded by the set's fetch job) with the baseline."""
    pair = root_pair()
    params = deep_merge(
        params,
        {
            "datasets": {
                "events": {
                    "loader": "root",
                    "options": {
                        "files": pair,
                        "tree": "events",
                        "processes": [  # scales 0.5, 1 and 0.8: xsec x lumi / sumw
                            {
                                "name": "tth",
                                "class": "signal",
                                "files": ["sig.root"],
                                "xsec": 0.3,
                                "lumi": 1000,
                                "sumw": "Runs:genEventSumw",
                            },
                            {
                                "name": "ttbar",
                                "class": "background",
                                "files": ["bkg.root"],
                                "xsec": 0.9,
                                "lumi": 1000,
                                "sumw": 900,
                            },
                            {
                                "name": "wjets",
                                "class": "background",
                                "files": ["bkg2.root"],
                                "xsec": 0.36,
                                "lumi": 1000,
                                "sumw": "Runs:genEventSumw",
                            },
                        ],
                        "branches": ["x1", "x2", "x3", "jet_pt[0]"],
                        "selection": "njet >= 1",
                        "weight": "w",
                    },
                    "preprocess": {"scaler": "standard"},
                    "model": {"hidden_layers": [8], "epochs": 5, "learning_rate": 0.05},
                }
            },
            "gates": {"events": {"roc_auc": {"min": 0.0}}},
            "expected_yields": {"events": {"signal": 20, "background": 500}},
            "apply": {
                "events_mc": {
                    "dataset": "events",
                    "variants": ["baseline"],
                    "files": pair,  # downloaded (file:// URLs), pinned: the set's fetch job
                    "tree": "events",
                }
            },
        },
    )  # like the tiny grid's: one gate, every run passes
    params["run"]["datasets"] = [*params["run"]["datasets"], "events"]
    return params


def load_default_params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def tiny_params() -> dict:
    return deep_merge(load_default_params(), TINY_OVERRIDES)


def engine_env(**extra: str) -> dict[str, str]:
    """The environment for engine subprocesses: our venv first on PATH, no stray MLflow URI."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "SNAKEMAKE_", "DVC_"))}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env.update(extra)
    return env


def run(cmd: list[str], cwd: Path, timeout: float = 600, check: bool = True, **env: str):
    """Run a command, print its output on failure, return the CompletedProcess."""
    result = subprocess.run(cmd, cwd=cwd, env=engine_env(**env), capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {result.returncode}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result


def copy_project(dest: Path, params: dict | None = None) -> Path:
    """Copy the project's source files (what git tracks or would track) to dest, optionally with new params."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for rel in listed:
        src = ROOT / rel
        if src.is_symlink():  # e.g. profiles -> workflow/profiles
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            (dest / rel).symlink_to(os.readlink(src))
        elif src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    if params is not None:
        (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        run([sys.executable, "-m", "mlbasics", "dvc-yaml"], cwd=dest)
    return dest


def grid_outputs(params: dict) -> list[str]:
    """Every output file the pipeline writes for this params' grid."""
    from mlbasics.params import config
    from mlbasics.pipeline import declarations as stages
    from mlbasics.pipeline import graph as pipeline

    datasets = params["run"]["datasets"]
    files = [
        p
        for d in datasets
        for stage in ("dataset", "preprocess", "report")
        for p in pipeline.outputs(stage, d).values()
    ]
    files += [
        p
        for d, v in config.grid(params)
        for stage in stages.PER_VARIANT
        for p in pipeline.outputs(stage, d, v).values()
    ]
    return files + [p for stage in ("summary", "check", "track") for p in pipeline.outputs(stage).values()]


def rerun_after_learning_rate_change(project: Path, variant: str, rerun: Callable[[], object]) -> tuple[set, set]:
    """Change one variant's learning rate in params.yaml and rerun the pipeline.

    Returns (outputs that were rewritten, outputs that should have been: the variant's train and evaluate
    outputs on every dataset, and the aggregates)."""
    from mlbasics.params import config
    from mlbasics.pipeline import declarations as stages
    from mlbasics.pipeline import graph as pipeline

    params = config.load_params(project / "params.yaml")
    everything = grid_outputs(params)
    before = {f: (project / f).stat().st_mtime_ns for f in everything}
    raw = yaml.safe_load((project / "params.yaml").read_text())
    raw["variants"][variant]["learning_rate"] = 0.02
    (project / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    rerun()
    changed = {f for f in everything if (project / f).stat().st_mtime_ns != before[f]}
    datasets = params["run"]["datasets"]
    expected = {
        p for d in datasets for stage in stages.PER_VARIANT for p in pipeline.outputs(stage, d, variant).values()
    }
    expected |= {p for d in datasets for p in pipeline.outputs("report", d).values()}
    expected |= {p for stage in ("summary", "check", "track") for p in pipeline.outputs(stage).values()}
    return changed, expected


def git_init(project: Path) -> Path:
    """Make the copy a git repository with one commit, as a fresh clone is (DVC needs one)."""
    git = shutil.which("git")
    run([git, "init", "-q"], cwd=project)
    run([git, "add", "-A"], cwd=project)
    run([git, "-c", "user.name=test", "-c", "user.email=test@example.invalid", "commit", "-qm", "copy"], cwd=project)
    return project


def settings_for(params: dict, stage: str, dataset: str | None = None, variant: str | None = None) -> dict:
    """A stage's settings as the CLI builds them from a params file (with the download stage's fetch policy and
    the evaluate stage's tracking)."""
    from mlbasics.pipeline import declarations as stages

    return stages.job_settings(params, stage, dataset, variant)


def fit_mlp(arrays: dict, n_classes: int, spec: dict, seed: int, **options):
    """Train as the train stage does, through the method the spec names; (Keras model, history rows, stats)."""
    from mlbasics.core import tasks
    from mlbasics.methods import training as methods

    method = methods.create(spec)
    rows, stats = method.fit(arrays, tasks.task_for(n_classes, spec.get("task", "auto")), n_classes, seed, **options)
    return method.model, rows, stats


def copy_run(project: Path, dest: Path) -> Path:
    """A finished run's folder copied whole - file times kept (the engines compare them), links as links - for a
    test that changes it and reruns: the run it was copied from stays as the other tests read it."""
    shutil.copytree(project, dest, symlinks=True)
    return dest


# the browser tests' screenshots
ARTIFACTS = Path(os.environ.get("MLBASICS_ARTIFACTS", ROOT / "artifacts")) / "browser"
# headless, without the background networking a closed machine refuses
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
]


def browser_driver():
    """A headless Chromium driven by Selenium: skipped where Chromium is not installed, failed under CI=true."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (binary and driver):
        message = "Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in FLAGS:
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(executable_path=driver))
