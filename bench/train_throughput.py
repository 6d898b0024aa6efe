"""Training throughput of our engine vs a plain Keras script, against the machine's matmul peak, in one run.

The MNIST-sized MLP (784-512-512-10, ReLU, softmax, adam, batch 128) trained for a few epochs on the same
60,000 x 784 float32 data (and the same 1,000 validation rows) by
  - ours:  `mlbasics.methods.KerasMLP.fit` - the pipeline's engine, per-epoch checkpoints included;
  - peer:  a plain `model.fit(x, y, batch_size=128, validation_data=...)`;
each in its own process (TensorFlow's settings are per process), timed from building the model to the end of
the last epoch, best of --repeats alternating runs; plus a TF fp32 2048x2048 matmul as the peak.
Achieved GFLOP/s count 6 x batch x weights FLOPs per training step (forward 2, backward 4).

    .venv/bin/python bench/train_throughput.py [--epochs 3] [--threads 0]

The last line printed is one JSON object with every figure, for tracking over time.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

LAYERS = [784, 512, 512, 10]
BATCH = 128
WEIGHTS = sum(a * b + b for a, b in itertools.pairwise(LAYERS))

PRELUDE = """
import json, sys, time, numpy as np, tensorflow as tf
threads = int(sys.argv[2])
if threads:
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
"""

MATMUL = PRELUDE + textwrap.dedent("""
    a = tf.random.normal((2048, 2048)); b = tf.random.normal((2048, 2048))
    for _ in range(3): tf.linalg.matmul(a, b).numpy()
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(10): c = tf.linalg.matmul(a, b)
        c.numpy()
        best = min(best, (time.perf_counter() - start) / 10)
    print(json.dumps({"gflops": 2 * 2048**3 / best / 1e9}))
""")

PEER = PRELUDE + textwrap.dedent("""
    import keras
    d = np.load(sys.argv[1]); epochs = int(sys.argv[3])
    start = time.perf_counter()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(512, activation="relu"),
                              keras.layers.Dense(512, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(d["x_train"], d["y_train"], batch_size=128, epochs=epochs, validation_data=(d["x_val"], d["y_val"]),
              verbose=0)
    print(json.dumps({"seconds": time.perf_counter() - start}))
""")

OURS = PRELUDE + textwrap.dedent("""
    import tempfile
    from mlbasics import config, methods
    d = dict(np.load(sys.argv[1])); epochs = int(sys.argv[3])
    spec = {**config.model_defaults(), "hidden_layers": [512, 512], "activation": "relu", "optimizer": "adam",
            "batch_size": 128}
    with tempfile.TemporaryDirectory() as ckpt:
        start = time.perf_counter()  # as for the peer: building, tracing and every epoch
        methods.KerasMLP({**spec, "epochs": epochs}).fit(d, "multiclass", 10, 0, checkpoint_dir=ckpt)
        print(json.dumps({"seconds": time.perf_counter() - start}))
""")


def run(script: str, data: Path, threads: int, epochs: int) -> dict:
    done = subprocess.run([sys.executable, "-c", script, str(data), str(threads), str(epochs)],
                          capture_output=True, text=True, env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": ""})
    if done.returncode != 0:
        sys.exit(f"benchmark step failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="a few: the fixed costs weigh more on fewer")
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow threads (0: all cores)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each; the best counts")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.npz"
        np.savez(data, x_train=rng.random((60_000, 784), dtype=np.float32), y_train=rng.integers(0, 10, 60_000),
                 x_val=rng.random((1_000, 784), dtype=np.float32), y_val=rng.integers(0, 10, 1_000))
        peak = max(run(MATMUL, data, args.threads, args.epochs)["gflops"] for _ in range(args.repeats))
        peer, ours = float("inf"), float("inf")
        for _ in range(args.repeats):  # alternate, keep the best of each: this machine's speed drifts
            peer = min(peer, run(PEER, data, args.threads, args.epochs)["seconds"])
            ours = min(ours, run(OURS, data, args.threads, args.epochs)["seconds"])
    samples = 60_000 * args.epochs
    flops = 6 * WEIGHTS * samples  # 6 x batch x weights per step, summed over the steps
    result = {
        "epochs": args.epochs, "repeats": args.repeats, "threads": args.threads, "batch_size": BATCH,
        "weights": WEIGHTS,
        "matmul_peak_gflops": round(peak, 1),
        "ours_samples_per_s": round(samples / ours), "peer_samples_per_s": round(samples / peer),
        "ratio": round(peer / ours, 3),
        "ours_gflops": round(flops / ours / 1e9, 1), "peer_gflops": round(flops / peer / 1e9, 1),
        "ours_peak_fraction": round(flops / ours / 1e9 / peak, 3),
        "peer_peak_fraction": round(flops / peer / 1e9 / peak, 3),
    }
    print(f"matmul peak (TF fp32 2048x2048): {result['matmul_peak_gflops']} GFLOP/s")
    print(f"ours: {result['ours_samples_per_s']:>8} samples/s  {result['ours_gflops']:>6} GFLOP/s  "
          f"{result['ours_peak_fraction']:.2f} of peak")
    print(f"peer: {result['peer_samples_per_s']:>8} samples/s  {result['peer_gflops']:>6} GFLOP/s  "
          f"{result['peer_peak_fraction']:.2f} of peak")
    print(f"ours / peer samples/s: {result['ratio']:.2f}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
