"""Memory bandwidth of this machine, measured with numpy copies, for the LLM roofline.

Decoding one token reads every weight once, so a memory-bound decoder cannot beat
``bandwidth / bytes_per_token`` tokens/s (the roofline model, Williams et al., CACM 2009).
The bandwidth is measured, never assumed: ``threads`` threads each copy their own slice of a
buffer much larger than the last-level cache with ``np.copyto`` (which releases the GIL);
a copy reads and writes every byte, so it moves ``2 x size`` bytes. Best of ``repeats``, since
the question is what the memory system can deliver.
"""

from __future__ import annotations

import itertools
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np


def measure_bandwidth(threads: int, size_bytes: int = 256 << 20, repeats: int = 5) -> dict[str, Any]:
    """Copy bandwidth in bytes/s with ``threads`` threads.

    Returns ``{"bytes_per_s", "threads", "size_bytes", "repeats", "method", "samples_bytes_per_s"}``.

    Raises:
        ValueError: ``threads``, ``size_bytes`` or ``repeats`` below 1.
    """
    if threads < 1 or size_bytes < 1 or repeats < 1:
        raise ValueError("threads, size_bytes and repeats must be at least 1")
    n = size_bytes // 8
    src = np.ones(n, dtype=np.float64)
    dst = np.zeros_like(src)
    bounds = np.linspace(0, n, threads + 1, dtype=np.int64)
    slices = [slice(int(a), int(b)) for a, b in itertools.pairwise(bounds)]

    def copy(sl: slice) -> None:
        np.copyto(dst[sl], src[sl])

    samples = []
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(copy, slices))  # touch every page first
        for _ in range(repeats):
            t0 = time.perf_counter()
            list(pool.map(copy, slices))
            samples.append(2 * n * 8 / (time.perf_counter() - t0))
    return {"bytes_per_s": max(samples), "threads": threads, "size_bytes": n * 8, "repeats": repeats,
            "method": "numpy copyto, read + write counted", "samples_bytes_per_s": samples}
