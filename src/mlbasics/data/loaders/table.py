"""The table loader: your own CSV or Parquet table, local (`path`) or downloaded (`files`)."""

from __future__ import annotations

from pathlib import Path

from mlbasics.core import formats
from mlbasics.data.arrays import Dataset, fold_values, group_ids
from mlbasics.data.loaders.base import Loader, receipt_file


def table(
    receipt: dict,
    label: str,
    features: list[str] | None = None,
    path: str | None = None,
    weight: str | None = None,
    drop_invalid: bool = False,
    group: list[str] | None = None,
    fold_by: str | None = None,
) -> Dataset:
    """Your own CSV or Parquet table: a label column and feature columns (class names from the labels; a
    float label column with non-integer values gives float targets, a regression), optionally a weight column
    and the columns naming the event each row belongs to (`group`)."""
    source = Path(path) if path else receipt_file(receipt, receipt["files"][0]["name"])
    wanted = [*(group or []), *([fold_by] if fold_by else [])]  # fold_by: read like a group column, not an input
    x, y, names, columns, w, keys = formats.read_table(source, label, features, drop_invalid, weight, wanted or None)
    where = f"{source.name}, label column {label!r}"
    if not features:  # the job log says what the model will see
        print(f"{source.name}: inputs (every column but label, weight, group and identifiers): {', '.join(columns)}")
    folds = fold_values(keys.pop(), fold_by, source.name) if fold_by else None
    return Dataset(x, y, names, where, w, columns, group_ids(keys) if keys else None, fold_key=folds)


def _table_problem(options: dict) -> str | None:
    return "files: loader 'table' reads one file" if len(options.get("files", [])) > 1 else None


LOADERS = [
    Loader(
        "table",
        table,
        options=frozenset({"path", "files", "label", "features", "weight", "drop_invalid", "group", "seed"}),
        required=frozenset({"label"}),
        receipt=True,
        local=True,
        inputs="features",
        check=_table_problem,
    ),
]
