"""The tiny pipeline through the slurm profile on a real single-node SLURM with two fake GPUs (tests/
slurm_cluster.py): every non-local job is a SLURM job, a 16-variant sweep's trainings and evaluations go in two
bundles that each get a GPU and a warm worker, a failing job fails the run, and a bundle requeued mid-training
resumes from its checkpoint and ends where an uninterrupted run ends.

Skips when not root or when SLURM is not installed; under CI (CI=true) that is a failure instead."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from mlbasics.params import config
from mlbasics.pipeline import declarations as stages
from tests.helpers import copy_project, engine_env, tiny_params
from tests.slurm_cluster import Cluster, missing

pytestmark = [pytest.mark.engine, pytest.mark.slurm]
# the test overrides of the profile: poll often (the plugin's defaults wait 40 s+), squeue instead of sacct
# (no accounting daemon here), and a bound on everything
SLURM = [
    sys.executable,
    "-m",
    "snakemake",
    "--workflow-profile",
    "workflow/profiles/slurm",
    "--jobs",
    "4",
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "4",
    "--seconds-between-status-checks",
    "3",
    "--latency-wait",
    "5",
]
SITE = {
    "MLBASICS_SLURM_PARTITION": "debug",
    "MLBASICS_SLURM_ACCOUNT": "ci",
    "MLBASICS_SLURM_GPUS": "1",
    "MLBASICS_SLURM_CPUS_PER_GPU": "1",
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = missing()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"SLURM test cannot run: {reason}")
        pytest.skip(reason)
    started = Cluster(tmp_path_factory.mktemp("slurm"))
    try:
        started.start()
        yield started
    finally:
        started.stop()


def _project(root: Path, epochs: int = 5, variants=("baseline", "dropout"), hep: bool = False) -> Path:
    """gaussians with the variants; with `hep`, the hep toy too (small, 3 epochs) and its apply set."""
    params = tiny_params()
    params["run"] = {"datasets": ["gaussians", *(["hep"] if hep else [])], "variants": list(variants)}
    params["datasets"]["gaussians"]["model"]["epochs"] = epochs
    if hep:
        params["datasets"]["hep"]["options"]["n_events"] = 400
        params["datasets"]["hep"]["model"]["epochs"] = 3
        params["apply"]["hep_mc"]["variants"] = list(variants)
        params["gates"]["hep"] = {"roc_auc": {"min": 0.0}}  # 3 epochs: the gate runs, and passes
    return copy_project(root / "project", params)


def _snakemake(
    project: Path, timeout: int = 600, env: dict | None = None, extra: tuple | list = (), **popen
) -> subprocess.Popen:
    return subprocess.Popen(
        ["timeout", "-k", "10", str(timeout), *SLURM, *extra],
        cwd=project,
        env=engine_env(**SITE, **(env or {})),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **popen,
    )


SWEEP = 16  # variants: two bundles of 8 (the profile's 20 per bundle, set smaller as its comment advises)


def _stop(engine: subprocess.Popen) -> None:
    """End a pipeline the test gives up on: SIGTERM to `timeout`, which passes it on to Snakemake (a SIGKILL would
    orphan Snakemake and its worker)."""
    if engine.poll() is None:
        engine.terminate()
        try:
            engine.wait(timeout=60)
        except subprocess.TimeoutExpired:
            engine.kill()


def test_a_16_variant_sweep_runs_as_a_few_slurm_jobs_with_gpus_and_a_failing_job_fails_the_run(cluster, tmp_path):
    """gaussians x a 16-variant learning-rate sweep, which must complete in a handful of SLURM jobs (each
    bundle of trainings and evaluations one job, on a GPU, with its own warm worker), all 16 runs under the
    invocation's one MLflow parent; and a table dataset whose label column does not exist, whose dataset job must
    fail - reported, and the run exits non-zero (keep-going finishes the rest)."""
    params = tiny_params()
    (tmp_path / "bad.csv").write_text("x1,x2,species\n1,2,a\n3,4,b\n")
    params["datasets"]["table"] = {
        "loader": "table",
        "options": {"path": str(tmp_path / "bad.csv"), "label": "kind"},
        "preprocess": {},
        "model": {},
    }
    params["variants"]["lr"] = {"sweep": {"learning_rate": [0.001 * (k + 1) for k in range(SWEEP)]}}
    params["run"] = {"datasets": ["gaussians", "table"], "variants": ["lr"]}
    params["datasets"]["gaussians"]["model"]["epochs"] = 3
    project = copy_project(tmp_path / "project", params)
    began = time.monotonic()
    # one CPU per bundle (and per training), so that the two bundles share this 2-CPU cluster at once
    engine = _snakemake(
        project,
        timeout=900,
        extra=["--cores", "1", "--set-threads", "train=1", "--group-components", f"variants-{{dataset}}={SWEEP // 2}"],
    )
    output, _ = engine.communicate(timeout=1000)
    print(f"{SWEEP} variants through SLURM: {time.monotonic() - began:.0f} s")
    assert engine.returncode not in (0, 124), output[-5000:] + cluster.logs()
    assert "Error in rule dataset" in output and "kind" in output, output[-5000:]

    # every non-local job ran under SLURM, the trainings and evaluations in bundles: few submissions
    submitted = [
        line
        for line in (cluster.root / "log" / "jobcomp.log").read_text().splitlines()
        if f"WorkDir={project} " in line
    ]
    assert len(submitted) <= 10, submitted  # dataset x 2, preprocess, 2 bundles
    logs = project / "logs" / "slurm"
    slurm_logs = {p.relative_to(logs).parts[0] for p in logs.rglob("*.log")}
    assert {name for name in slurm_logs if not name.startswith("rule_")} == {
        "group_variants-gaussians_evaluate_train"
    }, slurm_logs  # the bundles: group, dataset, rules
    assert {name for name in slurm_logs if name.startswith("rule_")} == {"rule_dataset", "rule_preprocess"}

    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(params["tracking"]["experiment"]).experiment_id
    runs = {
        r.data.tags["variant"]: r
        for r in client.search_runs([experiment], filter_string="tags.`mlbasics.role` = 'variant'", max_results=1000)
    }
    assert sorted(runs) == sorted(
        v for d, v in config.grid(config.load_params(project / "params.yaml")) if d == "gaussians"
    )
    assert len(runs) == SWEEP and len({r.data.tags["mlflow.parentRunId"] for r in runs.values()}) == 1
    bundles = set()
    for variant, run in runs.items():
        stats = json.loads((project / stages.RUN_STATS.format(dataset="gaussians", variant=variant)).read_text())
        bundles.add(stats["slurm_job_id"])
        assert stats.get("warm_worker") is True, "the bundle's worker ran the training"
        assert stats["cuda_visible_devices"] in ("0", "1"), "and saw its own GPU"
        assert run.data.tags["train_slurm_job_id"] == stats["slurm_job_id"] == run.data.tags["slurm_job_id"]
        assert run.info.status == "FINISHED" and len(client.get_metric_history(run.info.run_id, "val/loss")) == 3
    assert len(bundles) == 2, bundles
    for job in bundles:  # each bundle was allocated a GPU
        assert "gres/gpu=1" in cluster.job(job) or "gpu:1" in cluster.job(job), cluster.job(job)


EPOCHS = 80  # long enough to requeue mid-training


def _checkpointed_epoch(folder: Path) -> int:
    from mlbasics.methods.checkpoint import Checkpoint

    return Checkpoint.last_epoch(folder)


def test_a_requeued_training_job_resumes_and_ends_like_an_uninterrupted_run(cluster, tmp_path):
    """`scontrol requeue` of a running training job: SLURM restarts it, training resumes from its last
    checkpoint, and history and metrics equal those of the same training run locally without interruption.
    Meanwhile the hep toy trains a few epochs and its apply set's two files are scored in one SLURM job (a
    bundle, as trainings are)."""
    project = _project(tmp_path / "slurm", epochs=EPOCHS, variants=("baseline",), hep=True)
    began = time.monotonic()
    engine = _snakemake(project, timeout=900, env={"MLBASICS_CHECKPOINT_EVERY_S": "0"})  # a checkpoint per epoch
    checkpoints = project / "models" / "gaussians" / "baseline" / "checkpoint"
    try:
        deadline = time.monotonic() + 600
        while _checkpointed_epoch(checkpoints) < 2:  # a few epochs in
            assert engine.poll() is None and time.monotonic() < deadline, engine.stdout.read()[-3000:]
            time.sleep(0.2)
        jobs = subprocess.run(["squeue", "-h", "-o", "%i %k"], capture_output=True, text=True).stdout.splitlines()
        train = [line.split()[0] for line in jobs if "gaussians_evaluate_train" in line]  # its bundle
        assert train, jobs
        # the login node's view of the SLURM job's training (its progress.json on the shared file system)
        shown = subprocess.run(
            [sys.executable, "-m", "mlbasics", "progress"],
            cwd=project,
            capture_output=True,
            text=True,
            env=engine_env(COLUMNS="200"),
            check=True,
        ).stdout
        row = next(line for line in shown.splitlines() if "gaussians/baseline" in line)
        assert re.search(rf"\s\d+/{EPOCHS}\s+.*s/ep\s+\d+ s", row), shown
        subprocess.run(["scontrol", "requeue", train[0]], check=True)
        # SLURM holds a requeued job back for ~2 minutes (BeginTime) once it is pending again; a test has no
        # such patience
        for _ in range(60):
            state = cluster.job(train[0])
            if "JobState=PENDING" in state and "Reason=BeginTime" in state:
                subprocess.run(["scontrol", "update", f"jobid={train[0]}", "StartTime=now"], check=True)
                break
            time.sleep(0.5)
        requeued = time.monotonic()
        output, _ = engine.communicate(timeout=900)
        print(f"requeue after {requeued - began:.0f} s, pipeline done {time.monotonic() - requeued:.0f} s later")
    finally:
        _stop(engine)
    assert engine.returncode == 0, output[-5000:] + cluster.logs()
    assert "Restarts=1" in cluster.job(train[0])
    stats = json.loads((project / stages.RUN_STATS.format(dataset="gaussians", variant="baseline")).read_text())
    assert stats["resumed_from_epoch"] > 0, stats

    local = time.monotonic()
    reference = _project(tmp_path / "local", epochs=EPOCHS, variants=("baseline",))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--cores",
            "2",
            stages.METRICS.format(dataset="gaussians", variant="baseline"),
        ],
        cwd=reference,
        env=engine_env(),
        check=True,
        capture_output=True,
        timeout=600,
    )
    print(f"local reference: {time.monotonic() - local:.0f} s")
    for template in (stages.HISTORY, stages.METRICS):
        path = template.format(dataset="gaussians", variant="baseline")
        assert (project / path).read_bytes() == (reference / path).read_bytes(), path
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("mlbasics").experiment_id
    assert len(client.search_runs([experiment], filter_string="tags.`mlbasics.role` = 'variant'")) == 2
    # the apply set: both friend files, from one SLURM job
    import uproot

    for name in ("signal.root", "background.root"):
        friend = uproot.open(project / "data" / "applied" / "hep_mc" / name)["events"]
        assert friend.num_entries == 400 and list(friend.keys()) == ["score_baseline", "pass_selection"]
    bundles = list((project / "logs" / "slurm" / "group_apply-hep_mc_apply").rglob("*.log"))
    assert len(bundles) == 1, bundles
