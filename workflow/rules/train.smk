rule train:
    """Train one variant of the dataset's model; the validation split is evaluated every epoch."""

    # lint "conda environment or container": none on purpose, every rule runs in the project's .venv (common.smk)
    wildcard_constraints:
        dataset=datasets_pattern(folded=False),  # a dataset with folds: train_fold, then folds
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


rule train_fold:
    """Train one fold of a variant (split.folds): on the other folds, scored on this one."""

    # lint "conda environment or container": none on purpose, every rule runs in the project's .venv (common.smk)
    input:
        data="data/processed/{dataset}/data.npz",
        scaler="data/processed/{dataset}/scaler.json",
        code=stage_code("train_fold"),
    output:
        model=directory("models/{dataset}/{variant}/fold-{fold}/model"),
        history="models/{dataset}/{variant}/fold-{fold}/history.csv",
        stats="models/{dataset}/{variant}/fold-{fold}/run_stats.json",
        scores="models/{dataset}/{variant}/fold-{fold}/scores.npz",
        bundle="models/{dataset}/{variant}/fold-{fold}/bundle.json",
    params:
        settings=settings("train_fold"),
        paths=job_paths,
    threads: 1
    resources:
        mem_mb=lambda wildcards, input: 2000 + 6 * int(input.size_mb),
        runtime=lambda wildcards, input: 15 + 2 * int(input.size_mb),
    log:
        "logs/train/{dataset}/{variant}/fold-{fold}.log",
    shell:
        "python -m mlbasics train_fold --settings {params.settings:q} --paths {params.paths:q} --threads {threads}"
        " > {log} 2>&1"


rule folds:
    """Join a variant's fold trainings: its models, each event's out-of-fold score, the mean history."""

    # lint "conda environment or container": none on purpose, every rule runs in the project's .venv (common.smk)
    wildcard_constraints:
        dataset=datasets_pattern(folded=True),
    input:
        data="data/processed/{dataset}/data.npz",
        model=each_fold("models/{dataset}/{variant}/fold-{fold}/model"),
        history=each_fold("models/{dataset}/{variant}/fold-{fold}/history.csv"),
        stats=each_fold("models/{dataset}/{variant}/fold-{fold}/run_stats.json"),
        scores=each_fold("models/{dataset}/{variant}/fold-{fold}/scores.npz"),
        bundle=each_fold("models/{dataset}/{variant}/fold-{fold}/bundle.json"),
        code=stage_code("folds"),
    output:
        model=directory("models/{dataset}/{variant}/model"),
        history="models/{dataset}/{variant}/history.csv",
        stats="models/{dataset}/{variant}/run_stats.json",
        scores="models/{dataset}/{variant}/scores.npz",
        bundle="models/{dataset}/{variant}/bundle.json",
    params:
        settings=settings("folds"),
        paths=job_paths,
    threads: 1
    log:
        "logs/folds/{dataset}/{variant}.log",
    shell:
        "python -m mlbasics folds --settings {params.settings:q} --paths {params.paths:q} --threads {threads}"
        " > {log} 2>&1"
