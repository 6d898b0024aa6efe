rule preprocess:
    """Scale pixels, flatten, split train/validation/test (stratified, seeded), fit the scaler on train."""
    input:
        **stage_inputs("preprocess"),
    output:
        **stage_outputs("preprocess"),
    params:
        settings=settings("preprocess"),
    log:
        "logs/preprocess/{dataset}.log",
    shell:
        "python -m mlbasics preprocess --settings {params.settings:q} > {log} 2>&1"
