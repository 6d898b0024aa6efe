rule report:
    """The HTML page comparing every variant of one dataset."""
    input:
        **stage_inputs("report"),
    output:
        **stage_outputs("report"),
    params:
        settings=settings("report"),
    log:
        "logs/report/{dataset}.log",
    shell:
        "python -m mlbasics report --settings {params.settings:q} > {log} 2>&1"


# aggregates and bookkeeping run where Snakemake runs (the login node), not as cluster jobs
localrules:
    report,
    summary,
    check,
    track,


rule track:
    """Every run record into MLflow, exactly once, under this invocation's parent run (local: the login node
    reaches the tracking server; compute nodes may not)."""
    input:
        **stage_inputs("track"),
    output:
        **stage_outputs("track"),
    params:
        settings=settings("track"),
    log:
        "logs/track.log",
    shell:
        "python -m mlbasics track --settings {params.settings:q} > {log} 2>&1"


rule check:
    """The quality gates (params `gates`): fails, one line per violation, when a run misses one."""
    input:
        **stage_inputs("check"),
    output:
        **stage_outputs("check"),
    params:
        settings=settings("check"),
    log:
        "logs/check.log",
    shell:
        "python -m mlbasics check --settings {params.settings:q} > {log} 2>&1"


rule summary:
    """reports/index.html linking every dataset, and reports/summary.csv (one row per dataset x variant)."""
    input:
        **stage_inputs("summary"),
    output:
        **stage_outputs("summary"),
    params:
        settings=settings("summary"),
    log:
        "logs/summary.log",
    shell:
        "python -m mlbasics summary --settings {params.settings:q} > {log} 2>&1"
