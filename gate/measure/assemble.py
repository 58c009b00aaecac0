"""From what the workers measured to ``measurements.json``, the same for every task.

Schema ``edge-gate/measurements/v1``: per side the artifact, the flat ``metrics`` policies name
(:func:`flat_metrics`), the latency summary, memory and load figures, the hardware fingerprint
its own worker read, and whatever the task adds (:meth:`gate.tasks.protocol.Task.describe`);
``samples`` holds what intervals resample: latency per round, memory per fresh process,
per-item eval scores, per-run records of the task (``samples.runs``, metric -> role -> list);
plus the settings, tool versions, the hashes it was computed from and ``notes`` (one-line
warnings the decision reports, e.g. a baseline that does not stand for its source).
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

from gate.errors import MeasurementError

SCHEMA = "edge-gate/measurements/v1"
ROLES = ("baseline", "candidate")


def flat_metrics(side: dict[str, Any], size_bytes: int, accuracy: dict[str, float]) -> dict[str, float]:
    """The metric names policies use (see :data:`gate.config.policy.GENERIC_METRICS`), then
    the task's own (``accuracy``: eval and timing metrics)."""
    from gate.measure.summary import drift_ratio, percentile

    lat = side["latency"]
    extra: dict[str, float] = {}
    if "load_test" in side:
        lt = side["load_test"]
        extra = {"load_throughput_items_per_s": lt["throughput_items_per_s"],
                 "load_latency_p99_ms": percentile(lt["latencies_ms"], 99)}
    return {
        **extra,
        "latency_drift_ratio": drift_ratio(side["rounds_ms"]),
        "latency_p50_ms": lat["p50_ms"],
        "latency_p90_ms": lat["p90_ms"],
        "latency_p99_ms": lat["p99_ms"],
        "latency_cv": lat["cv"],
        "latency_tail_ratio": lat["p99_ms"] / lat["p50_ms"],
        "throughput_items_per_s": lat["throughput_items_per_s"],
        "peak_rss_bytes": float(side["peak_rss_bytes"]),
        "model_memory_bytes": float(side["model_memory_bytes"]),
        "model_size_bytes": float(size_bytes),
        **accuracy,
    }


def task_settings(loaded: Any) -> dict[str, Any]:
    """The manifest section the task reads (:attr:`~gate.tasks.protocol.Task.settings_section`)
    as a dict; empty when the task has none."""
    from gate.tasks import get_task

    section = get_task(loaded.manifest.task).settings_section
    value = getattr(loaded.manifest, section, None) if section else None
    return value.model_dump() if value is not None else {}


def score_outputs(task: Any, outputs: dict[str, Path], inputs: Path) -> dict[str, Any]:
    """Score both sides' eval outputs (``.npy``, [n_items, ...]) against the baseline's.

    Returns ``metrics`` (role -> task metrics), ``items`` (role -> per-item score lists),
    ``predictions`` (role -> histogram, for tasks with predictions) and ``eval_items``.

    Raises:
        MeasurementError: the outputs cannot be scored (shapes differ, e.g. another vocabulary,
            non-finite values).
    """
    import numpy as np

    from gate.measure.summary import prediction_histogram

    reference = np.load(outputs["baseline"])
    arrays = {"baseline": reference, "candidate": np.load(outputs["candidate"])}
    try:
        with np.load(inputs) as data:  # labels or tokens, for tasks that score with them
            metrics = {role: task.score(reference, out, inputs=data) for role, out in arrays.items()}
            items = {role: {k: np.asarray(v).tolist() for k, v in task.item_scores(reference, out, inputs=data).items()}
                     for role, out in arrays.items()}
            predicted = {role: task.predictions(out, inputs=data) for role, out in arrays.items()}
    except ValueError as exc:
        raise MeasurementError(f"cannot score the eval outputs: {exc}") from None
    # classifiers: the spread of top-1 classes, for the collapse flag (gate.verdict.decision)
    histograms = {role: prediction_histogram([int(c) for c in p]) for role, p in predicted.items() if p is not None}
    return {"metrics": metrics, "items": items, "predictions": histograms, "eval_items": int(reference.shape[0])}


def _merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def build_document(loaded: Any, target: Any, task: Any, settings: dict[str, Any], result: dict[str, Any],
                   scored: dict[str, Any], timing: dict[str, dict[str, float]], looks: list[int],
                   inputs: Path, artifacts: dict[str, Any]) -> dict[str, Any]:
    """The ``measurements.json`` document of one target (see the module docstring)."""
    import numpy as np

    import gate
    from gate.config.schema import sha256_file
    from gate.tasks.protocol import SideRecord

    m = loaded.manifest
    s = m.measure
    sides: dict[str, Any] = {}
    for role in ROLES:
        side, art = result[role], artifacts[role]
        sides[role] = {
            "artifact": art.model_dump(mode="json"),
            "metrics": flat_metrics(side, art.size_bytes, {**scored["metrics"][role], **timing.get(role, {})}),
            "latency": side["latency"],
            "rss_before_load_bytes": side["rss_before_load_bytes"],
            "rss_after_load_bytes": side["rss_after_load_bytes"],
            "peak_rss_bytes": side["peak_rss_bytes"],
            "model_memory_bytes": side["model_memory_bytes"],
            "load_s": side["load_s"],
            "fingerprint": side["fingerprint"],
            "runtime": side["runtime"],
            # the call the latency samples timed and the timer's own overhead (ms)
            "timing": side.get("timing", {}),
        }
        if role in scored["predictions"]:
            sides[role]["predictions"] = scored["predictions"][role]
        if "load_test" in side:
            sides[role]["load_test"] = {k: v for k, v in side["load_test"].items() if k != "latencies_ms"}
    run_keys = sorted({k for role in ROLES for r in result[role]["runs"] for k in r})
    base_details = artifacts["baseline"].details
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "model": m.name,
        "target": target.name,
        "target_id": target.target_id(),
        "config_hash": loaded.config_hash(target.name),
        "inputs_sha256": sha256_file(inputs),
        "primary_metric": m.eval.primary,
        "eval_items": scored["eval_items"],
        "settings": {
            **s.model_dump(), **settings, "batch_size": m.input.batch_size,
            "sequence_length": m.input.sequence_length, "interleaved": True,
            "intra_op_spinning": False, "looks_planned": looks,
            "memory_note": "model_memory_bytes = peak RSS of the worker process minus its RSS "
                           "after importing the runtime and before loading the model",
            "baseline_note": base_details.get("note", ""),
        },
        "fingerprint": result["baseline"]["fingerprint"],
        "versions": {
            "edge-gate": gate.__version__, "python": platform.python_version(),
            "numpy": np.__version__,
            **result["baseline"]["versions"], **result["candidate"]["versions"],
        },
        "baseline": sides["baseline"],
        "candidate": sides["candidate"],
        "samples": {
            "latency_rounds_ms": {role: result[role]["rounds_ms"] for role in ROLES},
            "memory": {role: result[role]["memory_samples"] for role in ROLES},
            **({"load_latency_ms": {role: result[role]["load_test"]["latencies_ms"] for role in ROLES}}
               if s.load_test else {}),
            "items": scored["items"],
            **({"runs": {k: {role: [r[k] for r in result[role]["runs"]] for role in ROLES} for k in run_keys}}
               if run_keys else {}),
        },
        "notes": list(base_details.get("conversion_fidelity", {}).get("warnings", [])),
    }
    records = {role: SideRecord(sides[role]["artifact"], result[role]["runs"], sides[role]["metrics"],
                                result[role]["output"]) for role in ROLES}
    extra = task.describe(records, settings, s.threads)
    _merge(doc, extra.get("doc", {}))
    for role in ROLES:
        _merge(doc[role], extra.get(role, {}))
    return doc
