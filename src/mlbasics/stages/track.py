"""The track stage (last, local): every run record of the grid in MLflow, each exactly once; each dataset's best
run's model registered with the alias champion (tracking/champions.py)."""

from __future__ import annotations

from mlbasics.stages.settings import TrackSettings
from mlbasics.tracking import champions
from mlbasics.tracking.runs import resolve_uri, sync


def run(settings: TrackSettings, inputs: dict, outputs: dict, threads: int = 0) -> None:
    """The track stage (last, local): every run record of the grid into the store, each exactly once."""
    track = settings.tracking
    uri = resolve_uri(track["uri"])
    summary = sync(uri, track["experiment"], inputs["runs"], outputs["runs"], track.get("log_models", True))
    print(
        f"track: {summary['runs']} runs in {uri} (experiment {track['experiment']}), "
        f"{summary['imported_now']} imported now"
    )
    best = champions.crowned(uri, track["experiment"], summary["records"]) if track.get("log_models", True) else []
    for line, _ in best:  # the registry holds models: none without them
        print(f"track: {line}", flush=True)
    files = [inputs["index"], inputs["summary"]]
    parent = champions.summarise(uri, track["experiment"], summary["records"], [run for _, run in best], files)
    print(f"track: the summary and the index page on the pipeline's run {parent}", flush=True)
