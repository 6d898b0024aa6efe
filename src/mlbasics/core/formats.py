"""Readers for the raw formats the datasets come in, written to refuse bad input rather than trust it.

- IDX (MNIST, Fashion-MNIST): header checked (magic, dimensions, byte count) before any data is used.
- Keras' mnist.npz: read without pickle.
- CIFAR-10 python tarball: members extracted with tarfile's `data` filter (no absolute paths, no '..',
  no links out), batches unpickled by an unpickler that only knows the few numpy names they need.
- Tables (CSV, Parquet) through pandas.
"""

from __future__ import annotations

import gzip
import io
import pickle
import re
import tarfile
import tempfile
from pathlib import Path
from typing import ClassVar

import numpy as np


class FormatError(ValueError):
    """A file is not what its format promises; the message names the file and what is wrong."""


# --- IDX ---------------------------------------------------------------------------------------------


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (optionally .gz) of unsigned bytes: big-endian `00 00 08 ndim`, ndim uint32 dims, data."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise FormatError(f"{path.name}: cannot read ({exc})") from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00":
        raise FormatError(f"{path.name}: not an IDX file (magic {raw[:4].hex() or 'missing'})")
    if raw[2] != 0x08:
        raise FormatError(f"{path.name}: IDX data type 0x{raw[2]:02x} is not unsigned byte (0x08)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise FormatError(f"{path.name}: IDX header truncated ({ndim} dimensions, {len(raw)} bytes)")
    dims = tuple(int(d) for d in np.frombuffer(raw[4:header], dtype=">u4"))
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(raw) != expected:
        raise FormatError(f"{path.name}: IDX dimensions {dims} need {expected} bytes, file has {len(raw)}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def read_idx_pair(images: str | Path, labels: str | Path) -> tuple[np.ndarray, np.ndarray]:
    x, y = read_idx(images), read_idx(labels)
    if y.ndim != 1 or len(x) != len(y):
        raise FormatError(f"{Path(images).name} has {len(x)} items but {Path(labels).name} has shape {y.shape}")
    return x, y.astype(np.int64)


# --- Keras mnist.npz ----------------------------------------------------------------------------------


def read_keras_mnist(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Keras' mnist.npz (x_train, y_train, x_test, y_test): train and test concatenated, 70,000 digits."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            x = np.concatenate([npz["x_train"], npz["x_test"]])
            y = np.concatenate([npz["y_train"], npz["y_test"]]).astype(np.int64)
    except (OSError, ValueError, KeyError) as exc:
        raise FormatError(f"{Path(path).name}: not a Keras mnist.npz ({exc})") from None
    if x.ndim != 3 or len(x) != len(y):
        raise FormatError(f"{Path(path).name}: unexpected shapes x {x.shape}, y {y.shape}")
    return x.astype(np.uint8), y


# --- CIFAR-10 -----------------------------------------------------------------------------------------


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only what a CIFAR batch (a dict of bytes, lists and one uint8 array) needs."""

    ALLOWED: ClassVar[set[tuple[str, str]]] = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a pickle")
        return super().find_class(module, name)


def safe_unpickle(data: bytes, what: str) -> object:
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as exc:
        raise FormatError(f"{what}: {exc}") from None


def safe_extract(archive: str | Path, dest: str | Path) -> None:
    """Extract a tar archive with the `data` filter: members that escape dest (absolute, '..', links out,
    devices) raise instead of being written."""
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
    except tarfile.FilterError as exc:
        raise FormatError(f"{Path(archive).name}: unsafe archive member refused ({exc})") from None
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise FormatError(f"{Path(archive).name}: not a readable tar archive ({exc})") from None


CIFAR_BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def read_cifar10(archive: str | Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """CIFAR-10 python tarball -> colour images (N, 32, 32, 3) uint8, labels, class names.

    The caller verifies the archive's sha256 first; this still refuses unsafe members and pickles."""
    with tempfile.TemporaryDirectory() as tmp:
        safe_extract(archive, tmp)
        folder = Path(tmp) / "cifar-10-batches-py"
        xs, ys = [], []
        for batch in CIFAR_BATCHES:
            path = folder / batch
            if not path.is_file():
                raise FormatError(f"{Path(archive).name}: missing cifar-10-batches-py/{batch}")
            content = safe_unpickle(path.read_bytes(), f"{Path(archive).name}:{batch}")
            if not isinstance(content, dict) or b"data" not in content or b"labels" not in content:
                raise FormatError(f"{Path(archive).name}:{batch}: not a CIFAR batch (no b'data'/b'labels')")
            data = np.asarray(content[b"data"], dtype=np.uint8)
            if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(content[b"labels"]):
                raise FormatError(f"{Path(archive).name}:{batch}: data has shape {data.shape}, expected (N, 3072)")
            # each row: the R plane, then G, then B, each 32x32 row-major
            xs.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            ys.append(np.asarray(content[b"labels"], dtype=np.int64))
        meta = folder / "batches.meta"
        names = None
        if meta.is_file():
            content = safe_unpickle(meta.read_bytes(), f"{Path(archive).name}:batches.meta")
            if isinstance(content, dict) and b"label_names" in content:
                names = [n.decode() if isinstance(n, bytes) else str(n) for n in content[b"label_names"]]
    names = names or ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    return np.concatenate(xs), np.concatenate(ys), names


def to_greyscale(images: np.ndarray) -> np.ndarray:
    """The lecture's formula: gray = 0.2989 R + 0.5870 G + 0.1140 B (float32, same 0..255 range)."""
    weights = np.array([0.2989, 0.5870, 0.1140], dtype=np.float32)
    return (images.astype(np.float32) @ weights).astype(np.float32)


# --- tables -------------------------------------------------------------------------------------------

FLOAT32_MAX = float(np.finfo(np.float32).max)


def header(path: Path, suffix: str) -> list[str]:
    """The column names as written (pandas renames a repeated one to 'name.1')."""
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return [str(n) for n in pq.read_schema(path).names]
    import pandas as pd

    try:
        return [str(n) for n in pd.read_csv(path, header=None, nrows=1, dtype=str).iloc[0]]
    except pd.errors.EmptyDataError:
        raise FormatError(f"{path.name}: empty file (no header row)") from None


def _check_columns(
    path: Path,
    header: list[str],
    label: str,
    features: list[str] | None,
    weight: str | None = None,
    group: list[str] = (),
) -> list[str]:
    """The feature columns, after refusing repeated, missing or leaking columns."""
    for name in dict.fromkeys(header):
        where = [i + 1 for i, n in enumerate(header) if n == name]
        if len(where) > 1:
            raise FormatError(
                f"{path.name}: column {name!r} appears {len(where)} times (columns "
                f"{', '.join(map(str, where))}); rename or drop the copies"
            )
    if label not in header:
        raise FormatError(f"{path.name}: label column {label!r} not found (columns: {', '.join(header)})")
    if weight is not None and weight not in header:
        raise FormatError(f"{path.name}: weight column {weight!r} not found (columns: {', '.join(header)})")
    if weight is not None and features and weight in features:
        raise FormatError(
            f"{path.name}: weight column {weight!r} is also listed in features; remove it from options.features"
        )
    for name in group:  # (one also the label, weight or a feature: refused with the options, sources.py)
        if name not in header:
            raise FormatError(f"{path.name}: group column {name!r} not found (columns: {', '.join(header)})")
    default = [c for c in header if c not in (label, weight, *group) and not IDENTIFIER.match(c)]
    features = list(features or []) or default
    missing = [c for c in features if c not in header]
    if missing:
        raise FormatError(f"{path.name}: feature column {missing[0]!r} not found (columns: {', '.join(header)})")
    if label in features:
        raise FormatError(
            f"{path.name}: label column {label!r} is also listed in features: the model would be "
            "given the answer; remove it from options.features"
        )
    repeated = [c for c in dict.fromkeys(features) if features.count(c) > 1]
    if repeated:
        raise FormatError(f"{path.name}: feature column {repeated[0]!r} is listed twice in options.features")
    if not features:
        raise FormatError(f"{path.name}: no feature columns besides the label {label!r}")
    return features


def _bad_cells(values: np.ndarray) -> np.ndarray:
    """Per cell, why float32 training cannot take it: 0 fine, 1 missing or not a number, 2 infinite,
    3 beyond float32's range (it would become infinite)."""
    reason = np.zeros(values.shape, np.int8)
    reason[np.isnan(values)] = 1
    reason[np.isinf(values)] = 2
    with np.errstate(invalid="ignore"):
        reason[np.isfinite(values) & (np.abs(values) > FLOAT32_MAX)] = 3
    return reason


WHY = {1: "is missing or not a number", 2: "is infinite", 3: f"overflows float32 (beyond +-{FLOAT32_MAX:.3g})"}


def _numeric_labels(labels) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(labels) and not pd.api.types.is_bool_dtype(labels)


TABLE_SUFFIXES = (".parquet", ".csv", ".gz", ".txt")  # what the table loader (and apply) read
# names of event, run and luminosity-block numbers: never a default input (a model would learn the bookkeeping)
IDENTIFIER = re.compile(r"(?i)^(event|evt|run|lumi\w*|luminosity_?block|lbn?)(_?(num|nr|no|id)\w*)?$")


def read_table(
    path: str | Path,
    label: str,
    features: list[str] | None = None,
    drop_invalid: bool = False,
    weight: str | None = None,
    group: list[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str], list[str], np.ndarray | None, list[np.ndarray]]:
    """A CSV or Parquet table -> features (float32), labels, class names, feature names, event weights (the
    `weight` column as float64; None without one), the `group` columns' values (the event each row belongs to;
    [] without). `features` defaults to every column but the label, the weight, the group columns and event, run
    or luminosity-block numbers (IDENTIFIER). Labels become classes (integers; names: the sorted label values),
    except a float label column with non-integer values, which becomes float targets (regression; no class names).

    Every cell must fit float32: missing, non-numeric, infinite or overflowing values are refused with their
    column and row named, or with `drop_invalid` their rows are dropped (and counted on stdout)."""
    import pandas as pd

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise FormatError(f"{path.name}: unknown table format {suffix!r} (use .csv or .parquet)")
    try:
        features = _check_columns(path, header(path, suffix), label, features, weight, group or [])
        frame = pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(path)
    except (OSError, ValueError, ImportError) as exc:
        if isinstance(exc, FormatError):
            raise
        raise FormatError(f"{path.name}: cannot read table ({' '.join(str(exc).split())})") from None
    if len(frame) == 0:
        raise FormatError(f"{path.name}: no data rows, only a header")
    columns = [*features, label, *([weight] if weight else [])]
    labels = frame[label]
    regression = (
        _numeric_labels(labels) and pd.api.types.is_float_dtype(labels) and bool((labels.dropna() % 1 != 0).any())
    )
    numeric = frame[features].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    label_values = labels.to_numpy(np.float64) if regression else np.where(labels.isna(), np.nan, 0.0)
    weights = (
        pd.to_numeric(frame[weight], errors="coerce").to_numpy(np.float64)[:, None]
        if weight
        else np.empty((len(frame), 0))
    )
    bad_rows = _invalid_rows(path, frame, columns, np.c_[numeric, label_values, weights], drop_invalid)
    if bad_rows.any():
        frame, numeric, label_values, weights = (a[~bad_rows] for a in (frame, numeric, label_values, weights))
        labels = frame[label]
    x = numeric.astype(np.float32)
    w = weights[:, 0] if weight else None
    for name in group or []:  # a row without its event cannot be kept with it
        if (empty := frame[name].isna().to_numpy()).any():
            raise FormatError(
                f"{path.name}: group column {name!r} is empty in data row {int(np.argmax(empty)) + 1} "
                f"(and {int(empty.sum()) - 1} more); every row needs its event"
            )
    keys = [frame[name].to_numpy() for name in group or []]
    if regression:
        return x, label_values.astype(np.float32), [], features, w, keys
    return x, *_classes(labels, f"{path.name}: label column {label!r}"), features, w, keys


def _invalid_rows(path: Path, frame, columns: list[str], values: np.ndarray, drop_invalid: bool) -> np.ndarray:
    """Rows with a cell float32 training cannot take: refused at the first (named by column, row and line), or
    with `drop_invalid` marked to be dropped (and counted on stdout)."""
    reasons = _bad_cells(values)
    bad_rows = reasons.any(axis=1)
    if bad_rows.any() and not drop_invalid:
        row, col = np.argwhere(reasons)[0]
        value = frame[columns[col]].iloc[row]
        value = value.item() if isinstance(value, np.generic) else value  # 1e+300, not np.float64(1e+300)
        line = f", line {row + 2}" if path.suffix.lower() != ".parquet" else ""
        raise FormatError(
            f"{path.name}: column {columns[col]!r}, data row {row + 1}{line}: {value!r} "
            f"{WHY[int(reasons[row, col])]} (or set options.drop_invalid: true to drop such rows)"
        )
    if bad_rows.any():
        print(
            f"{path.name}: dropped {int(bad_rows.sum())} of {len(frame)} rows with missing, non-numeric, "
            "infinite or float32-overflowing values (options.drop_invalid)"
        )
        if bad_rows.all():
            raise FormatError(f"{path.name}: every row has an invalid value; nothing left to train on")
    return bad_rows


def _classes(labels, where: str) -> tuple[np.ndarray, list[str]]:
    """Integer labels and class names: the sorted label values (numbers sort as numbers: 2 before 10). Two
    spellings of one number among text labels ('1' and '1.0') are refused: they would be two classes."""
    if _numeric_labels(labels):
        classes, y = np.unique(labels.to_numpy(), return_inverse=True)
        return y.astype(np.int64), [format(c, "g") for c in classes]
    classes, y = np.unique(labels.astype(str).to_numpy(), return_inverse=True)
    spelled: dict[str, str] = {}
    for name in classes:
        try:
            number = format(float(name), "g")
        except ValueError:
            continue
        if number in spelled:
            raise FormatError(
                f"{where}: {spelled[number]!r} and {str(name)!r} are the same number, which would be two classes; "
                "write each class one way"
            )
        spelled[number] = str(name)
    return y.astype(np.int64), [str(c) for c in classes]
