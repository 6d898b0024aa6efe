"""The report stage: a dataset's page, its comparison figures and verdicts, its playground."""

from __future__ import annotations

from mlbasics.report.pages import dataset_page
from mlbasics.stages.settings import ReportSettings


def run(settings: ReportSettings, inputs: dict, outputs: dict, threads: int = 0) -> None:
    """The report stage: the HTML page comparing one dataset's variants."""
    dataset_page(
        settings.dataset,
        settings.variants,
        settings.methods,
        settings.bootstrap["confidence"],
        inputs,
        outputs,
        settings.described,
        settings.overtraining,
        settings.playground,
        settings.loader,
        settings.units,
    )
