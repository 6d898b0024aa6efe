"""What k folds cost: the default grid's hep dataset (its six variants: four MLPs, the BDT, Fisher) run through
Snakemake from nothing, once with its single train/validation/test split and once with `split: {folds: 5,
fold_by: eventNumber}` on the dataset; each run's wall time and the sum of its trainings' own times (run_stats.json
train_wall_s), and the ratios, 5 folds / one split. Each run is a fresh copy of the project with tracking offline.

    .venv/bin/python bench/folds.py [--folds 5] [--cores 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def project(folder: Path, folds: int) -> Path:
    """A copy of the project's tracked files whose params run the default grid on hep alone."""
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for rel in listed:
        source = ROOT / rel
        if source.is_file() and not source.is_symlink():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, folder / rel)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["run"]["datasets"] = ["hep"]
    params["apply"] = {}
    params["tracking"]["mode"] = "offline"
    if folds > 1:
        params["datasets"]["hep"]["split"] = {"folds": folds, "fold_by": "eventNumber"}
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run([sys.executable, "-m", "mlbasics", "dvc-yaml"], cwd=folder, check=True, capture_output=True)
    return folder


def timed_run(folder: Path, cores: int) -> dict:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", str(cores)], cwd=folder, check=True, capture_output=True
    )
    wall = time.perf_counter() - started
    trainings = sum(
        json.loads(p.read_text())["train_wall_s"] for p in folder.glob("models/hep/*/fold-*/run_stats.json")
    )
    if not trainings:
        trainings = sum(json.loads(p.read_text())["train_wall_s"] for p in folder.glob("models/hep/*/run_stats.json"))
    return {"wall_s": round(wall, 1), "training_s": round(trainings, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="folds-bench-") as tmp:
        single = timed_run(project(Path(tmp) / "single", 1), args.cores)
        folded = timed_run(project(Path(tmp) / "folded", args.folds), args.cores)
    ratio = {k: round(folded[k] / single[k], 2) for k in single}
    print(f"hep, default grid (6 variants), {args.cores} cores")
    print(f"  one split : {single['wall_s']:7.1f} s wall, {single['training_s']:7.1f} s in trainings")
    print(f"  {args.folds} folds   : {folded['wall_s']:7.1f} s wall, {folded['training_s']:7.1f} s in trainings")
    print(f"  ratio     : {ratio['wall_s']:.2f} x wall, {ratio['training_s']:.2f} x trainings")
    print(json.dumps({"bench": "folds", "folds": args.folds, "single": single, "folded": folded, "ratio": ratio}))


if __name__ == "__main__":
    main()
