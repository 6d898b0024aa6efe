rule preprocess:
    """Scale pixels, flatten, split train/validation/test (stratified, seeded), fit the scaler on train; the
    task (binary, multiclass, regression) is decided here and stored with the data."""

    # lint "conda environment or container": none on purpose, every rule runs in the project's .venv (common.smk)
    input:
        raw="data/raw/{dataset}.npz",
        code=stage_code("preprocess"),
    output:
        data="data/processed/{dataset}/data.npz",
        scaler="data/processed/{dataset}/scaler.json",
    params:
        settings=settings("preprocess"),
        paths=job_paths,
    log:
        "logs/preprocess/{dataset}.log",
    shell:
        "python -m mlbasics preprocess --settings {params.settings:q} --paths {params.paths:q} > {log} 2>&1"
