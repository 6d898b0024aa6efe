"""Scoring a big ROOT file: `apply` (ours) vs the direct library path, same file, same models, same run.

Ours: `mlbasics.stages.apply.apply` - what `python -m mlbasics apply` runs: check the tree, then read it in chunks
of 100,000 entries (uproot `iterate`), compute the bundle's inputs, scale, score with each model and append the
chunk's scores to the friend tree (uproot `mktree` + `extend`), written under a temporary name and renamed.
Direct: the libraries called by hand on the whole file at once - uproot `arrays` of every branch, the scaler's
numbers, the Keras model called on 4,096 rows at a time and scikit-learn's `predict_proba`, one uproot `extend`.
Ratio = ours / direct events per second (< 1: we are slower). Each side runs in its own process (its peak RSS is
its own), best of `--repeats`, alternating.

Data: a generated ROOT file of `--events` x `--branches` float32 branches (tree `events`); an MLP (two hidden
layers of 32) and a BDT (100 iterations) trained on 50,000 other events of the same two classes.

    .venv/bin/python bench/apply_throughput.py [--events 1000000] [--branches 30] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TREE, STEP = "events", 100_000


def events(n: int, branches: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two classes, the signal shifted in the first ten variables and correlated differently."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.5).astype(np.int64)
    x = rng.normal(size=(n, branches)).astype(np.float32)
    x[:, :10] += 0.4 * y[:, None]
    x[:, 1] += 0.5 * y * x[:, 0]
    return x, y


def write_input(path: Path, n: int, branches: int) -> None:
    import uproot

    with uproot.recreate(path) as file:
        file.mktree(TREE, {f"var{j}": np.float32 for j in range(branches)})
        for start in range(0, n, 250_000):
            x, _ = events(min(250_000, n - start), branches, seed=start + 1)
            file[TREE].extend({f"var{j}": x[:, j] for j in range(branches)})


def train_models(folder: Path, branches: int) -> None:
    """An MLP and a BDT through the train stage, laid out as the pipeline lays them out (dataset `bench`)."""
    from mlbasics.data import preprocess
    from mlbasics.data.arrays import Dataset
    from mlbasics.params import config
    from mlbasics.pipeline import declarations as stages
    from mlbasics.stages import train
    from mlbasics.stages.settings import TrainSettings

    x, y = events(50_000, branches, seed=0)
    names = [f"var{j}" for j in range(branches)]
    raw = Dataset(x, y, ["background", "signal"], feature_names=names)
    arrays, scaler = preprocess.preprocess(raw, split={"train": 0.6, "validation": 0.2, "test": 0.2}, seed=0)
    data, scaler_path = folder / "data.npz", folder / "scaler.json"
    preprocess.save(arrays, raw.class_names, data, scaler, scaler_path, feature_names=names)
    defaults = config.model_defaults()
    for variant, spec in (
        ("mlp", {**defaults, "hidden_layers": [32, 32], "epochs": 3}),
        ("bdt", {k: v for k, v in {**defaults, "method": "bdt"}.items() if k in ("method", "task", "bdt")}),
    ):
        spec.setdefault("event_weights", defaults["event_weights"])
        outputs = {
            k: folder / v.format(dataset="bench", variant=variant) for k, v in stages.STAGES["train"].outputs.items()
        }
        train.run(
            TrainSettings("bench", variant, 0, spec, loader="root"), {"data": data, "scaler": scaler_path}, outputs, 0
        )


def ours(folder: Path, source: Path, out: Path) -> None:
    from mlbasics.pipeline import declarations as stages
    from mlbasics.stages import apply as scoring

    models = scoring.read_models("bench", ["mlp", "bdt"], str(folder / stages.BUNDLE), str(folder / stages.MODEL))
    scoring.apply(models, [(source, TREE)], out)


def direct(folder: Path, source: Path, out: Path) -> None:
    import keras
    import uproot
    from skops.io import get_untrusted_types, load

    from mlbasics.core.files import read_json
    from mlbasics.methods.mlp import register_custom_layers
    from mlbasics.methods.training import configure_tensorflow

    configure_tensorflow(0)
    register_custom_layers()
    bundle = read_json(folder / "models/bench/mlp/bundle.json")
    offset, scale = np.asarray(bundle["scaler"]["offset"]), np.asarray(bundle["scaler"]["scale"])
    mlp = keras.saving.load_model(folder / "models/bench/mlp/model/model.keras")
    skops_file = folder / "models/bench/bdt/model/model.skops"
    bdt = load(skops_file, trusted=get_untrusted_types(file=skops_file))
    read = uproot.open(source)[TREE].arrays(bundle["inputs"], library="np")
    x = ((np.column_stack([read[name] for name in bundle["inputs"]]) - offset) / scale).astype(np.float32)
    score_mlp = np.concatenate([np.asarray(mlp(x[i : i + 4096], training=False)) for i in range(0, len(x), 4096)])
    score_bdt = bdt.predict_proba(x)[:, 1].astype(np.float32)
    with uproot.recreate(out / source.name) as file:
        file.mktree(TREE, {"score_mlp": np.float32, "score_bdt": np.float32})
        file[TREE].extend({"score_mlp": score_mlp[:, 0], "score_bdt": score_bdt})


def side(name: str, folder: Path, source: Path) -> None:
    """One timed side in this process: its seconds (the libraries imported before, the models loaded within),
    its resident memory before (now) and its peak (the imports' included), as one JSON line."""
    import keras  # noqa: F401 - both sides' imports, outside the timing
    import skops.io  # noqa: F401
    import uproot  # noqa: F401

    from mlbasics.stages import apply  # noqa: F401

    out = Path(tempfile.mkdtemp(prefix=f"apply-{name}-", dir=folder))
    before = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    started = time.perf_counter()
    (ours if name == "ours" else direct)(folder, source, out)
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"side": name, "seconds": elapsed, "rss_before_mb": before, "peak_rss_mb": peak}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--branches", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--side", choices=["ours", "direct"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.side:
        side(args.side, args.folder, args.folder / "input.root")
        return
    folder = Path(tempfile.mkdtemp(prefix="apply-bench-"))
    write_input(folder / "input.root", args.events, args.branches)
    train_models(folder, args.branches)
    best: dict[str, dict] = {}
    for _ in range(args.repeats):
        for name in ("ours", "direct"):
            found = (
                subprocess.run(
                    [sys.executable, __file__, "--side", name, "--folder", str(folder)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                .stdout.strip()
                .splitlines()[-1]
            )
            result = json.loads(found)
            if name not in best or result["seconds"] < best[name]["seconds"]:
                best[name] = result
    rate = {name: args.events / best[name]["seconds"] for name in best}
    for name in ("ours", "direct"):
        seconds, peak, before = (best[name][k] for k in ("seconds", "peak_rss_mb", "rss_before_mb"))
        print(
            f"{name:>6}: {seconds:6.2f} s, {rate[name]:,.0f} events/s, peak RSS {peak:.0f} MB ({before:.0f} MB before)"
        )
    print(f"ratio (ours / direct events/s): {rate['ours'] / rate['direct']:.2f}")
    print(
        json.dumps(
            {
                "bench": "apply_throughput",
                "events": args.events,
                "branches": args.branches,
                "ours_s": round(best["ours"]["seconds"], 3),
                "direct_s": round(best["direct"]["seconds"], 3),
                "ratio": round(rate["ours"] / rate["direct"], 3),
                "ours_peak_rss_mb": round(best["ours"]["peak_rss_mb"]),
                "direct_peak_rss_mb": round(best["direct"]["peak_rss_mb"]),
                "rss_before_mb": round(best["ours"]["rss_before_mb"]),
            }
        )
    )


if __name__ == "__main__":
    main()
