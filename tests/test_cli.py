"""The CLI both engines call: stages from a params file, and bad input refused in one line, exit 2,
before anything is written."""

from __future__ import annotations

import json
import re
import sys

import pytest
import yaml

from mlbasics.params import config
from mlbasics.pipeline import declarations as stages
from tests.helpers import ROOT, copy_project, run, tiny_params

CLI = [sys.executable, "-m", "mlbasics"]


@pytest.fixture
def project(tmp_path):
    return copy_project(tmp_path / "project", tiny_params())


def write_params(project, params):
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.mark.engine  # every stage a real `python -m mlbasics` process
def test_download_dataset_and_preprocess_stages_from_params(project):
    run([*CLI, "download", "--params", "params.yaml", "--dataset", "iris"], cwd=project)
    run([*CLI, "dataset", "--params", "params.yaml", "--dataset", "iris"], cwd=project)
    run([*CLI, "preprocess", "--params", "params.yaml", "--dataset", "iris"], cwd=project)
    assert (project / "data/raw/iris.npz").is_file()
    scaler = json.loads((project / "data/processed/iris/scaler.json").read_text())
    assert scaler["kind"] == "standard" and len(scaler["offset"]) == 4


def test_settings_json_gives_the_same_result_as_params(project):
    """What Snakemake passes (--settings) and what DVC passes (--params) are the same stage."""
    params = config.load_params(project / "params.yaml")
    run([*CLI, "download", "--params", "params.yaml", "--dataset", "gaussians"], cwd=project)
    settings = json.dumps(stages.stage_settings(params, "dataset", "gaussians"))
    run([*CLI, "dataset", "--settings", settings], cwd=project)
    first = (project / "data/raw/gaussians.npz").read_bytes()
    run([*CLI, "dataset", "--params", "params.yaml", "--dataset", "gaussians"], cwd=project)
    assert (project / "data/raw/gaussians.npz").read_bytes() == first


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["train", "--params", "params.yaml", "--dataset", "cifar100", "--variant", "baseline"],
            "error: --dataset 'cifar100': not defined under datasets in params.yaml",
        ),
        (
            ["train", "--params", "params.yaml", "--dataset", "iris", "--variant", "huge"],
            "error: --variant 'huge': not defined under variants in params.yaml",
        ),
        (
            ["train", "--params", "params.yaml", "--dataset", "iris"],
            "error: train: --variant is required with --params",
        ),
        (
            ["train", "--params", "params.yaml", "--dataset", "iris", "--variant", "baseline"],
            "error: train: missing input data/processed/iris/data.npz (run the pipeline: snakemake or dvc repro)",
        ),
        (["validate", "--params", "nope.yaml"], "error: nope.yaml: params file not found"),
    ],
)
def test_usage_errors_are_one_line(project, args, message):
    result = run([*CLI, *args], cwd=project, check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == message
    assert not (project / "models").exists()


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("activation", "sigmoidd", "error: variants.dropout.activation: 'sigmoidd' is not one of"),
        ("optimizer", "adamm", "error: variants.dropout.optimizer: 'adamm' is not one of"),
        ("learning_rate", -1, "error: variants.dropout.learning_rate: -1 is less than or equal to the minimum of 0"),
    ],
)
def test_bad_params_stop_the_stage_before_it_writes(project, key, value, message):
    params = tiny_params()
    params["variants"]["dropout"][key] = value
    write_params(project, params)
    result = run([*CLI, "dataset", "--params", "params.yaml", "--dataset", "iris"], cwd=project, check=False)
    assert result.returncode == 2
    located = r"error: params\.yaml:\d+: " + re.escape(message.removeprefix("error: "))  # file and line of the key
    assert re.match(located, result.stderr.strip()) and "\n" not in result.stderr.strip()
    assert not (project / "data").exists()


def test_validate_prints_the_grid(project):
    out = run([*CLI, "validate"], cwd=project).stdout
    assert out.startswith("params.yaml: ok, 4 runs: gaussians/baseline, gaussians/dropout, iris/baseline")


def test_dvc_yaml_check_detects_a_stale_file(project):
    params = tiny_params()
    params["run"]["variants"] = ["baseline"]
    write_params(project, params)
    result = run([*CLI, "dvc-yaml", "--check"], cwd=project, check=False)
    assert result.returncode == 1 and "dvc.yaml is out of date" in result.stderr
    run([*CLI, "dvc-yaml"], cwd=project)
    assert run([*CLI, "dvc-yaml", "--check"], cwd=project, check=False).returncode == 0
    assert "iris-dropout" not in (project / "dvc.yaml").read_text()


@pytest.mark.engine  # every stage a real `python -m mlbasics` process
def test_fetch_reports_every_dataset_it_could_not_get(project):
    from mlbasics.data import sources
    from tests import loopback

    params = tiny_params()
    dead = loopback.dead_url()
    for name, loader in (("digits-mnist", "mnist"), ("clothes", "fashion_mnist")):
        params["datasets"][name] = {"loader": loader, "options": {}, "preprocess": {}, "model": {}}
    params["run"]["datasets"] = ["iris", "digits-mnist", "clothes"]
    params["download"] = {"mirrors": [dead], "retries": 0}
    # pin the catalog's hashes but point the origins at a dead port too: offline whatever the network
    for name in ("digits-mnist", "clothes"):
        loader = params["datasets"][name]["loader"]
        params["datasets"][name]["options"]["files"] = [
            {**f.to_dict(), "url": f"{dead}/origin/{f.name}"} for f in sources.CATALOG[loader]
        ]
    write_params(project, params)
    result = run([*CLI, "fetch"], cwd=project, check=False)
    assert result.returncode == 1
    assert result.stderr.count("error: dataset 'digits-mnist'") == 1
    assert result.stderr.count("error: dataset 'clothes'") == 1
    assert "Traceback" not in result.stderr
    assert "fetch: 1 of 3 datasets ready" in result.stdout
    assert not [p for p in (project / "data" / "downloads").rglob("*") if p.is_file()]


def test_options_a_loader_does_not_take_are_refused(project):
    params = tiny_params()
    params["datasets"]["iris"]["options"] = {"resize": [8, 8]}
    write_params(project, params)
    result = run([*CLI, "validate"], cwd=project, check=False)
    assert result.returncode == 2
    assert re.match(
        r"error: params\.yaml:\d+: datasets\.iris\.options\.resize: not an option of loader 'iris'", result.stderr
    )


def test_compare_in_a_clone_without_runs_says_so_in_one_line_and_creates_nothing(tmp_path):
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    result = run([*CLI, "compare"], cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: no runs yet: mlflow.db does not exist (run the pipeline first: snakemake --cores 2, or dvc repro)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


def test_the_worker_wrapper_refuses_dvc_queue_start_in_one_line(capsys):
    """`dvc queue start` returns while the queue's own workers go on: a worker wrapped around it would stop under
    their jobs (one experiment failed so), so the wrapper refuses it, before starting anything."""
    from mlbasics import cli

    assert cli.main(["worker", "--", "/venv/bin/dvc", "queue", "start", "-j", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: worker: `dvc queue start` returns while the queue's own")


def _immutable(path) -> bool:
    """chattr +i: a file or folder even root cannot write (the tests run as root, for whom chmod is no bar)."""
    import subprocess

    return subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0


def test_an_output_that_cannot_be_written_is_one_line_and_leaves_nothing(project):
    """An output folder that cannot be written is named before the stage works; an output file that cannot be
    replaced mid-way is one line too (the stage's other outputs are whole or absent, never half-written)."""
    import subprocess

    raw = project / "data" / "raw"
    raw.mkdir(parents=True)
    if not _immutable(raw):
        pytest.skip("chattr +i is not available here")
    try:
        result = run([*CLI, "download", "--params", "params.yaml", "--dataset", "iris"], cwd=project, check=False)
    finally:
        subprocess.run(["chattr", "-i", str(raw)], check=True)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        "error: download: cannot write data/raw/iris.download.json: its folder data/raw is not writable "
        "(permissions, or a read-only file system)"
    )
    receipt = raw / "iris.download.json"
    receipt.write_text("{}")
    assert _immutable(receipt)
    try:
        result = run([*CLI, "download", "--params", "params.yaml", "--dataset", "iris"], cwd=project, check=False)
    finally:
        subprocess.run(["chattr", "-i", str(receipt)], check=True)
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("error: cannot write ") and "iris.download.json" in result.stderr
    assert sorted(p.name for p in raw.iterdir()) == ["iris.download.json"], "no temporary file left behind"
