"""The preprocess stage: split, scale and save data/processed/<dataset>/."""

from __future__ import annotations

from mlbasics.data.arrays import load as load_raw
from mlbasics.data.preprocess import preprocess, save
from mlbasics.stages.settings import PreprocessSettings


def run(settings: PreprocessSettings, inputs: dict, outputs: dict, threads: int = 0) -> None:
    """The preprocess stage: raw .npz in; split, scaled arrays and the fitted scaler out."""
    raw = load_raw(inputs["raw"])
    arrays, scaler = preprocess(
        raw,
        split=settings.split,
        seed=settings.seed,
        pixel_scale=settings.pixel_scale,
        flatten=settings.flatten,
        scaler=settings.scaler,
    )
    shape = raw.x.shape[1:] if raw.x.ndim >= 3 else ()
    save(
        arrays, raw.class_names, outputs["data"], scaler, outputs["scaler"], shape, raw.feature_names, raw.origin_files
    )
