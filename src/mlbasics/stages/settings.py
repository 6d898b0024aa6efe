"""Each stage's settings as a typed record: what one job of the stage reads from params, nothing more.

The stage declarations (pipeline/declarations.py) build them from the params keys each stage declares; they
travel to a job as one line of YAML (Snakemake's rule params, which rerun the job when they change) and the CLI
turns that back into the record with `parse`, refusing a key the stage does not know. A stage's `run` reads
attributes, never string keys. The model spec stays a mapping - its keys depend on the method - typed as
`ModelSpec`, whose every key has its default and description in the params schema.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any, TypedDict


class ModelSpec(TypedDict, total=False):
    """A run's model: the dataset's base model with the variant's changes, reduced to the keys its method reads
    (params.grid.model_spec). The MLP's keys, the keys every method shares, and a reference method's own block."""

    method: str  # mlp, or a reference method (methods/reference/)
    task: str  # auto, binary, multiclass, regression
    event_weights: dict[str, Any]  # negative: keep | ignore | abs; balance_classes
    backend: str  # keras | numpy
    hidden_layers: list[int]
    activation: str
    leaky_slope: float
    swish_beta: float
    elu_alpha: float
    initializer: str
    init_scale: float
    dropout: float
    l2: float
    optimizer: str
    learning_rate: float
    momentum: float
    nesterov: bool
    rho: float
    beta_1: float
    beta_2: float
    lr_schedule: dict[str, Any] | None
    early_stopping: dict[str, Any] | None
    epochs: int
    batch_size: int
    warm_start: str | None
    mixed_precision: bool
    precision: str  # float32 | bfloat16 | float16
    bdt: dict[str, Any]
    random_forest: dict[str, Any]
    fisher: dict[str, Any]
    likelihood: dict[str, Any]
    knn: dict[str, Any]


@dataclass(frozen=True)
class SourceSettings:
    """download, dataset: where one dataset's data comes from (`files`: the pinned remote files it reads)."""

    dataset: str
    loader: str
    options: dict[str, Any]
    files: list[dict[str, str]]


@dataclass(frozen=True)
class DownloadSettings(SourceSettings):
    cache_dir: str
    policy: dict[str, Any]  # mirrors, retries, timeout: passed beside the settings, so changing it reruns nothing


@dataclass(frozen=True)
class DatasetSettings(SourceSettings):
    fold_by: str | None = None  # split.fold_by: read beside the inputs, it decides each event's fold


@dataclass(frozen=True)
class PreprocessSettings:
    dataset: str
    seed: int
    split: dict[str, float]  # train, validation, test fractions
    pixel_scale: float | None
    flatten: bool
    scaler: str


@dataclass(frozen=True)
class RunSettings:
    """train, evaluate: one variant on one dataset."""

    dataset: str
    variant: str
    seed: int
    model: ModelSpec


@dataclass(frozen=True)
class TrainSettings(RunSettings):
    # what the model's bundle says of its inputs' source: the loader and the selection (options.selection)
    loader: str = ""
    selection: str | None = None
    fold: int | None = None  # train_fold: the fold it is scored on (it trains on the others)


@dataclass(frozen=True)
class FoldsSettings:
    """folds: join one variant's k fold trainings."""

    dataset: str
    variant: str
    folds: int
    fold_by: str | None = None


@dataclass(frozen=True)
class EvaluateSettings(RunSettings):
    overtraining: dict[str, Any]  # patience, min_rise, ks_min_p, ... (params' overtraining)
    bootstrap: dict[str, Any]  # resamples, confidence
    expected: dict[str, float] | None = None  # expected signal and background yields (params' expected_yields)
    figures: bool = True  # draw the variant's figures (params' figures.per_variant)
    tracking: dict[str, Any] | None = None  # passed beside the settings: pointing MLflow elsewhere reruns nothing


@dataclass(frozen=True)
class ReportSettings:
    dataset: str
    variants: list[str]
    bootstrap: dict[str, Any]
    figures: bool
    methods: dict[str, str]  # variant -> its method
    described: dict[str, str]  # variant -> its settings in one line (methods/registry.describe)
    overtraining: dict[str, Any]  # the rules the verdicts' reasons quote
    playground: dict[str, dict[str, Any]]  # each MLP variant's activation, learning rate, ... (report/playground.py)
    loader: str  # the dataset's loader (the two Gaussians' page draws their Bayes boundary)
    units: dict[str, str]  # the inputs' units, by input or branch name (params' datasets.<d>.units)


@dataclass(frozen=True)
class GridSettings:
    """summary, check, track: the whole grid - its datasets and its (dataset, variant) pairs."""

    datasets: list[str]
    pairs: list[list[str]]


@dataclass(frozen=True)
class SummarySettings(GridSettings):
    methods: list[str]  # each pair's method


@dataclass(frozen=True)
class CheckSettings(GridSettings):
    gates: dict[str, Any]


@dataclass(frozen=True)
class TrackSettings(GridSettings):
    tracking: dict[str, Any]


SETTINGS: dict[str, type] = {
    "download": DownloadSettings,
    "dataset": DatasetSettings,
    "preprocess": PreprocessSettings,
    "train": TrainSettings,
    "train_fold": TrainSettings,
    "folds": FoldsSettings,
    "evaluate": EvaluateSettings,
    "report": ReportSettings,
    "summary": SummarySettings,
    "check": CheckSettings,
    "track": TrackSettings,
}


class SettingsError(ValueError):
    """Settings a stage cannot take: a missing or unknown key (named)."""


def parse(stage: str, mapping: dict[str, Any]) -> Any:
    """A stage's settings record from their mapping (the JSON or YAML a job got), refusing missing and unknown
    keys by name."""
    kind = SETTINGS[stage]
    names = {f.name for f in fields(kind)}
    unknown = sorted(set(mapping) - names)
    if unknown:
        raise SettingsError(f"{stage}: unknown setting {unknown[0]!r} (its settings: {', '.join(sorted(names))})")
    missing = [f.name for f in fields(kind) if f.default is MISSING and f.name not in mapping]
    if missing:
        raise SettingsError(f"{stage}: setting {missing[0]!r} missing")
    return kind(**mapping)


def select(stage: str, mapping: dict[str, Any]) -> dict[str, Any]:
    """The part of a mapping that a stage's record takes: settings written once for several stages (a script
    running train then evaluate on the same variant)."""
    names = {f.name for f in fields(SETTINGS[stage])}
    return {k: v for k, v in mapping.items() if k in names}


def as_mapping(settings: Any) -> dict[str, Any]:
    """The record as the plain mapping it was built from (what the rules pass, and what a run's fingerprint
    hashes)."""
    return asdict(settings)
