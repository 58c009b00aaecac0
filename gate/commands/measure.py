"""``gate measure MANIFEST --target T``: DVC stage that measures baseline and candidate.

Writes ``build/gate/<model>/targets/<T>/measurements.json`` (schema
``edge-gate/measurements/v1``): per side the latency summary and raw samples (ms), throughput
(items/s), RSS before load, peak RSS and the memory the model costs (bytes), size on disk
(bytes, every file of the artifact), fidelity metrics against the baseline; plus the hardware
fingerprint, the settings, tool versions and the hashes of everything it was computed from.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import shutil
from pathlib import Path
from typing import Any

from gate.errors import ExitCode

SCHEMA = "edge-gate/measurements/v1"


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("measure", help="(DVC stage) measure baseline and candidate of one target")
    p.add_argument("manifest", type=Path)
    p.add_argument("--target", required=True)


def flat_metrics(side: dict[str, Any], size_bytes: int, accuracy: dict[str, float]) -> dict[str, float]:
    """The metric names policies use (see :data:`gate.policy.GENERIC_METRICS`)."""
    lat = side["latency"]
    return {
        "latency_p50_ms": lat["p50_ms"],
        "latency_p90_ms": lat["p90_ms"],
        "latency_p99_ms": lat["p99_ms"],
        "throughput_items_per_s": lat["throughput_items_per_s"],
        "peak_rss_bytes": float(side["peak_rss_bytes"]),
        "model_memory_bytes": float(side["model_memory_bytes"]),
        "model_size_bytes": float(size_bytes),
        **accuracy,
    }


def run(args: argparse.Namespace) -> int:
    import numpy as np

    import gate
    from gate import layout, progress
    from gate.backends.base import Artifact, write_json_atomic
    from gate.config import sha256_file
    from gate.fingerprint import fingerprint
    from gate.manifest import load_manifest
    from gate.measure.harness import WorkerSpec, measure_pair
    from gate.plan import check_fresh
    from gate.tasks import get_task

    loaded = load_manifest(args.manifest)
    root = Path.cwd()
    check_fresh(loaded, root)
    m = loaded.manifest
    target = loaded.target(args.target)
    base_dir = root / layout.baseline_dir(m.name)
    cand_dir = root / layout.candidate_dir(m.name, target.name)
    inputs = root / layout.inputs_file(m.name)
    base_art, cand_art = Artifact.read(base_dir), Artifact.read(cand_dir)
    s = m.measure
    with progress.step(
        f"{m.name}/{target.name}: measuring baseline and candidate interleaved "
        f"({s.rounds} rounds, {s.timed_runs} timed runs each, {s.threads} threads)"
    ):
        result = measure_pair(
            WorkerSpec("baseline", m.baseline.backend, base_dir),
            WorkerSpec("candidate", target.backend, cand_dir),
            task=m.task, inputs=inputs, threads=s.threads, warmup_runs=s.warmup_runs,
            timed_runs=s.timed_runs, rounds=s.rounds, batch_size=m.input.batch_size,
            timeout_s=s.timeout_s, progress=progress.log,
        )
    try:
        task = importlib.import_module(get_task(m.task).module)
        reference = np.load(result["outputs"]["baseline"])
        with np.load(inputs) as data:  # labels, for tasks that have them
            accuracy = {
                "baseline": task.score(reference, reference, inputs=data),
                "candidate": task.score(reference, np.load(result["outputs"]["candidate"]), inputs=data),
            }
    finally:
        shutil.rmtree(result["output_dir"], ignore_errors=True)
    sides: dict[str, Any] = {}
    for role, art in (("baseline", base_art), ("candidate", cand_art)):
        side = result[role]
        sides[role] = {
            "artifact": art.model_dump(mode="json"),
            "metrics": flat_metrics(side, art.size_bytes, accuracy[role]),
            "latency": side["latency"],
            "rss_before_load_bytes": side["rss_before_load_bytes"],
            "rss_after_load_bytes": side["rss_after_load_bytes"],
            "peak_rss_bytes": side["peak_rss_bytes"],
            "model_memory_bytes": side["model_memory_bytes"],
            "load_s": side["load_s"],
            "runtime": side["runtime"],
        }
    doc = {
        "schema": SCHEMA,
        "model": m.name,
        "target": target.name,
        "target_id": target.target_id(),
        "config_hash": loaded.config_hash(target.name),
        "inputs_sha256": sha256_file(inputs),
        "primary_metric": m.eval.primary,
        "eval_items": int(reference.shape[0]),
        "settings": {
            **s.model_dump(), "batch_size": m.input.batch_size,
            "sequence_length": m.input.sequence_length, "interleaved": True,
            "intra_op_spinning": False,
            "memory_note": "model_memory_bytes = peak RSS of the worker process minus its RSS "
                           "after importing the runtime and before loading the model",
        },
        "fingerprint": fingerprint(threads=s.threads),
        "versions": {
            "edge-gate": gate.__version__, "python": platform.python_version(),
            "numpy": np.__version__,
            **result["baseline"]["versions"], **result["candidate"]["versions"],
        },
        "baseline": sides["baseline"],
        "candidate": sides["candidate"],
    }
    out = root / layout.measurements_file(m.name, target.name)
    write_json_atomic(out, doc)
    b, c = sides["baseline"]["metrics"], sides["candidate"]["metrics"]
    progress.log(
        f"{m.name}/{target.name}: p50 {b['latency_p50_ms']:.2f} -> {c['latency_p50_ms']:.2f} ms, "
        f"model memory {b['model_memory_bytes'] / 1e6:.1f} -> {c['model_memory_bytes'] / 1e6:.1f} MB, "
        f"{m.eval.primary} {c[m.eval.primary]:.4f}"
    )
    return ExitCode.PASS
