"""The pipeline at real sizes: generated signal/background ntuples of 10^5, 10^6 (and, asked for, 10^7) events
through every stage, one job at a time, with each job's wall time, peak resident memory and events per second.

Each size gets a folder with one ROOT file (trees `signal` and `background`, half the events each, `--branches`
float32 variables and a weight), read through the root loader, and a params.yaml running an MLP (`--epochs`
epochs) and a BDT on it, tracking offline. Every stage runs as DVC runs it (`python -m mlbasics <stage> --params
params.yaml --dataset ... [--variant ...]`), inside a small wrapper process whose children's peak RSS is that
stage's alone. The reading ratio compares the dataset stage with uproot's own `arrays` of the same branches, each
a whole process (ours / direct events per second; the stage also imports more, writes the raw arrays and draws its
preview figure).

    .venv/bin/python bench/scale.py [--events 100000 1000000] [--branches 20] [--epochs 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
MEASURE = (
    "import resource, subprocess, sys, time; t = time.perf_counter(); code = subprocess.call(sys.argv[1:]); "
    "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, code)"
)


def write_ntuple(path: Path, events: int, branches: int, seed: int = 0) -> None:
    """Trees signal and background of events/2 each, written 500,000 entries at a time."""
    import uproot

    rng = np.random.default_rng(seed)
    types = {**{f"x{j}": np.float32 for j in range(branches)}, "w": np.float32}
    with uproot.recreate(path) as file:
        for tree, shift in (("signal", 0.3), ("background", 0.0)):
            file.mktree(tree, types)
            for start in range(0, events // 2, 500_000):
                n = min(500_000, events // 2 - start)
                x = rng.normal(size=(n, branches)).astype(np.float32)
                x[:, : branches // 2] += shift
                columns = {f"x{j}": x[:, j] for j in range(branches)}
                file[tree].extend({**columns, "w": rng.uniform(0.5, 1.5, n).astype(np.float32)})


def write_params(folder: Path, branches: int, epochs: int) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["run"] = {"datasets": ["scale"], "variants": ["baseline", "bdt"]}
    params["datasets"] = {
        "scale": {
            "loader": "root",
            "options": {
                "path": "scale.root",
                "signal": {"tree": "signal"},
                "background": {"tree": "background"},
                "branches": [f"x{j}" for j in range(branches)],
                "weight": "w",
            },
            "preprocess": {"scaler": "standard"},
            "model": {"hidden_layers": [64, 64], "epochs": epochs, "batch_size": 1024},
        }
    }
    params.update(gates=None, expected_yields=None, apply=None)
    params["tracking"]["mode"] = "offline"
    params["tracking"]["uri"] = "sqlite:///mlflow.db"
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def stage(folder: Path, name: str, *args: str) -> dict:
    command = [sys.executable, "-m", "mlbasics", name, "--params", "params.yaml", *args]
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, *command],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": str(Path(sys.executable).parent), "TF_CPP_MIN_LOG_LEVEL": "2", "MLBASICS_NO_WORKER": "1"},
    ).stdout.split()
    seconds, peak, code = float(out[-3]), float(out[-2]), int(out[-1])
    if code:
        raise SystemExit(f"{name} {' '.join(args)} failed in {folder} (exit {code})")
    return {"stage": f"{name} {args[-1] if name in ('train', 'evaluate') else ''}".strip(), "s": seconds, "mb": peak}


def uproot_read(folder: Path, branches: int) -> float:
    """Seconds for uproot's own `arrays` of the same branches (and weight) of both trees, as a whole process (its
    start and imports counted, as the stage's are)."""
    code = (
        "import uproot; f = uproot.open('scale.root'); "
        f"[f[t].arrays([f'x{{j}}' for j in range({branches})] + ['w'], library='np') for t in ('signal', "
        "'background')]"
    )
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=folder, check=True)
    return time.perf_counter() - started


def run_size(events: int, branches: int, epochs: int) -> dict:
    folder = Path(tempfile.mkdtemp(prefix=f"scale-{events}-"))
    write_ntuple(folder / "scale.root", events, branches)
    write_params(folder, branches, epochs)
    rows = [stage(folder, "download", "--dataset", "scale"), stage(folder, "dataset", "--dataset", "scale")]
    rows.append(stage(folder, "preprocess", "--dataset", "scale"))
    for variant in ("baseline", "bdt"):
        rows.append(stage(folder, "train", "--dataset", "scale", "--variant", variant))
        rows.append(stage(folder, "evaluate", "--dataset", "scale", "--variant", variant))
    rows.append(stage(folder, "report", "--dataset", "scale"))
    direct = uproot_read(folder, branches)
    reading = next(r for r in rows if r["stage"] == "dataset")["s"]
    return {"events": events, "stages": rows, "uproot_read_s": direct, "read_ratio": direct / reading}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--branches", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    results = []
    for events in args.events:
        found = run_size(events, args.branches, args.epochs)
        results.append(found)
        print(f"{events:,} events x {args.branches} branches")
        for row in found["stages"]:
            print(
                f"  {row['stage']:<20} {row['s']:8.1f} s {row['mb']:8.0f} MB peak {events / row['s']:12,.0f} events/s"
            )
        print(f"  dataset stage vs uproot arrays: {found['read_ratio']:.2f} ({found['uproot_read_s']:.1f} s direct)")
    summary = {
        "bench": "scale",
        "branches": args.branches,
        "epochs": args.epochs,
        **{
            str(r["events"]): {
                "peak_mb": round(max(s["mb"] for s in r["stages"])),
                "total_s": round(sum(s["s"] for s in r["stages"]), 1),
                "read_ratio": round(r["read_ratio"], 3),
            }
            for r in results
        },
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
