"""A trained model's input columns of a CSV or Parquet table, read in chunks: what apply scores a table with."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from mlbasics.core import formats
from mlbasics.data.bundle import is_table


def table_chunks(path: str | Path, columns: list[str], step: int = 100_000) -> Iterator[np.ndarray]:
    """A trained model's input columns of every row of a CSV or Parquet table, in chunks of `step` rows, in row
    order: float64 rows x columns, nan where a cell is missing or not a number. A missing column is named before
    any chunk is returned."""
    import pandas as pd

    path = Path(path)
    suffix = path.suffix.lower()
    if not is_table(path.name):
        raise formats.FormatError(f"{path.name}: unknown table format {suffix!r} (use .csv or .parquet)")
    names = formats.header(path, suffix)
    missing = [c for c in columns if c not in names]
    if missing:
        raise formats.FormatError(f"{path.name}: column {missing[0]!r} not found (columns: {', '.join(names)})")
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        frames = (b.to_pandas() for b in pq.ParquetFile(path).iter_batches(batch_size=step, columns=columns))
    else:
        frames = pd.read_csv(path, usecols=columns, chunksize=step, dtype=str)
    for frame in frames:
        yield frame[columns].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
