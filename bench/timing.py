"""In-process timing shared by the benchmarks: warm up, then time each run on its own."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Literal

_SCALE = {"us": 1e3, "ms": 1e6}


def timed(
    run: Callable[[], object], n: int, *, warmup: int, unit: Literal["us", "ms"]
) -> dict[str, float]:
    """Rate and mean, median, p95 and fastest of `n` runs, in `unit`, after `warmup` runs
    (to warm caches and the allocator)."""
    for _ in range(warmup):
        run()
    samples: list[int] = []
    clock = time.perf_counter_ns
    for _ in range(n):
        start = clock()
        run()
        samples.append(clock() - start)
    samples.sort()
    mean_ns = statistics.fmean(samples)
    scale = _SCALE[unit]
    return {
        "n": n,
        "per_second": 1e9 / mean_ns,
        f"mean_{unit}": mean_ns / scale,
        f"median_{unit}": statistics.median(samples) / scale,
        f"p95_{unit}": samples[int(0.95 * (n - 1))] / scale,
        f"min_{unit}": samples[0] / scale,
    }


def pin_to_one_core() -> str:
    """Run on one CPU, so a figure is one core's and the scheduler does not move us."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned"
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return f"pinned to CPU {cpu}"
