"""Hand-built measurements for tests, through the typed document (gate.documents.Measurements).

A test chooses the figures; the document, its schema version and its physical checks are the
ones `gate measure` writes through. Samples are constant unless a test passes its own, so
every interval is the point (gate/verdict/intervals.py has its own tests of the bootstrap).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gate.documents import Artifact, FileRecord, Measurements

BASELINE = {"latency_p50_ms": 17.0, "model_memory_bytes": 90e6, "model_size_bytes": 90e6, "nn10_overlap": 1.0}
PASSING = {"latency_p50_ms": 5.0, "model_memory_bytes": 30e6, "model_size_bytes": 23e6, "nn10_overlap": 0.97}
#: fast and small but keeps only 80% of the neighbours: FAIL on accuracy-kept
FAILING_OVERLAP = {**PASSING, "nn10_overlap": 0.80}
BEFORE_LOAD = 50_000_000.0
FINGERPRINT: dict[str, Any] = {"id": "fp-test", "cpu_model": "test CPU", "isa": ["avx2", "avx512_vnni"],
                               "usable_cores": 2}


def artifact(precision: str = "int8", backend: str = "onnxruntime", files: Sequence[FileRecord] = (),
             details: dict[str, Any] | None = None, size_bytes: int = 1) -> Artifact:
    """An artifact record: ``files``, else one ``model.onnx`` of ``size_bytes`` (the folder
    itself is absent, which the evidence chain allows: a decide job holds no baseline)."""
    return Artifact(format="onnx", backend=backend, precision=precision, entry="model.onnx",
                    files=list(files) or [FileRecord(path="model.onnx", size_bytes=size_bytes, sha256="0" * 64)],
                    details=details or {"method": "dynamic", "per_channel": True})


def side(metrics: dict[str, float], art: Artifact, fingerprint: dict[str, Any]) -> dict[str, Any]:
    """One side as `gate measure` writes it (flat metrics, latency summary, memory readings)."""
    p50 = metrics["latency_p50_ms"]
    flat = {"latency_p90_ms": p50 * 1.1, "latency_p99_ms": p50 * 1.3, "throughput_items_per_s": 1000.0 / p50,
            "peak_rss_bytes": BEFORE_LOAD + metrics["model_memory_bytes"], "cosine_mean": 0.99, "cosine_p5": 0.97,
            **metrics}
    latency = {"p50_ms": p50, "p90_ms": flat["latency_p90_ms"], "p99_ms": flat["latency_p99_ms"], "cv": 0.0,
               "count": 100, "rounds": 5, "throughput_items_per_s": flat["throughput_items_per_s"]}
    return {"artifact": art.dump(), "metrics": flat, "latency": latency, "rss_before_load_bytes": BEFORE_LOAD,
            "rss_after_load_bytes": BEFORE_LOAD + metrics["model_memory_bytes"],
            "peak_rss_bytes": flat["peak_rss_bytes"], "model_memory_bytes": metrics["model_memory_bytes"],
            "load_s": 0.1, "fingerprint": fingerprint, "runtime": {}}


def samples(metrics: dict[str, float], overlap: Sequence[float] | None = None) -> dict[str, Any]:
    """Per-round latency, per-process memory and per-item fidelity samples of ``metrics``."""
    return {
        "rounds": [[metrics["latency_p50_ms"]] * 20 for _ in range(5)],
        "memory": [{"rss_before_load_bytes": BEFORE_LOAD, "peak_rss_bytes": BEFORE_LOAD + metrics["model_memory_bytes"],
                    "model_memory_bytes": metrics["model_memory_bytes"]}] * 3,
        "items": {"overlap": list(overlap) if overlap is not None else [metrics["nn10_overlap"]] * 600,
                  "cosine": [0.99] * 600},
    }


def measurements(model: str, target: str, config_hash: str, candidate: dict[str, float], *,
                 baseline: dict[str, float] | None = None, target_id: str = "",
                 candidate_artifact: Artifact | None = None, baseline_artifact: Artifact | None = None,
                 overlap: Sequence[float] | None = None, fingerprint: dict[str, Any] | None = None,
                 primary: str = "nn10_overlap") -> Measurements:
    """A :class:`Measurements` document with the given figures (validated by the model)."""
    base = baseline or BASELINE
    if overlap is not None:  # the figure is the mean of its item scores, as measured
        candidate = {**candidate, "nn10_overlap": statistics.fmean(overlap)}
    fp = dict(fingerprint or FINGERPRINT)
    # the artifact's files add up to the figure, as in a measured document (gate.verdict.consistency)
    cand_art = candidate_artifact or artifact(size_bytes=int(candidate["model_size_bytes"]))
    base_art = baseline_artifact or artifact(precision="fp32", details={}, size_bytes=int(base["model_size_bytes"]))
    sides = {"baseline": samples(base), "candidate": samples(candidate, overlap)}
    doc = {
        "schema": "edge-gate/measurements/v1", "model": model, "target": target, "target_id": target_id,
        "config_hash": config_hash, "inputs_sha256": "0" * 64, "primary_metric": primary, "eval_items": 600,
        "settings": {"threads": 2, "interleaved": True, "batch_size": 1}, "fingerprint": fp,
        "versions": {"edge-gate": "0.1.0", "onnxruntime": "1.32.0"},
        "baseline": side(base, base_art, fp), "candidate": side(candidate, cand_art, fp),
        "samples": {
            "latency_rounds_ms": {role: s["rounds"] for role, s in sides.items()},
            "memory": {role: s["memory"] for role, s in sides.items()},
            "items": {role: s["items"] for role, s in sides.items()},
        },
    }
    return Measurements.from_dict(doc, f"{model}/{target} (test)")


def write_measurements(root: Path, loaded: Any, target: str, candidate: dict[str, float], **kw: Any) -> Path:
    """Write ``target``'s measurements of the loaded manifest where `gate decide` reads them."""
    from gate import layout

    m = measurements(loaded.manifest.name, target, loaded.config_hash(target), candidate,
                     target_id=loaded.target(target).target_id(), **kw)
    path = root / layout.measurements_file(loaded.manifest.name, target)
    m.write(path)
    return path
