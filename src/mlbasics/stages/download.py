"""The download stage: fetch and verify one dataset's pinned files into the cache, write its receipt."""

from __future__ import annotations

from mlbasics.core.files import write_json
from mlbasics.data.download import fetch
from mlbasics.stages.settings import DownloadSettings


def run(settings: DownloadSettings, inputs: dict, outputs: dict, threads: int = 0) -> None:
    """The download stage: fetch and verify one dataset's files, write its receipt."""
    policy = {**settings.policy, "cache_dir": settings.cache_dir}
    receipt = fetch(settings.dataset, settings.loader, settings.options, policy)
    write_json(outputs["receipt"], receipt)
