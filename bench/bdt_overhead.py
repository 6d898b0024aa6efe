"""A BDT through our train stage vs the direct scikit-learn call, same data, same trees, same run.

Ours: `mlbasics.train.run` - the train stage's function, as a pipeline job runs it: load data/processed/.../
data.npz, fit the BDT (scikit-learn's HistGradientBoostingClassifier) while recording the training and validation
loss and accuracy of every boosting iteration (on 10,000 events of each split drawn once,
methods/reference/bdt.py SCORED), save the model (skops, canonical), history.csv and run_stats.json. Direct:
`HistGradientBoostingClassifier(...).fit(x_train, y_train)` with the same settings and seed, no validation scoring
(the same trees: a test compares them). Ratio = ours / direct (> 1: we are slower);
each side best of `--repeats`, alternating.

Data: 100,000 x 20 training rows (and 25,000 validation, 25,000 test) of a two-class toy with a nonlinear
boundary, float32 as the preprocess stage writes them.

    .venv/bin/python bench/bdt_overhead.py [--rows 100000] [--features 20] [--repeats 3] [--max-iter 100]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def toy(rows: int, features: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {}
    for part, n in (("train", rows), ("val", rows // 4), ("test", rows // 4)):
        x = rng.normal(size=(n, features)).astype(np.float32)
        logit = x[:, :5].sum(axis=1) + x[:, 5] * x[:, 6] - 0.5 * x[:, 7] ** 2 + rng.normal(size=n)
        arrays[f"x_{part}"], arrays[f"y_{part}"] = x, (logit > 0).astype(np.int64)
    return arrays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-iter", type=int, default=100)
    args = parser.parse_args()

    from sklearn.ensemble import HistGradientBoostingClassifier

    from mlbasics.core.files import read_csv
    from mlbasics.data import preprocess
    from mlbasics.params import config
    from mlbasics.stages import train
    from mlbasics.stages.settings import TrainSettings

    arrays = toy(args.rows, args.features)
    folder = Path(tempfile.mkdtemp(prefix="bdt-bench-"))
    data = folder / "data.npz"
    preprocess.save(
        arrays, ["background", "signal"], data, preprocess.fit_scaler("none", arrays["x_train"]), folder / "scaler.json"
    )
    defaults = config.model_defaults()
    block = {**defaults["bdt"], "max_iter": args.max_iter}
    settings = {
        "dataset": "bench",
        "variant": "bdt",
        "seed": 42,
        "model": {"method": "bdt", "task": "auto", "event_weights": defaults["event_weights"], "bdt": block},
    }
    outputs = {
        "model": folder / "model",
        "history": folder / "history.csv",
        "stats": folder / "run_stats.json",
        "scores": folder / "scores.npz",
        "bundle": folder / "bundle.json",
    }
    threads = os.cpu_count() or 1

    def ours() -> float:
        start = time.perf_counter()
        train.run(TrainSettings(**settings), {"data": data, "scaler": folder / "scaler.json"}, outputs, threads=threads)
        return time.perf_counter() - start

    def direct() -> float:
        estimator = HistGradientBoostingClassifier(
            max_iter=block["max_iter"],
            learning_rate=block["learning_rate"],
            max_depth=block["max_depth"],
            max_leaf_nodes=block["max_leaf_nodes"],
            min_samples_leaf=block["min_samples_leaf"],
            l2_regularization=block["l2_regularization"],
            max_bins=block["max_bins"],
            max_features=block["max_features"],
            early_stopping=False,
            random_state=42,
        )
        start = time.perf_counter()
        estimator.fit(arrays["x_train"], arrays["y_train"])
        return time.perf_counter() - start

    ours(), direct()  # warm: imports, first-call costs
    times: dict[str, list[float]] = {"ours": [], "direct": []}
    for _ in range(args.repeats):
        times["ours"].append(ours())
        times["direct"].append(direct())
    best = {k: min(v) for k, v in times.items()}
    ratio = best["ours"] / best["direct"]
    iterations = len(read_csv(outputs["history"]))
    print(f"BDT, {args.rows:,} x {args.features} training rows, {iterations} boosting iterations, {threads} threads")
    runs = {k: ", ".join(f"{t:.3f}" for t in v) for k, v in times.items()}
    print(f"  direct scikit-learn fit: {best['direct']:.3f} s (runs: {runs['direct']})")
    print(f"  our train stage (fit, history, model, files): {best['ours']:.3f} s (runs: {runs['ours']})")
    print(f"  ratio ours / direct: {ratio:.3f}")
    print(
        json.dumps(
            {
                "bench": "bdt_overhead",
                "rows": args.rows,
                "features": args.features,
                "iterations": iterations,
                "threads": threads,
                "direct_s": round(best["direct"], 3),
                "ours_s": round(best["ours"], 3),
                "ratio": round(ratio, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
