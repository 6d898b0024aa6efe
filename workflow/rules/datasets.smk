rule dataset:
    """Build data/raw/<dataset>.npz and its preview figure from the dataset's source: embedded, or the files
    the download stage verified. Never touches the network."""

    # lint "conda environment or container": none on purpose, every rule runs in the project's .venv (common.smk)
    input:
        receipt="data/raw/{dataset}.download.json",
        source=dataset_source,
        code=stage_code("dataset"),
    output:
        raw="data/raw/{dataset}.npz",
        preview=report(
            "reports/{dataset}/preview.png",
            caption="../report/preview.rst",
            category="{dataset}",
            subcategory="the data",
            labels={"figure": "preview"},
        ),
        # the files a generated dataset is written as (the hep toy's ntuples, which apply scores); empty otherwise
        files=directory("data/raw/{dataset}"),
    params:
        settings=settings("dataset"),
        paths=job_paths,
    log:
        "logs/dataset/{dataset}.log",
    shell:
        "python -m mlbasics dataset --settings {params.settings:q} --paths {params.paths:q} > {log} 2>&1"
