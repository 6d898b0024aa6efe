"""The process a TensorFlow stage runs in: threads, quiet logs, GPU memory, glibc's allocator, and the
distribution strategy over the visible GPUs. Called before any TensorFlow op runs."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import threading

# TensorFlow's C++ start-up lines (absl's log format, before Python can configure it; TF_CPP_MIN_LOG_LEVEL does not
# reach them): oneDNN, no CUDA driver, failed cuInit, the CPU features it was not built for. Nothing a user acts on.
NATIVE_NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|[IWE]\d{4} [\d:.]+ +\d+ (port|cudart_stub|cpu_feature_guard|cuda_platform|cuda_executor)\.cc:\d+\] "
    rb"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags)"
)


def quiet_native_stderr() -> callable:
    """Keep TensorFlow's C++ start-up lines out of the job's log (NATIVE_NOISE): file descriptor 2 becomes a pipe
    that a thread copies to the real stderr, line by line, without them. Returns the function that puts stderr
    back (and waits for the copy); it also runs at exit, so nothing written before is lost."""
    import atexit

    original = os.dup(2)
    read, write = os.pipe()
    os.dup2(write, 2)
    os.close(write)

    def copy() -> None:
        with os.fdopen(read, "rb") as source, os.fdopen(os.dup(original), "wb", buffering=0) as target:
            for line in source:
                if not NATIVE_NOISE.match(line):
                    target.write(line)

    thread = threading.Thread(target=copy, name="quiet-stderr", daemon=True)
    thread.start()
    restored: list[bool] = []

    def restore() -> None:
        import sys

        if restored:
            return
        restored.append(True)
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        if thread.is_alive():  # (not in a process forked since: its copy of the thread is gone)
            os.dup2(original, 2)  # closes the pipe's last write end: the copy reads to its end
            thread.join(timeout=5)
        with contextlib.suppress(OSError):
            os.close(original)

    atexit.register(restore)
    return restore


def configure_tensorflow(threads: int) -> None:
    """Quiet TensorFlow and limit it to the job's threads (0 = all cores). Call before any TF op runs."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import tensorflow as tf

    if threads > 0 and tf.config.threading.get_intra_op_parallelism_threads() != threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # TF already ran ops in this process (a library caller): keep its pools
            pass
    # the GPUs this job may use (SLURM sets CUDA_VISIBLE_DEVICES): take memory as needed, not the whole card,
    # so that several jobs can share one
    for gpu in tf.config.list_physical_devices("GPU"):
        with contextlib.suppress(RuntimeError):  # already initialised in this process
            tf.config.experimental.set_memory_growth(gpu, True)
    import keras

    keras.config.disable_interactive_logging()  # no progress bars (escape codes) in job logs


@functools.cache
def tune_allocator() -> bool:
    """Keep freed memory in glibc's heap instead of unmapping it. TensorFlow mallocs and frees every step's
    megabyte-sized gradients; by default glibc serves those with mmap/munmap, so each step page-faults them
    in again until its adaptive threshold catches up - the first two epochs of the MNIST MLP ran 1.5 x slower.
    Fixed thresholds (what MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ would set at start-up) end that.
    Process-wide and idempotent; False where the C library is not glibc."""
    import ctypes
    import platform

    if platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3  # <malloc.h>
    return all(
        libc.mallopt(option, value) == 1
        for option, value in ((m_mmap_threshold, 64 << 20), (m_trim_threshold, 1 << 30), (m_top_pad, 64 << 20))
    )


def distribution_strategy():
    """Data-parallel training over every visible GPU when there are several; None (the default strategy)
    on one GPU or on CPUs."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    return tf.distribute.MirroredStrategy() if len(gpus) > 1 else None
