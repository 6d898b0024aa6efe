rule evaluate:
    """Test metrics, confusion matrix and figures of one variant; logs the variant's MLflow run."""

    # lint "conda environment or container": none on purpose, every rule runs in the project's .venv (common.smk)
    input:
        data="data/processed/{dataset}/data.npz",
        model="models/{dataset}/{variant}/model",
        history="models/{dataset}/{variant}/history.csv",
        stats="models/{dataset}/{variant}/run_stats.json",
        scores="models/{dataset}/{variant}/scores.npz",
        bundle="models/{dataset}/{variant}/bundle.json",
        code=stage_code("evaluate"),
    # each variant's figures are outputs unless params say figures: {per_variant: false} (a sweep of hundreds)
    output:
        **variant_figures(
            curves=report(
                "reports/{dataset}/{variant}/curves.png",
                caption="../report/curves.rst",
                **of_variant("learning curves"),
            ),
            confusion_png=report(
                "reports/{dataset}/{variant}/confusion.png",
                caption="../report/confusion.rst",
                **of_variant("confusion matrix"),
            ),
            diagnostics=report(
                "reports/{dataset}/{variant}/diagnostics.png",
                caption="../report/diagnostics.rst",
                **of_variant("diagnostics"),
            ),
            response=report(
                "reports/{dataset}/{variant}/response.png",
                caption="../report/response.rst",
                **of_variant("response, training vs test"),
            ),
        ),
        metrics=report(
            "reports/{dataset}/{variant}/metrics.json",
            caption="../report/metrics.rst",
            **of_variant("metrics"),
        ),
        confusion="reports/{dataset}/{variant}/confusion.csv",
        predictions="reports/{dataset}/{variant}/predictions.csv",
        importance="reports/{dataset}/{variant}/importance.csv",
        provenance="reports/{dataset}/{variant}/provenance.json",
        run="reports/{dataset}/{variant}/mlflow_run.json",
        bootstrap="reports/{dataset}/{variant}/bootstrap.csv",
    params:
        settings=settings("evaluate"),
        paths=job_paths,
    threads: 1
    log:
        "logs/evaluate/{dataset}/{variant}.log",
    # the log's last line, the run's result, also on the console: one line per finished run
    shell:
        "python -m mlbasics evaluate --settings {params.settings:q} --paths {params.paths:q} --threads {threads}"
        " > {log} 2>&1 && tail -n 1 {log}"
