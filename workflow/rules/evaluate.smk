rule evaluate:
    """Test metrics, confusion matrix and figures of one variant; logs the variant's MLflow run."""
    input:
        **stage_inputs("evaluate"),
    output:
        **stage_outputs("evaluate"),
    params:
        settings=settings("evaluate"),
    threads: 1
    log:
        "logs/evaluate/{dataset}/{variant}.log",
    shell:
        "python -m mlbasics evaluate --settings {params.settings:q} --threads {threads} > {log} 2>&1"
