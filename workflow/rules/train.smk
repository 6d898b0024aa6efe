rule train:
    """Train one variant of the dataset's model; the validation split is evaluated every epoch."""

    # lint "conda environment or container": none on purpose, every rule runs in the project's .venv (common.smk)
    input:
        data="data/processed/{dataset}/data.npz",
        scaler="data/processed/{dataset}/scaler.json",
        init=warm_start_model,
        code=stage_code("train"),
    output:
        model=directory("models/{dataset}/{variant}/model"),
        history="models/{dataset}/{variant}/history.csv",
        stats="models/{dataset}/{variant}/run_stats.json",
        scores="models/{dataset}/{variant}/scores.npz",
        bundle="models/{dataset}/{variant}/bundle.json",
    params:
        settings=settings("train"),
        paths=job_paths,
    threads: 1
    resources:
        # what a cluster job asks for grows with the data (the slurm profile adds the GPU)
        mem_mb=lambda wildcards, input: 2000 + 6 * int(input.size_mb),
        runtime=lambda wildcards, input: 15 + 2 * int(input.size_mb),
    log:
        "logs/train/{dataset}/{variant}.log",
    shell:
        "python -m mlbasics train --settings {params.settings:q} --paths {params.paths:q} --threads {threads}"
        " > {log} 2>&1"
