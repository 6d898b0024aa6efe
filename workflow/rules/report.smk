rule report:
    """The HTML page comparing every variant of one dataset."""

    # lint "conda environment or container": none on purpose, every rule runs in the project's .venv (common.smk)
    input:
        raw="data/raw/{dataset}.npz",
        data="data/processed/{dataset}/data.npz",
        scaler="data/processed/{dataset}/scaler.json",
        preview="reports/{dataset}/preview.png",
        metrics=each_variant("reports/{dataset}/{variant}/metrics.json"),
        predictions=each_variant("reports/{dataset}/{variant}/predictions.csv"),
        history=each_variant("models/{dataset}/{variant}/history.csv"),
        scores=each_variant("models/{dataset}/{variant}/scores.npz"),
        curves=each_variant_figure("reports/{dataset}/{variant}/curves.png"),
        confusion_png=each_variant_figure("reports/{dataset}/{variant}/confusion.png"),
        diagnostics=each_variant_figure("reports/{dataset}/{variant}/diagnostics.png"),
        response=each_variant_figure("reports/{dataset}/{variant}/response.png"),
        importance=each_variant("reports/{dataset}/{variant}/importance.csv"),
        bootstrap=each_variant("reports/{dataset}/{variant}/bootstrap.csv"),
        code=stage_code("report"),
    output:
        page="reports/{dataset}/index.html",
        comparison=report(
            "reports/{dataset}/comparison.png",
            caption="../report/comparison.rst",
            category="{dataset}",
            subcategory="all variants",
            labels={"figure": "comparison"},
        ),
        inputs=report(
            "reports/{dataset}/inputs.png",
            caption="../report/inputs.rst",
            category="{dataset}",
            subcategory="the data",
            labels={"figure": "input variables"},
        ),
        inputs_scaled=report(
            "reports/{dataset}/inputs_scaled.png",
            caption="../report/inputs.rst",
            category="{dataset}",
            subcategory="the data",
            labels={"figure": "input variables, scaled"},
        ),
        correlations=report(
            "reports/{dataset}/correlations.png",
            caption="../report/correlations.rst",
            category="{dataset}",
            subcategory="the data",
            labels={"figure": "input correlations"},
        ),
        verdicts="reports/{dataset}/comparison.json",
        playground="reports/{dataset}/playground.html",
    params:
        settings=settings("report"),
        paths=job_paths,
    log:
        "logs/report/{dataset}.log",
    shell:
        "python -m mlbasics report --settings {params.settings:q} --paths {params.paths:q} > {log} 2>&1"


# aggregates and bookkeeping run where Snakemake runs (the login node), not as cluster jobs
localrules:
    report,
    summary,
    check,
    track,


rule track:
    """Every run record into MLflow, exactly once, under this invocation's parent run (local: the login node
    reaches the tracking server; compute nodes may not)."""

    # lint "conda environment or container": none on purpose, every rule runs in the project's .venv (common.smk)
    input:
        runs=each_pair("reports/{dataset}/{variant}/mlflow_run.json"),
        index="reports/index.html",
        summary="reports/summary.csv",
        code=stage_code("track"),
    output:
        runs="reports/mlflow_runs.json",
    params:
        settings=settings("track"),
        paths=job_paths,
    log:
        "logs/track.log",
    shell:
        "python -m mlbasics track --settings {params.settings:q} --paths {params.paths:q} > {log} 2>&1"


rule check:
    """The quality gates (params `gates`): fails, one line per violation, when a run misses one."""

    # lint "conda environment or container": none on purpose, every rule runs in the project's .venv (common.smk)
    input:
        metrics=each_pair("reports/{dataset}/{variant}/metrics.json"),
        code=stage_code("check"),
    output:
        checks=report(
            "reports/checks.json",
            caption="../report/checks.rst",
            category="all datasets",
            labels={"figure": "quality gates"},
        ),
    params:
        settings=settings("check"),
        paths=job_paths,
    log:
        "logs/check.log",
    shell:
        "python -m mlbasics check --settings {params.settings:q} --paths {params.paths:q} > {log} 2>&1"


rule summary:
    """reports/index.html linking every dataset, and reports/summary.csv (one row per dataset x variant)."""

    # lint "conda environment or container": none on purpose, every rule runs in the project's .venv (common.smk)
    input:
        data=expand("data/processed/{dataset}/data.npz", dataset=DATASETS),
        metrics=each_pair("reports/{dataset}/{variant}/metrics.json"),
        history=each_pair("models/{dataset}/{variant}/history.csv"),
        pages=expand("reports/{dataset}/index.html", dataset=DATASETS),
        verdicts=expand("reports/{dataset}/comparison.json", dataset=DATASETS),
        code=stage_code("summary"),
    output:
        index="reports/index.html",
        summary=report(
            "reports/summary.csv",
            caption="../report/summary.rst",
            category="all datasets",
            labels={"figure": "summary table"},
        ),
        headlines="reports/metrics.json",
        activations=report(
            "reports/activations.png",
            caption="../report/activations.rst",
            category="all datasets",
            labels={"figure": "activations"},
        ),
    params:
        settings=settings("summary"),
        paths=job_paths,
    log:
        "logs/summary.log",
    shell:
        "python -m mlbasics summary --settings {params.settings:q} --paths {params.paths:q} > {log} 2>&1"
