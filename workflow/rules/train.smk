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
    resources:
        # what a cluster job asks for grows with the data (the slurm profile adds the GPU)
        mem_mb=lambda wildcards, input: 2000 + 6 * int(input.size_mb),
        runtime=lambda wildcards, input: 15 + 2 * int(input.size_mb),
    log:
        "logs/train/{dataset}/{variant}.log",
    shell:
        "python -m mlbasics train --settings {params.settings:q} --threads {threads} > {log} 2>&1"
