# params' apply block: one job per input file (src/mlbasics/pipeline/applying.py declares them for both engines)
APPLY_JOBS = {(job.application, job.file): job for job in applying.jobs(PARAMS)}


def apply_job(wildcards):
    return APPLY_JOBS[(wildcards.application, wildcards.file)]


rule apply:
    """Score one input file with its apply set's variants: a friend file whose tree is entry-aligned with the
    input tree, one score branch per variant, -999 where an entry fails the selection."""

    # lint "conda environment or container": none on purpose, every rule runs in the project's .venv (common.smk)
    input:
        unpack(lambda wildcards: pipeline.apply_inputs(apply_job(wildcards), DATASETS)),
    output:
        friend="data/applied/{application}/{file}",
    params:
        # the set's block, so that changing it reruns its jobs (DVC lists apply.<set> as the stage's params)
        settings=lambda wildcards: params_config.inline(PARAMS["apply"][wildcards.application]),
        command=lambda wildcards: apply_job(wildcards).command(),
    threads: 1
    log:
        "logs/apply/{application}/{file}.log",
    shell:
        "{params.command} --threads {threads} > {log} 2>&1"


rule apply_report:
    """The application report of an apply set: each input's response after the selection, weighted, the simulated
    processes stacked and data as points; the yields per file. An aggregate: local, as the dataset reports."""
    localrule: True
    # lint "conda environment or container": none on purpose, every rule runs in the project's .venv (common.smk)
    input:
        unpack(lambda wildcards: pipeline.apply_report_inputs(PARAMS, wildcards.application)),
    output:
        figure=report(
            "reports/applied/{application}/response.png",
            caption="../report/applied.rst",
            category="applied",
            subcategory="{application}",
            labels={"figure": "response"},
        ),
        yields="reports/applied/{application}/yields.json",
    params:
        settings=lambda wildcards: params_config.inline(PARAMS["apply"][wildcards.application]),
    log:
        "logs/apply_report/{application}.log",
    shell:
        "python -m mlbasics apply-report --set {wildcards.application} --settings {params.settings:q} > {log} 2>&1"
