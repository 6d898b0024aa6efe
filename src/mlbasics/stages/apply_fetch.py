"""An apply set's fetch job: its files to download, fetched (mirrors first, then the origin, with retries) and
verified by their pinned sha256 into <download.cache_dir>/applied/<set>/, and a receipt naming them - what the
set's apply jobs wait for. The only apply job that uses the network: on a cluster it runs on the login node."""

from __future__ import annotations

from mlbasics.core.files import write_json
from mlbasics.data import sources
from mlbasics.data.download import DownloadError, fetch_file


def run(application: str, files: list[dict], cache_dir: str, policy: dict, receipt: str) -> None:
    """Fetch every file (all are tried; one error names each that failed), then write the receipt."""
    where = f"applied/{application}"
    done, failed = [], []
    for entry in files:
        file = sources.RemoteFile(entry["name"], entry["sha256"].lower(), entry["url"])
        dest = sources.cache_path(cache_dir, where, file.name)
        try:
            origin = fetch_file(
                file,
                dest,
                sources.candidate_urls(file, policy["mirrors"], where),
                policy["retries"],
                policy["timeout"],
                f"apply set {application}",
            )
        except DownloadError as exc:
            failed.append(exc.detail)
            continue
        print(f"apply set {application}: {file.name} ok ({'cached' if origin == 'cache' else 'from ' + origin})")
        done.append({"name": file.name, "sha256": file.sha256, "path": dest})
    if failed:
        raise DownloadError(
            f"apply set {application!r}: {len(failed)} of {len(files)} files missing:\n  " + "\n  ".join(failed)
        )
    write_json(receipt, {"set": application, "files": done})
