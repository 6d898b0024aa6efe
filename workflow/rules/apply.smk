# params' apply block: per set a job per input file, its report, and a fetch job where it names files to download
# (src/mlbasics/pipeline/applying.py declares them for both engines)
APPLY_JOBS = {(job.application, job.file): job for job in applying.jobs(PARAMS)}


def apply_job(wildcards):
    return APPLY_JOBS[(wildcards.application, wildcards.file)]


rule apply_fetch:
    """Download and verify an apply set's pinned files into the cache; the receipt its apply jobs wait for. On the
    network, so a local rule (the fetch policy comes as the download rule's does)."""
    localrule: True
    # lint "conda environment or container": none on purpose, every rule runs in the project's .venv (common.smk)
    input:
        **pipeline.apply_fetch_inputs(),
    output:
        receipt="data/applied/{application}.download.json",
    params:
        settings=lambda wildcards: params_config.inline(applying.fetch_settings(PARAMS, wildcards.application)),
    log:
        "logs/apply_fetch/{application}.log",
    shell:
        ": > {log}; python -m mlbasics apply-fetch --set {wildcards.application} --settings {params.settings:q}"
        " 2>> {log} | tee -a {log}"


rule apply:
    """Score one input file with its apply set's variants: a friend file whose tree is entry-aligned with the
    input tree, one score branch per variant, -999 where an entry fails the selection."""

    # lint "conda environment or container": none on purpose, every rule runs in the project's .venv (common.smk)
    input:
        unpack(lambda wildcards: pipeline.apply_inputs(apply_job(wildcards))),
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
        settings=lambda wildcards: params_config.inline(applying.report_settings(PARAMS, wildcards.application)),
    log:
        "logs/apply_report/{application}.log",
    shell:
        "python -m mlbasics apply-report --set {wildcards.application} --settings {params.settings:q} > {log} 2>&1"
