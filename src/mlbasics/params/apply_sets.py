"""Params' apply block: its mistakes named, and which of its sets the run keeps (a set whose dataset or variants
the run leaves out is left out, and said)."""

from __future__ import annotations

from pathlib import Path

from mlbasics.core.errors import ParamsError
from mlbasics.data.bundle import friend_name
from mlbasics.data.sources import cache_path
from mlbasics.params.grid import dataset_variants, expand_variants


def file_name(entry: str | dict) -> str:
    """An apply file's name: a local path's last part, a download's name."""
    return entry["name"] if isinstance(entry, dict) else Path(entry).name


def input_paths(params: dict, application: str) -> list[str]:
    """Where each file of a set is read: its local path, or a download's place in the cache
    (<download.cache_dir>/applied/<set>/<name>)."""
    cache = params["download"]["cache_dir"]
    return [
        cache_path(cache, f"applied/{application}", f["name"]) if isinstance(f, dict) else f
        for f in params["apply"][application]["files"]
    ]


def check_apply(params: dict) -> None:
    """The apply block: a defined dataset, defined variants, file names unique within a set (friends are named
    after them). A set whose dataset or variants the run leaves out is left out (apply_left_out)."""
    defined = {**params["variants"], **expand_variants(params["variants"])}
    for name, spec in params["apply"].items():
        if spec["dataset"] not in params["datasets"]:
            raise ParamsError(
                f"apply.{name}.dataset: unknown dataset {spec['dataset']!r} (defined in datasets: "
                f"{', '.join(sorted(params['datasets']))})"
            )
        for i, variant in enumerate(spec["variants"]):
            if variant not in defined:
                raise ParamsError(
                    f"apply.{name}.variants[{i}]: unknown variant {variant!r} (defined in variants: "
                    f"{', '.join(sorted(params['variants']))})"
                )
        files = [file_name(f) for f in spec["files"]]
        for key in ("processes", "data"):
            for i, named in enumerate(spec.get(key, [])):
                if named not in files:
                    where = f"{key}.{named}" if key == "processes" else f"{key}[{i}]"
                    raise ParamsError(
                        f"apply.{name}.{where}: {named!r} is not one of the set's files ({', '.join(files)})"
                    )
        both = sorted(set(spec.get("processes", {})) & set(spec.get("data", [])))
        if both:
            raise ParamsError(f"apply.{name}.data: {both[0]!r} is data and a simulated process at once")
        names = [friend_name(file_name(f)) for f in spec["files"]]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ParamsError(f"apply.{name}.files: two files would both be scored into {twice[0]}")


def apply_sets(params: dict) -> dict[str, dict]:
    """The apply sets that run: those whose dataset and variants the run trains."""
    return {name: spec for name, spec in params["apply"].items() if not _apply_left_out(params, spec)}


def apply_left_out(params: dict) -> list[tuple[str, str]]:
    """(set, why) of every apply set the run leaves out."""
    return [(name, why) for name, spec in params["apply"].items() if (why := _apply_left_out(params, spec))]


def _apply_left_out(params: dict, spec: dict) -> str | None:
    if spec["dataset"] not in params["run"]["datasets"]:
        return f"dataset {spec['dataset']} is not in the run"
    trained = dataset_variants(params, spec["dataset"])
    missing = [v for v in spec["variants"] if v not in trained]
    return f"{', '.join(missing)} not trained on {spec['dataset']} in the run" if missing else None
