"""A real HTTP server on 127.0.0.1 for the download tests (no internet here), and files in the real
formats of the datasets it serves: IDX .gz, Keras' mnist.npz, the CIFAR-10 python tarball, CSV, Parquet.

Paths the server understands, besides plain files under its root:
  /truncated/<path>  announces the full length, sends half, closes (a cut-off download)
  /flaky/<path>      answers 503 to the first request for a path, then serves it (a transient failure)
"""

from __future__ import annotations

import contextlib
import gzip
import io
import pickle
import tarfile
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np


class _Handler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # record instead of printing
        self.server.requests.append(self.path)

    def do_GET(self):
        if self.path.startswith("/truncated/"):
            data = (Path(self.directory) / self.path[len("/truncated/") :]).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.server.requests.append(self.path)
            return
        if self.path.startswith("/flaky/"):
            seen = self.server.flaky_seen
            if self.path not in seen:
                seen.add(self.path)
                self.send_error(503, "try again")
                return
            self.path = self.path[len("/flaky") :]
        super().do_GET()


class Server:
    def __init__(self, root: Path):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(root)))
        self.httpd.requests = []
        self.httpd.flaky_seen = set()
        self.root = root
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def requests(self) -> list[str]:
        return self.httpd.requests


@contextlib.contextmanager
def serve(root: Path) -> Iterator[Server]:
    """Serve `root` over HTTP on 127.0.0.1 (a free port) for the duration of the block."""
    server = Server(root)
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


def dead_url() -> str:
    """A loopback URL where nothing listens (the port was just free)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- files in the real formats --------------------------------------------------------------------


def images(n: int, size: int, n_classes: int = 10, seed: int = 0, channels: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Learnable uint8 images: each class lights a different square (and colour), plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    shape = (n, size, size, channels) if channels else (n, size, size)
    x = rng.integers(0, 60, shape).astype(np.int32)
    cell = size // 4
    for k in range(n_classes):
        r, c = divmod(k % 16, 4)
        block = x[y == k, r * cell : (r + 1) * cell, c * cell : (c + 1) * cell]
        if channels:
            block[..., k % channels] += 190
        else:
            block += 190
        x[y == k, r * cell : (r + 1) * cell, c * cell : (c + 1) * cell] = block
    return np.clip(x, 0, 255).astype(np.uint8), y.astype(np.uint8)


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray) -> Path:
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)
    return path


def write_fashion_mnist(folder: Path, n_train: int = 600, n_test: int = 200) -> list[Path]:
    x, y = images(n_train + n_test, 28, seed=1)
    return [
        write_idx(folder / "train-images-idx3-ubyte.gz", x[:n_train]),
        write_idx(folder / "train-labels-idx1-ubyte.gz", y[:n_train]),
        write_idx(folder / "t10k-images-idx3-ubyte.gz", x[n_train:]),
        write_idx(folder / "t10k-labels-idx1-ubyte.gz", y[n_train:]),
    ]


def write_keras_mnist(path: Path, n_train: int = 600, n_test: int = 200) -> Path:
    x, y = images(n_train + n_test, 28, seed=2)
    with open(path, "wb") as fh:
        np.savez_compressed(fh, x_train=x[:n_train], y_train=y[:n_train], x_test=x[n_train:], y_test=y[n_train:])
    return path


CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def write_cifar10(path: Path, per_batch: int = 100) -> Path:
    """The CIFAR-10 python tarball: bytes-keyed pickled dicts, rows of R, G, B planes (32x32 each)."""
    x, y = images(6 * per_batch, 32, seed=3, channels=3)
    rows = x.transpose(0, 3, 1, 2).reshape(len(x), 3072)
    with tarfile.open(path, "w:gz") as tar:
        for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
            part = slice(i * per_batch, (i + 1) * per_batch)
            batch = {
                b"batch_label": name.encode(),
                b"labels": [int(v) for v in y[part]],
                b"data": rows[part],
                b"filenames": [f"{j}.png".encode() for j in range(per_batch)],
            }
            _add(tar, f"cifar-10-batches-py/{name}", pickle.dumps(batch, protocol=2))
        meta = {b"label_names": [n.encode() for n in CIFAR_NAMES], b"num_cases_per_batch": per_batch, b"num_vis": 3072}
        _add(tar, "cifar-10-batches-py/batches.meta", pickle.dumps(meta, protocol=2))
    return path


def write_tables(folder: Path, n: int = 300) -> tuple[Path, Path]:
    """The same physics-style table as CSV and Parquet: two features, a third one unused, a string label."""
    import pandas as pd

    rng = np.random.default_rng(4)
    signal = rng.random(n) < 0.5
    frame = pd.DataFrame(
        {
            "pt": np.where(signal, rng.normal(2.0, 0.5, n), rng.normal(0.0, 0.5, n)),
            "eta": np.where(signal, rng.normal(1.0, 0.5, n), rng.normal(-1.0, 0.5, n)),
            "run": rng.integers(1, 5, n),
            "kind": np.where(signal, "signal", "background"),
        }
    )
    csv, parquet = folder / "events.csv", folder / "events.parquet"
    frame.to_csv(csv, index=False)
    frame.to_parquet(parquet, index=False)
    return csv, parquet
