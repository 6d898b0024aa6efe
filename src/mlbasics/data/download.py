"""The download stage: fetch a dataset's pinned files into the cache and write a receipt.

Downloads go through `keras.utils.get_file` (Keras' own downloader: progress bar, sha256 check) into a
temporary directory next to the cache, and only a verified file is renamed into place, so a failed,
truncated or corrupt download leaves nothing behind. Mirrors are tried in order before the canonical
origin; network errors are retried with a short backoff, a wrong hash moves on to the next URL.
A file already in the cache with the right hash makes no request at all.

The receipt (data/raw/<dataset>.download.json) lists the files and hashes the dataset stage reads.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

from mlbasics.core.files import sha256_file
from mlbasics.data import sources


class DownloadError(RuntimeError):
    """No URL produced a file with the pinned hash; the message lists every URL tried and why.
    `detail` is the part about one file, for an error that gathers a dataset's files."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail or message


def _get(url: str, file: sources.RemoteFile, workdir: Path) -> Path:
    """One attempt through Keras' downloader; returns the verified file inside workdir. Its progress bar only on
    a terminal: a job's log gets one plain line per file instead of escape codes."""
    import keras
    from keras.utils import get_file

    if not sys.stdout.isatty():
        keras.config.disable_interactive_logging()
        print(f"downloading {file.name} from {url}", flush=True)

    return Path(
        get_file(
            fname=file.name,
            origin=url,
            file_hash=file.sha256,
            hash_algorithm="sha256",
            cache_dir=str(workdir),
            cache_subdir="",
        )
    )


def _retryable(exc: Exception) -> bool:
    """Network trouble is worth another try; a wrong hash or an HTTP 4xx is not."""
    status = re.search(r": (\d{3}) -- ", str(exc))  # get_file's "URL fetch failure on URL: CODE -- MSG"
    return not isinstance(exc, ValueError) and not (status and status.group(1).startswith("4"))


def _reason(exc: Exception) -> str:
    """The useful part of a failure: get_file says "URL fetch failure on URL: CODE -- MESSAGE"."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    match = re.match(r"URL fetch failure on .*: (\S+) -- (.*)$", text)
    if match:
        code, message = match.groups()
        return message if code == "None" else f"HTTP {code} {message}"
    return text


def fetch_file(
    file: sources.RemoteFile,
    dest: str | Path,
    urls: list[str],
    retries: int = 2,
    timeout: float = 60,
    dataset: str = "",
) -> str:
    """Make `dest` hold `file` (verified by sha256). Returns the URL used, or 'cache' on a cache hit."""
    dest = Path(dest)
    if dest.is_file() and sha256_file(dest) == file.sha256:
        return "cache"
    try:  # a cache that cannot be written is said before any URL is tried
        dest.parent.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=dest.parent).close()
    except OSError as exc:
        detail = f"cannot write {file.name} into the download cache {dest.parent} ({exc.strerror or exc})"
        raise DownloadError(
            f"dataset {dataset!r}: {detail}. Set download.cache_dir to a folder you can write, or put the file "
            f"(sha256 {file.sha256}) there on a machine that can",
            detail,
        ) from None
    failures: list[str] = []
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)  # urlretrieve has no timeout of its own
    try:
        for url in urls:
            for attempt in range(retries + 1):
                workdir = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{file.name}.part-"))
                try:
                    got = _get(url, file, workdir)
                    if sha256_file(got) != file.sha256:  # belt and braces: never trust a file unverified
                        raise ValueError(f"sha256 mismatch, expected {file.sha256}")
                    got.replace(dest)
                    return url
                except Exception as exc:
                    reason = _reason(exc)
                    if not _retryable(exc) or attempt == retries:
                        failures.append(f"{url} ({reason})")
                        break
                    print(f"retrying {url} after: {reason}", file=sys.stderr)
                    time.sleep(min(2**attempt, 10))
                finally:
                    shutil.rmtree(workdir, ignore_errors=True)
    finally:
        socket.setdefaulttimeout(previous_timeout)
    with contextlib.suppress(OSError):
        dest.parent.rmdir()  # only if empty: leave no trace of a failed download
    detail = _describe_failure(file, failures)
    raise DownloadError(f"dataset {dataset!r}: {detail}\n{_hint(dest.parent)}", detail)


def _describe_failure(file: sources.RemoteFile, failures: list[str]) -> str:
    return f"could not download {file.name} (sha256 {file.sha256}); tried:\n" + "\n".join(
        f"    - {f}" for f in failures
    )


def _hint(where: str | Path) -> str:
    return (
        f"  To work offline, pre-seed the cache: run `snakemake fetch` (or `python -m mlbasics fetch`) where there "
        f"is internet and copy the cache directory, or put files with the sha256 above in {where}."
    )


def fetch_all(owner: str, folder: str, files: list[sources.RemoteFile], policy: dict) -> list[dict]:
    """Fetch every file into <cache_dir>/<folder>/ (all are tried); the receipt's files (name, sha256, path), or
    one error naming every missing file and every URL tried. `owner` names them in messages ("dataset 'x'")."""
    done, failed = [], []
    for file in files:
        dest = sources.cache_path(policy["cache_dir"], folder, file.name)
        urls = sources.candidate_urls(file, policy["mirrors"], folder)
        try:
            origin = fetch_file(file, dest, urls, policy["retries"], policy["timeout"], folder)
        except DownloadError as exc:
            failed.append(exc.detail)
            continue
        print(f"{folder}: {file.name} ok ({'cached' if origin == 'cache' else 'from ' + origin})")
        done.append({"name": file.name, "sha256": file.sha256, "path": dest})
    if failed:
        raise DownloadError(
            f"{owner}: {len(failed)} of {len(files)} files missing:\n  "
            + "\n  ".join(failed)
            + "\n"
            + _hint(Path(policy["cache_dir"]) / folder)
        )
    return done


def fetch(dataset: str, loader: str, options: dict, policy: dict) -> dict:
    """Fetch every remote file of one dataset; return the receipt (files, hashes, cache paths)."""
    files = fetch_all(f"dataset {dataset!r}", dataset, sources.remote_files(loader, options), policy)
    receipt = {"dataset": dataset, "loader": loader, "files": files}
    local = sources.local_file(loader, options)
    if local is not None:
        receipt["local"] = _check_local(dataset, local)
    if loader == "tfds":
        receipt["tfds"] = _prepare_tfds(dataset, options, policy)
    return receipt


def _check_local(dataset: str, path: str) -> dict:
    if not Path(path).is_file():
        raise DownloadError(f"dataset {dataset!r}: options.path {path!r}: file not found")
    return {"path": path, "sha256": sha256_file(path)}


def tfds_data_dir(options: dict, cache_dir: str) -> str:
    return options.get("data_dir") or str(Path(cache_dir) / "tfds")


def _prepare_tfds(dataset: str, options: dict, policy: dict) -> dict:
    """Let the TFDS download manager fetch and prepare the dataset into its data_dir (the cache)."""
    data_dir = tfds_data_dir(options, policy["cache_dir"])
    try:
        import tensorflow_datasets as tfds
    except ImportError as exc:
        raise DownloadError(f"dataset {dataset!r}: loader 'tfds' needs tensorflow-datasets ({exc})") from None
    try:
        builder = tfds.builder(options["name"], data_dir=data_dir)
        builder.download_and_prepare()
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]  # not TFDS' list of every name
        raise DownloadError(
            f"dataset {dataset!r}: TFDS could not prepare {options['name']!r} in {data_dir}: {reason}\n"
            f"  To work offline, run `snakemake fetch` where there is internet and copy {data_dir}."
        ) from None
    return {"name": options["name"], "version": str(builder.info.version), "data_dir": data_dir}
