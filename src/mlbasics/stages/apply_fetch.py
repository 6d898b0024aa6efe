"""An apply set's fetch job: its files to download, fetched (mirrors first, then the origin, with retries) and
verified by their pinned sha256 into <download.cache_dir>/applied/<set>/, and a receipt naming them - what the
set's apply jobs wait for. The only apply job that uses the network: on a cluster it runs on the login node."""

from __future__ import annotations

from mlbasics.core.files import write_json
from mlbasics.data import sources
from mlbasics.data.download import fetch_all


def run(application: str, files: list[dict], cache_dir: str, policy: dict, receipt: str) -> None:
    """Fetch every file (all are tried; one error names each that failed), then write the receipt."""
    pinned = [sources.RemoteFile(f["name"], f["sha256"].lower(), f["url"]) for f in files]
    done = fetch_all(f"apply set {application!r}", f"applied/{application}", pinned, {**policy, "cache_dir": cache_dir})
    write_json(receipt, {"set": application, "files": done})
