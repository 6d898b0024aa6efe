"""Snakemake and DVC run the same graph: the same jobs (stage, dataset, variant) with the same inputs and
outputs, read from the real engines on the default params.yaml and on the whole model space
(config/model-space.yaml), and dvc.yaml is up to date."""

from __future__ import annotations

import re
import sys
from collections import Counter

import pytest
import yaml

from tests.helpers import (
    ROOT,
    copy_project,
    deep_merge,
    git_init,
    load_default_params,
    run,
    tiny_params,
    with_root_pair,
)

pytestmark = pytest.mark.engine
Job = tuple[str, frozenset, frozenset]


def snakemake_jobs(project) -> Counter[Job]:
    """Every job of a dry run on an empty project: rule, input files, output files (logs excluded)."""
    out = run([sys.executable, "-m", "snakemake", "--dry-run", "--cores", "1"], cwd=project).stdout
    jobs: Counter[Job] = Counter()
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", out):
        rule = re.match(r"(?:local)?rule (\w+):", block)
        if not rule or rule.group(1) == "all":
            continue
        fields = dict(re.findall(r"^    (input|output): (.*)$", block, flags=re.M))
        jobs[
            (
                rule.group(1),
                frozenset(fields.get("input", "").split(", ")) - {""},
                frozenset(fields["output"].split(", ")),
            )
        ] += 1
    return jobs


def dvc_jobs(project) -> Counter[Job]:
    """Every stage DVC resolves from dvc.yaml: stage name (before '@'; `report-<dataset>` is the report: a stage
    per dataset), file deps (not params), outs."""
    from dvc.dependency import ParamsDependency
    from dvc.repo import Repo

    with Repo(str(project)) as repo:
        return Counter(
            (
                re.sub(r"^(report|apply_report|apply_fetch|apply)-.*", r"\1", stage.name.split("@")[0]),
                frozenset(d.def_path for d in stage.deps if not isinstance(d, ParamsDependency)),
                frozenset(o.def_path for o in stage.outs),
            )
            for stage in repo.index.stages
        )


def test_dvc_yaml_is_generated_from_params():
    result = run([sys.executable, "-m", "mlbasics", "dvc-yaml", "--check"], cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr


def test_snakemake_and_dvc_have_the_same_stages_inputs_and_outputs(tmp_path):
    project = git_init(copy_project(tmp_path / "project"))
    snakemake, dvc = snakemake_jobs(project), dvc_jobs(project)
    # 5 datasets x (download, dataset, preprocess, report) + 26 x (train, evaluate) + summary + check + track
    # + the apply set's 2 files and its report
    assert len(snakemake) == 78 and sum(job[0] == "apply" for job in snakemake) == 2
    assert snakemake == dvc


def test_the_local_rules_are_the_stages_declared_local():
    """What runs on the login node (network, aggregates, bookkeeping) is declared in stages.py; the rule files
    say the same (`localrule: True` in a rule, or a `localrules:` list)."""
    from mlbasics.pipeline import applying
    from mlbasics.pipeline import declarations as stages

    text = "\n".join(p.read_text() for p in sorted((ROOT / "workflow" / "rules").glob("*.smk")))
    local = set(re.findall(r"^rule (\w+):\n(?:(?:    .*)?\n)*?    localrule: True", text, flags=re.M))
    for block in re.findall(r"^localrules:\n((?:    \w+,?\n)+)", text, flags=re.M):
        local |= set(re.findall(r"\w+", block))
    declared = {name for name, stage in stages.STAGES.items() if stage.local} | set(applying.LOCAL)
    assert local - {"fetch"} == declared, local


def test_the_whole_model_space_has_the_same_graph_in_both_engines(tmp_path):
    """Every dataset, sweep point and warm-start edge of config/model-space.yaml (the run tests share its
    datasets out between the engines)."""
    params = deep_merge(load_default_params(), yaml.safe_load((ROOT / "config" / "model-space.yaml").read_text()))
    project = git_init(copy_project(tmp_path / "project", params))
    snakemake, dvc = snakemake_jobs(project), dvc_jobs(project)
    assert sum(1 for job in snakemake if job[0] == "train") == 3 * 20  # 3 datasets x 20 variants, sweeps expanded
    assert snakemake == dvc


def test_every_method_has_the_same_graph_in_both_engines(tmp_path):
    """config/methods.yaml: the MLP and every reference method (a BDT sweep too) on the physics toy and iris."""
    params = deep_merge(load_default_params(), yaml.safe_load((ROOT / "config" / "methods.yaml").read_text()))
    project = git_init(copy_project(tmp_path / "project", params))
    snakemake, dvc = snakemake_jobs(project), dvc_jobs(project)
    assert sum(1 for job in snakemake if job[0] == "train") == 2 * 10  # 2 datasets x 10 variants, the sweep expanded
    assert snakemake == dvc


def test_a_grid_without_variant_figures_has_the_same_graph_in_both_engines(tmp_path):
    """figures: {per_variant: false} (config/sweep-200.yaml): no evaluate job draws a figure, no report reads
    one, in either engine."""
    params = deep_merge(load_default_params(), {"figures": {"per_variant": False}})
    project = git_init(copy_project(tmp_path / "project", params))
    snakemake, dvc = snakemake_jobs(project), dvc_jobs(project)
    assert snakemake == dvc
    evaluate = [job for job in snakemake if job[0] == "evaluate"]
    assert len(evaluate) == 26 and not any(p.endswith(".png") for _, ins, outs in evaluate for p in outs)
    assert not any(
        p.endswith(("curves.png", "response.png")) for name, ins, _ in snakemake if name == "report" for p in ins
    )


def test_an_apply_set_of_downloaded_files_has_the_same_graph_in_both_engines(tmp_path):
    """The ROOT files' apply set names pinned files: its fetch job (the receipt), an apply job per file waiting
    for it, the report reading every friend - in both engines."""
    project = git_init(copy_project(tmp_path / "project", with_root_pair(tiny_params())))
    snakemake, dvc = snakemake_jobs(project), dvc_jobs(project)
    assert snakemake == dvc
    applied = {name: [job for job in snakemake if job[0] == name] for name in ("apply_fetch", "apply", "apply_report")}
    assert [job[2] for job in applied["apply_fetch"]] == [frozenset({"data/applied/events_mc.download.json"})]
    assert all("data/applied/events_mc.download.json" in ins for _, ins, _ in applied["apply"])
    assert len(applied["apply"]) == 3 and len(applied["apply_report"]) == 1  # its three files
