rule dataset:
    """Build data/raw/<dataset>.npz and its preview figure from the dataset's source: embedded, or the files
    the download stage verified. Never touches the network."""
    input:
        **dataset_inputs(),
    output:
        **stage_outputs("dataset"),
    params:
        settings=settings("dataset"),
    log:
        "logs/dataset/{dataset}.log",
    shell:
        "python -m mlbasics dataset --settings {params.settings:q} > {log} 2>&1"
