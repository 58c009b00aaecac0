"""``gate measure MANIFEST --target T``: DVC stage that measures baseline and candidate.

Writes ``build/gate/<model>/targets/<T>/measurements.json`` (schema
``edge-gate/measurements/v1``): per side the latency summary and raw samples (ms), throughput
(items/s), RSS before load, peak RSS and the memory the model costs (bytes), size on disk
(bytes, every file of the artifact), fidelity metrics against the baseline; plus the hardware
fingerprint, the settings, tool versions and the hashes of everything it was computed from.
"""

from __future__ import annotations

import importlib
import platform
import shutil
from pathlib import Path
from typing import Any

from gate.errors import ExitCode, GateError

SCHEMA = "edge-gate/measurements/v1"


def flat_metrics(side: dict[str, Any], size_bytes: int, accuracy: dict[str, float]) -> dict[str, float]:
    """The metric names policies use (see :data:`gate.config.policy.GENERIC_METRICS`)."""
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


def undecided(policy: Any, batch_size: int, looks: list[int]) -> Any:
    """A ``more_rounds`` callback: True while a latency rule's interval straddles its bound.

    Computes the same interval as ``gate decide`` will (same confidence at each look, from
    the planned ``looks`` and the rounds taken, same resamples and seed), so the look that
    stops the measurement and the verdict agree.
    """
    from gate.verdict.intervals import LATENCY_METRICS, judge_interval, rule_interval
    from gate.verdict.rules import Verdict

    rules = [r for r in policy.policy.rules if r.metric in LATENCY_METRICS]
    st = policy.policy.statistics

    def more(samples: dict[str, list[list[float]]]) -> bool:
        doc = {"samples": {"latency_rounds_ms": samples},
               "settings": {"batch_size": batch_size, "looks_planned": looks}}
        for rule in rules:
            iv = rule_interval(rule, rule.metric, doc, {}, confidence=st.confidence, resamples=st.resamples,
                               seed=st.seed)
            if judge_interval(rule, iv) is Verdict.INCONCLUSIVE:
                return True
        return False

    return more if rules else None


def run_measure(manifest: Path, target_name: str) -> int:
    """Run the measure stage of one target of ``manifest`` in the current directory; returns the exit code."""
    from gate import layout, progress
    from gate.backends.base import Artifact, write_json_atomic
    from gate.config.loading import load_pair
    from gate.plan.dvcfile import check_fresh
    from gate.stages.failures import clear_failure, record_failure
    from gate.verdict.intervals import look_schedule

    loaded, policy = load_pair(manifest)
    root = Path.cwd()
    check_fresh(loaded, policy, root)
    m = loaded.manifest
    target = loaded.target(target_name)
    clear_failure(root, m.name, target.name)
    if m.task == "text-generation":  # LLMs: generation speed and logits (gate.measure.llm_measure)
        from gate.measure.llm_measure import run_measure

        try:
            return run_measure(loaded, target, root)
        except GateError as exc:
            record_failure(root, m.name, target.name, stage="measure",
                           config_hash=loaded.config_hash(target.name), message=str(exc))
            raise
    base_dir = root / layout.baseline_dir(m.name)
    cand_dir = root / layout.candidate_dir(m.name, target.name)
    inputs = root / layout.inputs_file(m.name)
    base_art, cand_art = Artifact.read(base_dir), Artifact.read(cand_dir)
    s = m.measure
    max_rounds = max(s.rounds, policy.policy.statistics.max_rounds)
    looks = look_schedule(s.rounds, max_rounds)
    limits = loaded.limits(target.name)
    try:
        doc = _measure(loaded, policy, target, root, limits, max_rounds, looks, base_art, cand_art,
                       base_dir, cand_dir, inputs)
    except GateError as exc:
        record_failure(root, m.name, target.name, stage="measure", config_hash=loaded.config_hash(target.name),
                       message=str(exc))
        raise
    out = root / layout.measurements_file(m.name, target.name)
    write_json_atomic(out, doc)
    b, c = doc["baseline"]["metrics"], doc["candidate"]["metrics"]
    progress.log(
        f"{m.name}/{target.name}: p50 {b['latency_p50_ms']:.2f} -> {c['latency_p50_ms']:.2f} ms, "
        f"model memory {b['model_memory_bytes'] / 1e6:.1f} -> {c['model_memory_bytes'] / 1e6:.1f} MB, "
        f"{m.eval.primary} {c[m.eval.primary]:.4f}"
    )
    return ExitCode.PASS


def _measure(loaded: Any, policy: Any, target: Any, root: Path, limits: Any, max_rounds: int, looks: list[int],
             base_art: Any, cand_art: Any, base_dir: Path, cand_dir: Path, inputs: Path) -> dict[str, Any]:
    import numpy as np

    import gate
    from gate import progress
    from gate.config.schema import sha256_file
    from gate.measure.harness import WorkerSpec, measure_pair
    from gate.measure.summary import prediction_histogram
    from gate.tasks import get_task

    m = loaded.manifest
    s = m.measure
    with progress.step(
        f"{m.name}/{target.name}: measuring baseline and candidate interleaved "
        f"({s.rounds} rounds, {s.timed_runs} timed runs each, {s.threads} threads; extra rounds "
        f"up to {policy.policy.statistics.time_budget_s:g} s while a latency rule is undecided)"
    ):
        result = measure_pair(
            WorkerSpec("baseline", m.baseline.backend, base_dir),
            WorkerSpec("candidate", target.backend, cand_dir),
            task=m.task, inputs=inputs, threads=s.threads, warmup_runs=s.warmup_runs,
            timed_runs=s.timed_runs, rounds=s.rounds, batch_size=m.input.batch_size,
            timeout_s=limits.timeout_s, memory_bytes=limits.memory_bytes, memory_processes=s.memory_processes,
            load_test=(s.load_test.concurrency, s.load_test.duration_s) if s.load_test else None,
            more_rounds=undecided(policy, m.input.batch_size, looks),
            time_budget_s=policy.policy.statistics.time_budget_s, max_rounds=max_rounds,
            progress=progress.log,
        )
    try:
        task = importlib.import_module(get_task(m.task).module)
        reference = np.load(result["outputs"]["baseline"])
        outputs = {"baseline": reference, "candidate": np.load(result["outputs"]["candidate"])}
        with np.load(inputs) as data:  # labels, for tasks that have them
            accuracy = {role: task.score(reference, out, inputs=data) for role, out in outputs.items()}
            items = {role: {k: v.tolist() for k, v in task.item_scores(reference, out, inputs=data).items()}
                     for role, out in outputs.items()}
        # classifiers: the spread of top-1 classes, for the collapse flag (gate.verdict.decision)
        histograms = ({role: prediction_histogram(task.predictions(out)) for role, out in outputs.items()}
                      if hasattr(task, "predictions") else {})
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
            "fingerprint": side["fingerprint"],
            "runtime": side["runtime"],
            "timing": side.get("timing", {}),
        }
        if role in histograms:
            sides[role]["predictions"] = histograms[role]
        if "load_test" in side:
            sides[role]["load_test"] = {k: v for k, v in side["load_test"].items() if k != "latencies_ms"}
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
            "intra_op_spinning": False, "looks_planned": looks,
            "memory_note": "model_memory_bytes = peak RSS of the worker process minus its RSS "
                           "after importing the runtime and before loading the model",
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
            "latency_rounds_ms": {role: result[role]["rounds_ms"] for role in sides},
            "memory": {role: result[role]["memory_samples"] for role in sides},
            **({"load_latency_ms": {role: result[role]["load_test"]["latencies_ms"] for role in sides}}
               if s.load_test else {}),
            "items": items,
        },
    }
    return doc
