"""Measuring on this machine: median wall times, peak resident memory, the device, its
matmul peak and its XOR + popcount / memory-copy reference. Shared by the benchmark
suite (suite.py) and the scaling runs (scale.py, scale_training.py)."""

from __future__ import annotations

import os
import platform
import resource
import statistics
import time
from collections.abc import Callable
from typing import Any

import numba
import numpy as np

from ssah_tf.evaluation.kernels import popcount64


def median_seconds(fn: Callable[[], Any], repeats: int, per: float = 1.0) -> float:
    """Median wall time of ``fn`` over ``repeats`` calls, divided by ``per``."""
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) / per


def peak_rss_gib() -> float:
    """Peak resident set size of this process so far, in GiB (2^30 bytes; Linux reports
    KiB): the suite's unit."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 30) * (1 if platform.system() == "Darwin" else 1024)


def peak_rss_gb() -> float:
    """This process's peak resident set size so far, in GB (10^9 bytes; Linux reports
    KiB): the scaling runs' unit."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def device_description() -> dict[str, Any]:
    import tensorflow as tf

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    gpus = [
        tf.config.experimental.get_device_details(g).get("device_name", g.name)
        for g in tf.config.list_physical_devices("GPU")
    ]
    return {
        "cpu": cpu,
        "cpu_cores": os.cpu_count(),
        "gpus": gpus,
        "tensorflow": tf.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
    }


def matmul_gflops(size: int, dtype: str, repeats: int) -> float:
    """Achieved GFLOP/s of one size x size matmul in ``dtype`` (2 n^3 flops)."""
    import tensorflow as tf

    a = tf.random.normal([size, size], dtype=tf.float32)
    a, b = tf.cast(a, dtype), tf.cast(tf.transpose(a), dtype)
    matmul = tf.function(lambda x, y: tf.reduce_sum(tf.cast(tf.matmul(x, y)[:1, :1], tf.float32)))
    matmul(a, b).numpy()  # warm-up
    seconds = median_seconds(lambda: matmul(a, b).numpy(), repeats)
    return 2 * size**3 / seconds / 1e9


@numba.njit(nogil=True, cache=True)
def _xor_popcount_sum(a, b):
    total = 0
    for i in range(a.shape[0]):
        total += popcount64(a[i] ^ b[i])
    return total


def hardware_reference(repeats: int, words: int = 50_000_000) -> dict[str, float]:
    """XOR + popcount of 64-bit words per second (one core) and memory copy GB/s."""
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2**63, words, dtype=np.uint64)
    b = rng.integers(0, 2**63, words, dtype=np.uint64)
    _xor_popcount_sum(a[:10], b[:10])
    seconds = median_seconds(lambda: _xor_popcount_sum(a, b), repeats)
    out = np.empty_like(a)
    copy = median_seconds(lambda: np.copyto(out, a), repeats)
    return {
        "xor_popcount_words_per_s": words / seconds,
        "memory_copy_gb_per_s": 2 * a.nbytes / copy / 1e9,  # read + write
    }
