# Validation and small helpers shared by the rules. Imports stay light (no TensorFlow, no MLflow):
# this file is parsed on every Snakemake invocation and by every cluster job.
# `snakemake --lint` asks for a conda environment or container per job step, and there is none on purpose. The
# software is one virtual environment, .venv, built from requirements.lock by scripts/setup.sh on the login node
# and shared with the compute nodes; an environment per step would be a second, untested description of it.
import atexit
import json
import os
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

from mlbasics.params import config as params_config
from mlbasics.params import reading as params_file
from mlbasics.pipeline import applying
from mlbasics.pipeline import graph as pipeline
from mlbasics.pipeline import locks
from mlbasics.pipeline import scheduler as snakemake_scheduler
from mlbasics.pipeline import declarations as stages
from mlbasics.tracking import runs as tracking
from mlbasics.pipeline import worker

# one pending scheduler re-evaluation instead of one more per finished job (src/mlbasics/snakemake_scheduler.py)
snakemake_scheduler.coalesce_reevaluations()

# the locks a killed Snakemake left behind, removed where no Snakemake runs here any more (not in a cluster job,
# which runs beside the live one that holds them)
if not workflow.remote_exec and locks.clear_stale(Path.cwd()):
    print(
        "snakemake: removed the locks of an earlier Snakemake that was stopped without cleaning up (none runs "
        "in this folder now); its unfinished jobs run again",
        file=sys.stderr,
    )

# the files merged into `config`, in the order they were merged (later ones win): params.yaml, then --configfile
OVERRIDES = [str(f) for f in workflow.config_settings.configfiles]
CONFIG_FILES = [*(str(f) for f in workflow.configfiles if str(f) not in OVERRIDES), *OVERRIDES]
try:
    # Snakemake kept the last of two equal keys (DVC would refuse them) and merges `gates: {}` into nothing
    params_file.check_configfiles(OVERRIDES)
    # the merged config (params.yaml plus any --configfile/--config), validated and with defaults filled
    PARAMS = params_config.validate_params(config)
except params_config.ParamsError as exc:
    raise WorkflowError(f"invalid params: {params_file.locate(exc, CONFIG_FILES)}") from None

DATASETS = PARAMS["run"]["datasets"]
WORKER = []  # the warm worker onstart starts
# (dataset, variant id) of every run: sweeps expanded, less variants whose method does not take the dataset
PAIRS = params_config.grid(PARAMS)
# each variant's figures (evaluate draws them, the report shows them); a large sweep can leave them out
VARIANT_FIGURES = PARAMS["figures"]["per_variant"]
# What every job inherits from this invocation: its id (one MLflow parent run per invocation; a cluster job
# re-reading this file keeps the id it was given) and how to track. Tracking travels here, not in the rules'
# params, so that pointing MLflow elsewhere reruns no evaluation - only the track rule, which imports every run.
os.environ.setdefault(tracking.ENV_INVOCATION, tracking.new_invocation_id("snakemake"))
os.environ.setdefault(tracking.ENV_ENGINE, "snakemake")
os.environ[tracking.ENV_TRACKING] = json.dumps(PARAMS["tracking"], sort_keys=True)
# The download jobs' fetch policy (mirrors, retries, timeout) travels the same way: changing it reruns nothing.
os.environ[params_config.ENV_FETCH_POLICY] = params_config.inline(params_config.fetch_policy(PARAMS))


# Site settings for the slurm profile (its resources read MLBASICS_SLURM_*): the environment wins over
# workflow/profiles/slurm/site.yaml. Harmless for local runs, which ignore SLURM resources.
for key, value in params_config.slurm_site(
    Path(workflow.basedir) / "workflow" / "profiles" / "slurm" / "site.yaml"
).items():
    os.environ[key] = value


# Jobs run `python -m mlbasics`: put the environment Snakemake runs from (which holds mlbasics) first on
# PATH, so `.venv/bin/snakemake` works without activating the virtual environment.
envvars:
    "PATH",
    tracking.ENV_INVOCATION,
    tracking.ENV_ENGINE,
    tracking.ENV_TRACKING,
    params_config.ENV_FETCH_POLICY,


onstart:
    # not beside a DVC command that holds paths of this project: both would write the same outputs
    other = locks.dvc_here(Path.cwd())
    if other:
        raise WorkflowError(
            f"dvc is running in this project (pid {other[0]}: {other[1]}): let it finish or stop it first; "
            "Snakemake and DVC would write the same outputs"
        )
    # fail before any job rather than after the training: a store no retry can fix (missing driver, corrupt
    # file, read-only or locked: the track rule writes it in every mode), or - online - a server that does not
    # answer
    try:
        tracking.preflight(
            tracking.resolve_uri(PARAMS["tracking"]["uri"]),
            reach=PARAMS["tracking"]["mode"] == "online",
        )
    except tracking.TrackingError as exc:
        raise WorkflowError(str(exc)) from None
    # one warm worker for this invocation's local jobs: each job's `python -m mlbasics` hands its stage to it
    # instead of importing TensorFlow and MLflow again (MLBASICS_NO_WORKER=1: off). Stopped when Snakemake ends,
    # however it ends (the worker also dies with this process).
    WORKER.append(worker.start())
    atexit.register(worker.stop, WORKER[-1])


# A SLURM job running a bundle of jobs (the slurm profile's groups) runs this file with --no-hooks: its worker
# starts here instead, for the steps of that allocation (the group id is known from the command line only: the
# workflow's group settings are filled in after this file is read)
GROUP_WORKER = worker.start_in_group_job(workflow.remote_exec and "--local-groupid" in sys.argv)
if GROUP_WORKER:
    WORKER.append(GROUP_WORKER)
    atexit.register(worker.stop, GROUP_WORKER)


onsuccess:
    worker.stop(WORKER[-1] if WORKER else None)


onerror:
    worker.stop(WORKER[-1] if WORKER else None)


os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


# ids as the schema defines them (no slashes, no dots), not alternations of every name: matching a path against a
# 1,000-way alternation is what made `snakemake -n` slow on large grids
wildcard_constraints:
    dataset=params_config.id_pattern(),
    variant=params_config.id_pattern(),
    application=params_config.id_pattern(),
    fold=r"\d+",
    file=r"[^/]+",


def settings(stage):
    """Params for a rule: the stage's resolved settings as JSON, so changing them reruns exactly its jobs."""

    def resolve(wildcards):
        resolved = stages.stage_settings(
            PARAMS, stage, wildcards.get("dataset"), wildcards.get("variant"), wildcards.get("fold")
        )
        return params_config.inline(resolved)  # one line of YAML: readable in --report, rerun when it changes

    return resolve


def stage_code(stage):
    """The source files a stage runs (its module and every package module it imports, computed): editing one
    reruns exactly the jobs of the stages that import it."""
    return pipeline.code(stage)


def job_paths(wildcards, input, output):
    """The job's named inputs and outputs as JSON: the CLI works on exactly the paths this rule names."""

    def named(files):
        return {k: v if isinstance(v, str) else list(v) for k, v in files.items()}

    return params_config.inline({"inputs": named(input), "outputs": named(output)})


def each_variant(template):
    """One path per variant that runs on the job's dataset (a method that does not take a dataset - k-NN on
    images - is left out there: src/mlbasics/method_rules.py)."""

    def paths(wildcards):
        return [template.format(dataset=d, variant=v) for d, v in PAIRS if d == wildcards.dataset]

    return paths


def datasets_pattern(folded):
    """The datasets that train in folds (split.folds), or those that do not, as a wildcard constraint: which of
    train or folds writes a variant's model (a pattern matching nothing where there are none)."""
    names = [d for d in PARAMS["datasets"] if (params_config.folds(PARAMS, d) > 1) == folded]
    return "|".join(re.escape(name) for name in names) or "(?!)"


def each_fold(template):
    """One path per fold of the job's dataset (split.folds)."""

    def paths(wildcards):
        k = params_config.folds(PARAMS, wildcards.dataset)
        return [template.format(dataset=wildcards.dataset, variant=wildcards.variant, fold=i) for i in range(k)]

    return paths


def variant_figures(**figures):
    """A variant's figures as evaluate's named outputs, or none where params say figures: {per_variant: false}."""
    return figures if VARIANT_FIGURES else {}


def each_variant_figure(template):
    """each_variant for one of the variants' figures: no paths where the grid draws none."""
    return each_variant(template) if VARIANT_FIGURES else []


def each_pair(template):
    """One path per (dataset, variant) of the grid, datasets outermost (the order the stages read them in)."""
    return [template.format(dataset=d, variant=v) for d, v in PAIRS]


def of_variant(figure):
    """Where `snakemake --report` files a per-variant output: under its dataset and variant."""
    return dict(
        category="{dataset}",
        subcategory="{variant}",
        labels={"dataset": "{dataset}", "variant": "{variant}", "figure": figure},
    )


def dataset_source(wildcards):
    """The file that defines a dataset's data: the user's own table, or the catalog of pinned files."""
    return pipeline.source_of(PARAMS["datasets"][wildcards.dataset])


def warm_start_model(wildcards):
    """The parent's model for a warm-started variant, nothing otherwise."""
    return pipeline.init_model(PARAMS, wildcards.dataset, wildcards.variant) or []
