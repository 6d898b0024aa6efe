"""The application report of one apply set: what the physicist draws next - per score branch, the response of
every input file after the selection, weighted, the simulated processes stacked (files of one process summed) and
recorded data as points with their statistical errors; and the yields, per file, as JSON.

It reads the set's friend files (or a table's Parquet scores) and, where the set names a `weight`, that branch or
expression of each input file, entry-aligned with its friend.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlbasics.core.files import write_json
from mlbasics.core.formats import FormatError
from mlbasics.core.plots import PALETTE, fixed_margins, plt, save_figure
from mlbasics.data import bundle as bundles
from mlbasics.data import root_files, table_inputs


@dataclass(frozen=True)
class Sample:
    """One input file's scores (each score branch, passing entries only) and weights."""

    file: str
    process: str | None  # None: recorded data
    scores: dict[str, np.ndarray]
    weights: np.ndarray
    entries: int


def read_sample(path: str, friend: Path, spec: dict) -> Sample:
    """A file's passing entries: their scores from its friend, their weights from the input (the set's `weight`)."""
    name = Path(path).name
    columns = _friend_columns(friend)
    passes = np.asarray(columns.pop("pass_selection"), bool)
    weights = np.ones(len(passes))
    if spec.get("weight"):
        weights = _weights(Path(path), spec.get("tree"), spec["weight"], len(passes))
    process = None if name in spec.get("data", []) else spec.get("processes", {}).get(name, name)
    return Sample(name, process, {k: v[passes] for k, v in columns.items()}, weights[passes], len(passes))


def _friend_columns(friend: Path) -> dict[str, np.ndarray]:
    if friend.suffix == ".parquet":
        import pandas as pd

        frame = pd.read_parquet(friend)
        return {k: frame[k].to_numpy() for k in frame.columns}
    import uproot

    with uproot.open(friend) as file:
        [tree] = [k.split(";")[0] for k, v in file.classnames().items() if v.startswith("TTree")]
        return file[tree].arrays(library="np")


def _weights(path: Path, tree: str | None, weight: str, entries: int) -> np.ndarray:
    """The weight of every entry of an input, in entry order (a table's weight column)."""
    if bundles.is_table(path.name):
        values = np.concatenate(list(table_inputs.table_chunks(path, [weight])))[:, 0]
    else:
        opened, _, _ = root_files.check_tree(path, tree or root_files.only_tree(path), [weight], None)
        values = np.asarray(opened.arrays([weight], library="np")[weight], np.float64)
    if values.shape != (entries,) or not np.isfinite(values).all():
        raise FormatError(f"{path.name}: weight {weight!r} is not one finite number per entry")
    return values


def run(name: str, spec: dict, paths: list[str], friends: list[Path], outputs: dict) -> None:
    """The set's figure (outputs["figure"]) and yields (outputs["yields"]) from its friends, in the files' order;
    `paths`: where each input file is read (its weights)."""
    samples = [read_sample(path, friend, spec) for path, friend in zip(paths, friends, strict=True)]
    branches = list(samples[0].scores)
    draw(name, samples, branches, outputs["figure"], weighted=bool(spec.get("weight")))
    write_json(
        outputs["yields"],
        {
            s.file: {
                "process": s.process or "data",
                "entries": s.entries,
                "passing": len(s.weights),
                "weighted": float(s.weights.sum()),
            }
            for s in samples
        },
    )
    print(f"apply report {name}: {len(samples)} file(s), {len(branches)} score branch(es) -> {outputs['figure']}")


def draw(name: str, samples: list[Sample], branches: list[str], path: str | Path, weighted: bool) -> None:
    """A panel per score branch: the simulation stacked by process, data as points."""
    cols = min(len(branches), 3)
    rows = -(-len(branches) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.0 * rows), squeeze=False)
    for ax, branch in zip(axes.flat, branches, strict=False):
        _panel(ax, samples, branch, weighted)
    for ax in axes.flat[len(branches) :]:
        ax.axis("off")
    fig.suptitle(f"{name}: the response of each input, after the selection")
    fixed_margins(fig, cols, rows, top=0.62 if rows == 1 else 0.7, vgap=0.8)
    save_figure(fig, path, laid_out=True)


def _panel(ax, samples: list[Sample], branch: str, weighted: bool, bins: int = 40) -> None:
    values = np.concatenate([s.scores[branch] for s in samples]) if samples else np.array([0.0])
    low, high = (0.0, 1.0) if values.size and values.min() >= 0 and values.max() <= 1 else _range(values)
    edges = np.linspace(low, high, bins + 1)
    processes = list(dict.fromkeys(s.process for s in samples if s.process is not None))
    stacked = (
        [np.concatenate([s.scores[branch] for s in samples if s.process == p]) for p in processes],
        [np.concatenate([s.weights for s in samples if s.process == p]) for p in processes],
    )
    if processes:
        ax.hist(
            stacked[0],
            edges,
            weights=stacked[1],
            stacked=True,
            histtype="stepfilled",
            alpha=0.6,
            color=[PALETTE[k % len(PALETTE)] for k in range(len(processes))],
            label=processes,
        )
    data = [s for s in samples if s.process is None]
    if data:
        scores = np.concatenate([s.scores[branch] for s in data])
        w = np.concatenate([s.weights for s in data])
        counts, _ = np.histogram(scores, edges, weights=w)
        errors = np.sqrt(np.histogram(scores, edges, weights=w**2)[0])
        centres = 0.5 * (edges[1:] + edges[:-1])
        ax.errorbar(centres, counts, yerr=errors, fmt="o", ms=3, color="black", label="data")
    ax.set_xlabel(branch)
    ax.set_ylabel("weighted entries" if weighted else "entries")
    ax.legend(fontsize=7)


def _range(values: np.ndarray) -> tuple[float, float]:
    low, high = np.percentile(values, [0.5, 99.5]) if values.size else (0.0, 1.0)
    return float(low), float(high if high > low else low + 1.0)
