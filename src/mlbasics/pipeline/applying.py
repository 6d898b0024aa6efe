"""The apply jobs of params' `apply:` block, declared once for both engines: one job per input file, scoring it
with the set's variants into a friend file `data/applied/<set>/<file name>` (a table's scores:
`<set>/<stem>.parquet`; stages/apply.py).

A job runs the same command a user types (`python -m mlbasics apply --dataset D --variant V ... --input
FILE[:TREE] --output DIR`). It depends on the file (or, where a stage writes the file, on that stage's folder:
the hep toy's ntuples lie in its dataset's folder of files), on each variant's bundle and model, and on the apply
code. Light imports only: the Snakefile reads it.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import PurePosixPath

from mlbasics.data.bundle import friend_name
from mlbasics.params import config
from mlbasics.pipeline.declarations import BUNDLE, FILES, MODEL

APPLIED = "data/applied/{application}/{file}"  # the friend file of one input file
JOBS = ("apply", "apply_report")  # its kinds of job, each with its module in mlbasics.stages (its code)
LOCAL = ("apply_report",)  # rules that run where Snakemake runs: a set's report, an aggregate of its friends
# the application report of a set (stages/apply_report.py)
REPORT = {
    "figure": "reports/applied/{application}/response.png",
    "yields": "reports/applied/{application}/yields.json",
}


@dataclass(frozen=True)
class ApplyJob:
    application: str
    dataset: str
    variants: tuple[str, ...]
    path: str  # the input file, as params name it
    tree: str | None

    @property
    def file(self) -> str:
        """What its output is named: the input's name (a table's: its stem, .parquet)."""
        return friend_name(PurePosixPath(self.path).name)

    @property
    def friend(self) -> str:
        return APPLIED.format(application=self.application, file=self.file)

    @property
    def stage_name(self) -> str:
        """Its DVC stage: apply-<set>-<output name>."""
        return f"apply-{self.application}-{self.file}"

    def inputs(self, datasets: list[str]) -> dict[str, str | list[str]]:
        """Its named inputs but its code (pipeline.graph.apply_inputs adds that)."""
        return {
            "events": events_input(self.path, datasets),
            "bundles": [BUNDLE.format(dataset=self.dataset, variant=v) for v in self.variants],
            "models": [MODEL.format(dataset=self.dataset, variant=v) for v in self.variants],
        }

    def command(self) -> str:
        variants = " ".join(f"--variant {shlex.quote(v)}" for v in self.variants)
        where = f"{self.path}:{self.tree}" if self.tree else self.path
        output = str(PurePosixPath(self.friend).parent)
        return (
            f"python -m mlbasics apply --dataset {shlex.quote(self.dataset)} {variants} "
            f"--input {shlex.quote(where)} --output {shlex.quote(output)}"
        )


def jobs(params: dict) -> list[ApplyJob]:
    """Every apply job of params' sets that run (config.apply_sets), sets in order, files in order."""
    found = []
    for name, spec in config.apply_sets(params).items():
        for path in spec["files"]:
            found.append(ApplyJob(name, spec["dataset"], tuple(spec["variants"]), path, spec.get("tree")))
    return found


def report_outputs(application: str) -> dict[str, str]:
    return {k: v.format(application=application) for k, v in REPORT.items()}


def report_inputs(params: dict, application: str) -> dict[str, list[str]]:
    """A set's report reads its friends, and the input files where it weights entries (its `weight`); its code
    is added by pipeline.graph.apply_report_inputs."""
    spec = params["apply"][application]
    mine = [job for job in jobs(params) if job.application == application]
    events = [events_input(path, params["run"]["datasets"]) for path in spec["files"]] if spec.get("weight") else []
    return {"friends": [job.friend for job in mine], "events": list(dict.fromkeys(events))}


def report_command(application: str) -> str:
    return f"python -m mlbasics apply-report --params params.yaml --set {shlex.quote(application)}"


def events_input(path: str, datasets: list[str]) -> str:
    """What a job's input file depends on: the dataset folder holding it, where a dataset stage writes it
    (data/raw/<dataset>/...), else the file itself."""
    for dataset in datasets:
        folder = FILES.format(dataset=dataset)
        if PurePosixPath(path).parent == PurePosixPath(folder):
            return folder
    return path
