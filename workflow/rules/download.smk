rule download:
    """Fetch and verify one dataset's pinned files into the download cache (mirrors first, then the origin);
    write the receipt the dataset stage reads. The only rule that touches the network, so a local rule."""

    # lint "conda environment or container": none on purpose, every rule runs in the project's .venv (common.smk)
    localrule: True
    input:
        source=dataset_source,
        code=stage_code("download"),
    output:
        receipt="data/raw/{dataset}.download.json",
    params:
        settings=settings("download"),
        paths=job_paths,
    log:
        "logs/download/{dataset}.log",
    shell:
        # progress (stdout) shows on the console as well; errors go to the log, which the default profile
        # prints when the job fails (show-failed-logs), so each appears once
        # the fetch policy (mirrors, retries, timeout) is not a param - changing it must not rerun anything - and
        # reaches the job in MLBASICS_FETCH_POLICY (common.smk)
        ": > {log}; python -m mlbasics download --settings {params.settings:q} --paths {params.paths:q}"
        " 2>> {log} | tee -a {log}"


rule fetch:
    """Download and verify everything the config needs, and nothing else (for login nodes): every dataset's
    files and the apply sets' - snakemake fetch --cores 2"""
    localrule: True
    input:
        expand("data/raw/{dataset}.download.json", dataset=DATASETS),
        [applying.RECEIPT.format(application=name) for name in applying.fetched(PARAMS)],
