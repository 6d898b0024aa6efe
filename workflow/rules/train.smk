rule train:
    """Train one variant of the dataset's MLP; the validation split is evaluated every epoch."""
    input:
        **stage_inputs("train"),
        init=warm_start_model,
    output:
        **stage_outputs("train"),
    params:
        settings=settings("train"),
    threads: 1
    log:
        "logs/train/{dataset}/{variant}.log",
    shell:
        "python -m mlbasics train --settings {params.settings:q} --threads {threads} > {log} 2>&1"
