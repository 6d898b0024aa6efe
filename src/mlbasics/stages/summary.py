"""The summary stage: every dataset linked on reports/index.html, one row per run in summary.csv."""

from __future__ import annotations

from mlbasics.report.pages import summary
from mlbasics.stages.settings import SummarySettings


def run(settings: SummarySettings, inputs: dict, outputs: dict, threads: int = 0) -> None:
    """The summary stage: reports/index.html, summary.csv and every run's headline numbers."""
    summary(settings.datasets, [tuple(pair) for pair in settings.pairs], settings.methods, inputs, outputs)
