"""Summary statistics of latency samples.

Percentiles use numpy's default linear interpolation (Hyndman & Fan type 7), the same
definition as ``statistics.quantiles(method="inclusive")``.
"""

from __future__ import annotations

import statistics
from typing import Any


def percentile(samples: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``samples`` by linear interpolation (type 7).

    Raises:
        ValueError: for an empty sample list or ``q`` outside [0, 100].
    """
    if not samples:
        raise ValueError("no samples")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} outside [0, 100]")
    ordered = sorted(samples)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summarize_latency(rounds: list[list[float]], batch_size: int) -> dict[str, Any]:
    """Latency summary of timed runs grouped by round (ms per run).

    Returns p50/p90/p99/mean/stdev (ms), ``cv`` (stdev / mean), the per-round medians, the
    sample count, and ``throughput_items_per_s`` = items processed / total timed seconds.
    """
    samples = [s for r in rounds for s in r]
    mean = statistics.fmean(samples)
    stdev = statistics.stdev(samples) if len(samples) > 1 else 0.0
    return {
        "p50_ms": percentile(samples, 50),
        "p90_ms": percentile(samples, 90),
        "p99_ms": percentile(samples, 99),
        "mean_ms": mean,
        "stdev_ms": stdev,
        "cv": stdev / mean if mean > 0 else float("nan"),
        "round_medians_ms": [statistics.median(r) for r in rounds],
        "count": len(samples),
        "rounds": len(rounds),
        "throughput_items_per_s": batch_size * len(samples) / (sum(samples) / 1000.0),
    }


def drift_ratio(rounds: list[list[float]]) -> float:
    """Stability over time: the median of the later half of the rounds' medians over the
    median of the earlier half's (1.0 = no drift; 1.3 = 30% slower by the end). NaN with
    fewer than two rounds."""
    if len(rounds) < 2:
        return float("nan")
    medians = [statistics.median(r) for r in rounds]
    half = len(medians) // 2
    return statistics.median(medians[-half:]) / statistics.median(medians[:half])


def prediction_histogram(classes: list[int]) -> dict[str, Any]:
    """How a classifier's top-1 predictions spread over classes, for the collapse flag.

    ``classes`` holds one predicted class per eval item. Returns ``items``,
    ``distinct_classes``, ``top_class``, ``top_share`` (fraction of items given the most
    frequent class, in [0, 1]) and ``counts`` (the 10 most frequent classes as
    ``[class, count]`` pairs).

    Raises:
        ValueError: for an empty list.
    """
    from collections import Counter

    if not classes:
        raise ValueError("no predictions")
    counts = Counter(classes).most_common()
    return {"items": len(classes), "distinct_classes": len(counts), "top_class": counts[0][0],
            "top_share": counts[0][1] / len(classes), "counts": [list(c) for c in counts[:10]]}
