"""The jobs of params' `apply:` block, declared once for both engines: per set, one apply job per input file,
scoring it with the set's variants into a friend file `data/applied/<set>/<file name>` (a table's scores:
`<set>/<stem>.parquet`; stages/apply.py), the set's report (stages/apply_report.py), and where the set names files
to download, its fetch job (stages/apply_fetch.py).

An apply job runs the same command a user types (`python -m mlbasics apply --dataset D --variant V ... --input
FILE[:TREE] --output DIR`). It depends on the file - or on what puts it there: the set's download receipt for a
downloaded file, a dataset's folder of files for the hep toy's ntuples - on each variant's bundle and model, and on
the apply code. Light imports only: the Snakefile reads it.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import PurePosixPath

from mlbasics.data.bundle import friend_name
from mlbasics.params import config
from mlbasics.params.apply_sets import input_paths
from mlbasics.pipeline.declarations import BUNDLE, FILES, MODEL

APPLIED = "data/applied/{application}/{file}"  # the friend file of one input file
RECEIPT = "data/applied/{application}.download.json"  # a set's downloaded files, verified
JOBS = ("apply", "apply_report", "apply_fetch")  # its kinds of job, each with its module in mlbasics.stages
# rules that run where Snakemake runs: a set's report (an aggregate of its friends) and its downloads (the network)
LOCAL = ("apply_report", "apply_fetch")
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
    path: str  # where the input file is read: its local path, or its place in the download cache
    tree: str | None
    events: str  # what the file depends on (events_input)
    folds: str = "average"  # how a k-fold variant scores (stages/apply.py: average, by_fold)

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

    def inputs(self) -> dict[str, str | list[str]]:
        """Its named inputs but its code (pipeline.graph.apply_inputs adds that)."""
        return {
            "events": self.events,
            "bundles": [BUNDLE.format(dataset=self.dataset, variant=v) for v in self.variants],
            "models": [MODEL.format(dataset=self.dataset, variant=v) for v in self.variants],
        }

    def command(self) -> str:
        variants = " ".join(f"--variant {shlex.quote(v)}" for v in self.variants)
        where = f"{self.path}:{self.tree}" if self.tree else self.path
        output = str(PurePosixPath(self.friend).parent)
        by_fold = " --folds by-fold" if self.folds == "by_fold" else ""
        return (
            f"python -m mlbasics apply --dataset {shlex.quote(self.dataset)} {variants} "
            f"--input {shlex.quote(where)} --output {shlex.quote(output)}{by_fold}"
        )


def jobs(params: dict) -> list[ApplyJob]:
    """Every apply job of params' sets that run (config.apply_sets), sets in order, files in order."""
    found = []
    for name, spec in config.apply_sets(params).items():
        for entry, path in zip(spec["files"], input_paths(params, name), strict=True):
            events = RECEIPT.format(application=name) if isinstance(entry, dict) else events_input(path, params)
            variants = tuple(spec["variants"])
            found.append(
                ApplyJob(name, spec["dataset"], variants, path, spec.get("tree"), events, spec.get("folds", "average"))
            )
    return found


def events_input(path: str, params: dict) -> str:
    """What a local input file depends on: the dataset folder holding it, where a dataset stage writes it
    (data/raw/<dataset>/...), else the file itself."""
    for dataset in params["run"]["datasets"]:
        folder = FILES.format(dataset=dataset)
        if PurePosixPath(path).parent == PurePosixPath(folder):
            return folder
    return path


def report_outputs(application: str) -> dict[str, str]:
    return {k: v.format(application=application) for k, v in REPORT.items()}


def report_inputs(params: dict, application: str) -> dict[str, list[str]]:
    """A set's report reads its friends, and the input files where it weights entries (its `weight`); its code
    is added by pipeline.graph.apply_report_inputs."""
    mine = [job for job in jobs(params) if job.application == application]
    weighted = bool(params["apply"][application].get("weight"))
    return {
        "friends": [job.friend for job in mine],
        "events": list(dict.fromkeys(job.events for job in mine)) if weighted else [],
    }


def report_settings(params: dict, application: str) -> dict:
    """What a set's report reads: its block, and where each of its input files is read."""
    return {"set": application, "spec": params["apply"][application], "paths": input_paths(params, application)}


def report_command(application: str) -> str:
    return f"python -m mlbasics apply-report --params params.yaml --set {shlex.quote(application)}"


def fetched(params: dict) -> list[str]:
    """The sets that run and name files to download: each has a fetch job."""
    return [name for name, spec in config.apply_sets(params).items() if any(isinstance(f, dict) for f in spec["files"])]


def fetch_settings(params: dict, application: str) -> dict:
    """What a set's fetch job reads: its files to download and the cache (the fetch policy travels outside)."""
    files = [f for f in params["apply"][application]["files"] if isinstance(f, dict)]
    return {"set": application, "files": files, "cache_dir": params["download"]["cache_dir"]}


def fetch_command(application: str) -> str:
    return f"python -m mlbasics apply-fetch --params params.yaml --set {shlex.quote(application)}"
