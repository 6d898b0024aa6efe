"""The dataset stage: build data/raw/<dataset>.npz and its preview figure from the dataset's source."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from mlbasics.core import formats, plots
from mlbasics.core.files import read_json
from mlbasics.data.arrays import check, is_colour, save, subsample, yields
from mlbasics.data.loaders import make
from mlbasics.stages.settings import DatasetSettings


def run(settings: DatasetSettings, inputs: dict, outputs: dict, threads: int = 0) -> None:
    """The dataset stage: read the source (a generated one written into the dataset's folder of files, which
    exists, empty, for the others), subsample, convert colour to greyscale unless asked not to, write
    data/raw/<dataset>.npz and the preview figure."""
    options = settings.options
    receipt = read_json(inputs["receipt"])
    Path(outputs["files"]).mkdir(parents=True, exist_ok=True)
    dataset = make(settings.loader, options, receipt, folder=outputs["files"], fold_by=settings.fold_by)
    dataset = replace(dataset, source=dataset.source or f"dataset {settings.dataset!r}")
    for row in yields(dataset) if dataset.processes else []:
        counted = f"{row['entries']} entries, {row['expected']:.6g} expected"
        print(f"{settings.dataset}: {row['process']} ({row['class']}): {counted}")
    dataset = subsample(dataset, options.get("max_samples"), options.get("seed", 0))
    check(dataset)
    colour = None
    if is_colour(dataset.x) and not options.get("color", False):
        colour = dataset.x
        dataset = replace(dataset, x=formats.to_greyscale(dataset.x))
    plots.preview(
        dataset.x,
        dataset.y,
        dataset.class_names,
        settings.dataset,
        outputs["preview"],
        colour=colour,
        feature_names=dataset.feature_names,
    )
    save(dataset, outputs["raw"])
