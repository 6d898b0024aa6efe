"""The input variables as TMVA reports them before any training: how well each one alone separates the
classes (the separation <S^2>, ranked), and how the inputs correlate within each class."""

from __future__ import annotations

import re

import numpy as np

from mlbasics.evaluation.response import separation, separation_edges, separations_of_histograms


def names_of(feature_names: list[str], n_inputs: int, units: dict[str, str] | None = None) -> list[str]:
    """The inputs' names: columns or branches where the data has them, else x0, x1, ... (pixels, toys); with
    `units` (by input or branch name), each with its unit: "jet_pt[0] [GeV]"."""
    names = list(feature_names) if len(feature_names) == n_inputs else [f"x{j}" for j in range(n_inputs)]
    return [with_unit(name, units or {}) for name in names]


def with_unit(name: str, units: dict[str, str]) -> str:
    """`name` with its unit, looked up by the whole name, then by the branch it reads (jet_pt[0], max(jet_pt):
    jet_pt's); the name alone where none is given."""
    branch = re.sub(r"^\w+\((.*)\)$", r"\1", name).split("[")[0]
    unit = units.get(name) or units.get(branch)
    return f"{name} [{unit}]" if unit else name


def separations(
    x: np.ndarray, y: np.ndarray, w: np.ndarray | None, n_classes: int, columns: list[int] | None = None
) -> np.ndarray:
    """Per input (the columns of x that `columns` lists, all by default, each read on its own: no copy of x):
    <S^2> of signal against background (two classes), the mean one-vs-rest separation (more classes); zeros for
    regression (no classes to separate)."""
    columns = list(range(x.shape[1])) if columns is None else list(columns)
    if n_classes < 2:
        return np.zeros(len(columns))
    pairs = [(1, y == 1)] if n_classes == 2 else [(k, y == k) for k in range(n_classes)]
    out = np.zeros(len(columns))
    if w is None:  # many inputs at once (784 pixels one by one took seconds), BLOCK bin numbers at a time
        step = max(1, BLOCK // max(len(x), 1))
        for first in range(0, len(columns), step):
            for _, mask in pairs:
                flat = _bin_numbers(x, columns[first : first + step], mask)
                out[first : first + step] += _separations_of(flat, mask, flat.shape[1])
        return out / len(pairs)
    for j, c in enumerate(columns):  # a column at a time, as float64: memory set by one column
        column = np.asarray(x[:, c], np.float64)
        for _, mask in pairs:
            out[j] += separation(column[mask], column[~mask], w[mask], w[~mask])
    return out / len(pairs)


BLOCK = 20_000_000  # bin numbers (rows x inputs) held at once


def _bin_numbers(x: np.ndarray, columns: list[int], mask: np.ndarray, bins: int = 40) -> np.ndarray:
    """Each value's bin (of x's `columns`) as response.separation bins it for the rows in `mask` against the rest
    (TMVA's range, separation_edges, as float64; left-closed bins, the last one closed: np.histogram's), numbered
    per (column, bin); a value beyond the range gets its column's extra bin, which is not counted."""
    index = np.empty((len(x), len(columns)), dtype=np.intp)
    for j, c in enumerate(columns):
        column = np.asarray(x[:, c], np.float64)
        edges = separation_edges(column[mask], column[~mask], bins=bins)
        found = np.minimum(np.searchsorted(edges, column, side="right") - 1, bins - 1)
        index[:, j] = np.where((column < edges[0]) | (column > edges[-1]), bins, found)
    return index + np.arange(len(columns)) * (bins + 1)


def _separations_of(flat: np.ndarray, mask: np.ndarray, n_cols: int, bins: int = 40) -> list[float]:
    """response.separation (unweighted) of every column, rows in `mask` against the rest, to the same bits."""
    hs = np.bincount(flat[mask].ravel(), minlength=n_cols * (bins + 1)).reshape(n_cols, bins + 1)[:, :bins]
    hb = np.bincount(flat[~mask].ravel(), minlength=n_cols * (bins + 1)).reshape(n_cols, bins + 1)[:, :bins]
    return separations_of_histograms(hs, hb)


def ranking(x: np.ndarray, y: np.ndarray, w: np.ndarray | None, n_classes: int, names: list[str]) -> list[dict]:
    """Inputs best separating first (constant inputs, such as border pixels, last): rank, name, separation."""
    values = separations(x, y, w, n_classes)
    order = sorted(range(len(values)), key=lambda j: (-values[j], j))
    return [{"rank": r + 1, "index": j, "name": names[j], "separation": float(values[j])} for r, j in enumerate(order)]


def correlations(
    x: np.ndarray, y: np.ndarray, w: np.ndarray | None, class_names: list[str], columns: list[int] | None = None
) -> dict[str, np.ndarray]:
    """The linear (weighted) correlation matrix of the inputs (the columns of x that `columns` lists, all by
    default), per class ("all events" for regression); computed ROWS rows at a time, in float64. Weighted by the
    events' signed weights, as TMVA does (negative weights subtract what they stand for) - unless they leave a class
    no positive weight or an input no positive variance: then by |w|, and the log says so."""
    columns = list(range(x.shape[1])) if columns is None else list(columns)
    groups = {name: y == k for k, name in enumerate(class_names)} or {"all events": np.ones(len(x), bool)}
    out = {}
    for name, mask in groups.items():
        with np.errstate(invalid="ignore", divide="ignore"):
            matrix = _signed_covariance(x, w, mask, columns, name) if mask.sum() > 1 else np.eye(len(columns))
            scale = np.sqrt(np.diag(matrix))
            out[name] = np.nan_to_num(matrix / np.outer(scale, scale))  # constant inputs: 0
    return out


def _signed_covariance(x: np.ndarray, w: np.ndarray | None, mask: np.ndarray, columns: list[int], name: str):
    if w is None:
        return _covariance(x, np.ones(len(x)), mask, columns)
    if w[mask].sum() > 0:
        matrix = _covariance(x, np.asarray(w, np.float64), mask, columns)
        if (np.diag(matrix) >= 0).all():
            return matrix
    print(f"correlations of {name}: its signed weights give no positive variance; weighted by |w|")
    return _covariance(x, np.abs(w), mask, columns)


ROWS = 1_000_000


def _covariance(x: np.ndarray, w: np.ndarray, mask: np.ndarray, columns: list[int]) -> np.ndarray:
    """The weighted covariance (up to a common factor, which a correlation divides out) of x's `columns` over the
    rows in `mask`: the weighted mean first, then the centred products, ROWS rows at a time."""
    index = np.asarray(columns)
    rows = [np.flatnonzero(mask[s : s + ROWS]) + s for s in range(0, len(x), ROWS)]
    # shifted by one row's values first: a constant input is then exactly 0, its variance 0 (correlation 0)
    shift = x[np.flatnonzero(mask)[0], index].astype(np.float64)
    total = sum(w[r].sum() for r in rows)
    mean = sum(w[r] @ (x[np.ix_(r, index)].astype(np.float64) - shift) for r in rows) / total
    out = np.zeros((len(index), len(index)))
    for r in rows:
        centred = x[np.ix_(r, index)].astype(np.float64) - shift - mean
        out += (centred * w[r][:, None]).T @ centred
    return out / total
