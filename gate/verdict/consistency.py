"""Measurements that contradict themselves are not judged.

``measurements.json`` carries both the summary figures the rules read (``metrics``) and the raw
samples their intervals resample. A document written by the measure stage agrees with itself;
one edited by hand usually does not (a smaller ``latency_p50_ms`` above unchanged samples, a
``model_size_bytes`` that is not the sum of the artifact's files). :func:`inconsistency` finds
the first such contradiction, and ``gate decide`` makes the target ERROR with it instead of
judging figures nobody measured. It is a consistency check, not a signature: a forger who
rewrites samples and figures together is stopped by the evidence chain only from the decision
on (:mod:`gate.lineage.evidence`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping

from gate.documents import MEASUREMENTS_SCHEMA, ROLES, Measurements
from gate.measure.summary import percentile

#: Relative tolerance between a summary figure and the same figure recomputed from its samples
#: (both are computed in float64 from the same numbers: only rounding separates them).
REL_TOL = 1e-6


def _close(recorded: float, recomputed: float, abs_tol: float = 1e-9) -> bool:
    return math.isclose(recorded, recomputed, rel_tol=REL_TOL, abs_tol=abs_tol)


def inconsistency(doc: Measurements, *, model: str, target: str, primary: str,
                  item_statistics: Mapping[str, tuple[str, str]]) -> str | None:
    """The first way ``doc`` contradicts itself or the manifest it is judged for, else None.

    Checks, per side: the schema version; ``model``, ``target`` and ``primary_metric`` are the
    manifest's; ``model_size_bytes`` is the sum of the artifact's recorded files; ``latency_p50_ms``
    is the median of the latency samples (:func:`gate.measure.summary.percentile`);
    ``model_memory_bytes`` is the median of the fresh processes' figures (within a byte, since
    the stage rounds it to whole bytes); every metric that is a mean of per-item scores
    (``item_statistics`` ``(key, "mean")``) is the mean of those scores.
    """
    if doc.schema_ != MEASUREMENTS_SCHEMA:
        return f"schema {doc.schema_!r} is not {MEASUREMENTS_SCHEMA!r}"
    if doc.model != model or doc.target != target:
        return f"written for {doc.model}/{doc.target}, judged as {model}/{target}"
    if doc.primary_metric != primary:
        return f"primary metric {doc.primary_metric!r}, the manifest's is {primary!r}"
    for role in ROLES:
        side = doc.side(role)
        m = side.metrics
        size = side.artifact.size_bytes
        if "model_size_bytes" in m and m["model_size_bytes"] != size:
            return f"{role} model_size_bytes {m['model_size_bytes']:g}, but its artifact's files add up to {size}"
        rounds = doc.samples.latency_rounds_ms.get(role)
        if rounds and "latency_p50_ms" in m:
            p50 = percentile([s for r in rounds for s in r], 50)
            if not _close(m["latency_p50_ms"], p50):
                return f"{role} latency_p50_ms {m['latency_p50_ms']:g}, but its latency samples' median is {p50:g}"
        memory = doc.samples.memory.get(role)
        if memory and "model_memory_bytes" in m:
            med = statistics.median(float(p["model_memory_bytes"]) for p in memory)
            if not _close(m["model_memory_bytes"], med, abs_tol=1.0):
                return (f"{role} model_memory_bytes {m['model_memory_bytes']:g}, but its processes' median "
                        f"is {med:g}")
        items = doc.samples.items.get(role, {})
        for metric, (key, statistic) in item_statistics.items():
            scores = items.get(key)
            if statistic == "mean" and scores and metric in m:
                mean = statistics.fmean(scores)
                if not _close(m[metric], mean):
                    return f"{role} {metric} {m[metric]:g}, but the mean of its {len(scores)} item scores is {mean:g}"
    return None
