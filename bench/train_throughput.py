"""Training throughput of our engine vs a plain Keras script, against the machine's matmul peak, in one run.

The MNIST-sized MLP (784-512-512-10, ReLU, softmax, adam, batch 128) trained for a few epochs on the same
60,000 x 784 float32 data (and the same 1,000 validation rows) by
  - ours:  `mlbasics.methods.KerasMLP.fit` - the pipeline's engine, per-epoch checkpoints included;
  - peer:  a plain `model.fit(x, y, batch_size=128, validation_data=...)`;
each in its own process (TensorFlow's settings are per process), timed from building the model to the end of
the last epoch, best of --repeats alternating runs; plus a TF 2048x2048 matmul as the peak. Each in float32 and
in mixed bfloat16 (`precision: bfloat16` for ours, Keras' mixed_bfloat16 policy for the peer; weights, optimizer
and output float32), each against its own peak (the matmul in float32, in bfloat16). The CPU's features that
matter (AVX2, AVX-512, AVX512_BF16, AMX) are printed with the figures.
Achieved GFLOP/s count 6 x batch x weights FLOPs per training step (forward 2, backward 4).

    .venv/bin/python bench/train_throughput.py [--epochs 3] [--threads 0] [--precisions float32,bfloat16]

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
    dtype = {"float32": tf.float32, "bfloat16": tf.bfloat16}[sys.argv[4]]
    a = tf.cast(tf.random.normal((2048, 2048)), dtype); b = tf.cast(tf.random.normal((2048, 2048)), dtype)
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
    keras.mixed_precision.set_global_policy({"float32": "float32", "bfloat16": "mixed_bfloat16"}[sys.argv[4]])
    start = time.perf_counter()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(512, activation="relu"),
                              keras.layers.Dense(512, activation="relu"),
                              keras.layers.Dense(10, activation="softmax", dtype="float32")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(d["x_train"], d["y_train"], batch_size=128, epochs=epochs, validation_data=(d["x_val"], d["y_val"]),
              verbose=0)
    print(json.dumps({"seconds": time.perf_counter() - start}))
""")

OURS = PRELUDE + textwrap.dedent("""
    import tempfile
    from mlbasics.params import config
    from mlbasics.methods import training as methods
    d = dict(np.load(sys.argv[1])); epochs = int(sys.argv[3])
    spec = {**config.model_defaults(), "hidden_layers": [512, 512], "activation": "relu", "optimizer": "adam",
            "batch_size": 128, "precision": sys.argv[4]}
    with tempfile.TemporaryDirectory() as ckpt:
        start = time.perf_counter()  # as for the peer: building, tracing and every epoch
        methods.KerasMLP({**spec, "epochs": epochs}).fit(d, "multiclass", 10, 0, checkpoint_dir=ckpt)
        print(json.dumps({"seconds": time.perf_counter() - start}))
""")


def run(script: str, data: Path, threads: int, epochs: int, precision: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", script, str(data), str(threads), str(epochs), precision],
        capture_output=True,
        text=True,
        env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": ""},
    )
    if done.returncode != 0:
        sys.exit(f"benchmark step failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def cpu_features() -> str:
    """The CPU model and the instruction sets that decide a matmul's speed, as /proc/cpuinfo names them."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return "unknown CPU"
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "CPU")
    flags = set(next((line.split() for line in lines if line.startswith("flags")), []))
    wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16")
    return f"{model}: " + (" ".join(f for f in wanted if f in flags) or "no AVX2")


def measure(data: Path, args: argparse.Namespace, precision: str) -> dict:
    peak = max(run(MATMUL, data, args.threads, args.epochs, precision)["gflops"] for _ in range(args.repeats))
    peer, ours = float("inf"), float("inf")
    for _ in range(args.repeats):  # alternate, keep the best of each: this machine's speed drifts
        peer = min(peer, run(PEER, data, args.threads, args.epochs, precision)["seconds"])
        ours = min(ours, run(OURS, data, args.threads, args.epochs, precision)["seconds"])
    samples = 60_000 * args.epochs
    flops = 6 * WEIGHTS * samples  # 6 x batch x weights per step, summed over the steps
    return {
        "matmul_peak_gflops": round(peak, 1),
        "ours_samples_per_s": round(samples / ours),
        "peer_samples_per_s": round(samples / peer),
        "ratio": round(peer / ours, 3),
        "ours_gflops": round(flops / ours / 1e9, 1),
        "peer_gflops": round(flops / peer / 1e9, 1),
        "ours_peak_fraction": round(flops / ours / 1e9 / peak, 3),
        "peer_peak_fraction": round(flops / peer / 1e9 / peak, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="a few: the fixed costs weigh more on fewer")
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow threads (0: all cores)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each; the best counts")
    parser.add_argument("--precisions", default="float32,bfloat16", help="comma-separated: float32, bfloat16")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.npz"
        np.savez(
            data,
            x_train=rng.random((60_000, 784), dtype=np.float32),
            y_train=rng.integers(0, 10, 60_000),
            x_val=rng.random((1_000, 784), dtype=np.float32),
            y_val=rng.integers(0, 10, 1_000),
        )
        for precision in args.precisions.split(","):
            results[precision] = measure(data, args, precision)
    print(cpu_features())
    for precision, r in results.items():
        print(f"{precision}: matmul peak (TF 2048x2048) {r['matmul_peak_gflops']} GFLOP/s")
        for who in ("ours", "peer"):
            print(
                f"  {who}: {r[f'{who}_samples_per_s']:>8} samples/s  {r[f'{who}_gflops']:>6} GFLOP/s  "
                f"{r[f'{who}_peak_fraction']:.2f} of the {precision} peak"
            )
        print(f"  ours / peer samples/s: {r['ratio']:.2f}")
    if {"float32", "bfloat16"} <= set(results):
        print(
            f"ours, bfloat16 / float32 samples/s: "
            f"{results['bfloat16']['ours_samples_per_s'] / results['float32']['ours_samples_per_s']:.2f}"
        )
    print(
        json.dumps(
            {
                "epochs": args.epochs,
                "repeats": args.repeats,
                "threads": args.threads,
                "batch_size": BATCH,
                "weights": WEIGHTS,
                "cpu": cpu_features(),
                **{p: r for p, r in results.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
