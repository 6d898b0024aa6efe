# The mlbasics pipeline: download -> datasets -> preprocess -> train (variant grid) -> evaluate -> reports.
# Thin on purpose: the config is params.yaml (validated in common.smk), the rules live in workflow/rules/,
# and the paths and per-stage settings come from the mlbasics package, which also writes dvc.yaml.
from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

from mlbasics.core.errors import ParamsError
from mlbasics.params.reading import check_yaml_files

min_version("9.0")

try:  # Snakemake's own reader names no file or line, and keeps the last of two equal keys
    check_yaml_files(["params.yaml"])
except ParamsError as exc:
    raise WorkflowError(f"invalid params: {exc}") from None


configfile: "params.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/datasets.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/apply.smk"


rule all:
    default_target: True
    input:
        pipeline.final_targets(PARAMS),
