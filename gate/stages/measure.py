"""``gate measure MANIFEST --target T``: DVC stage that measures baseline and candidate.

Writes ``build/gate/<model>/targets/<T>/measurements.json`` (schema
``edge-gate/measurements/v1``, :mod:`gate.measure.assemble`): per side the latency summary and
raw samples (ms), throughput (items/s), RSS before load, peak RSS and the memory the model
costs (bytes), size on disk (bytes, every file of the artifact), fidelity metrics against the
baseline; plus each worker's hardware fingerprint, the settings, tool versions and the hashes
of everything it was computed from. One path for every task: the task object
(:mod:`gate.tasks.protocol`) says how its sessions run and how outputs are scored.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from gate.errors import ExitCode, GateError


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
    from gate.backends.base import Artifact
    from gate.config.loading import load_pair
    from gate.documents import Measurements
    from gate.plan.dvcfile import check_fresh
    from gate.stages.failures import clear_failure, record_failure
    from gate.verdict.looks import look_schedule

    loaded, policy = load_pair(manifest)
    root = Path.cwd()
    check_fresh(loaded, policy, root)
    m = loaded.manifest
    target = loaded.target(target_name)
    clear_failure(root, m.name, target.name)
    base_dir = root / layout.baseline_dir(m.name)
    cand_dir = root / layout.candidate_dir(m.name, target.name)
    inputs = root / layout.inputs_file(m.name)
    base_art, cand_art = Artifact.read(base_dir), Artifact.read(cand_dir)
    s = m.measure
    max_rounds = max(s.rounds, policy.policy.statistics.max_rounds)
    # Looks are planned only when the policy has a latency rule to look at (the extra rounds
    # are taken for it); otherwise the rounds are fixed and the one look, at decide, may spend
    # the whole error allowance (gate.verdict.looks.look_confidence).
    looks = look_schedule(s.rounds, max_rounds) if undecided(policy, m.input.batch_size, [s.rounds]) else [s.rounds]
    limits = loaded.limits(target.name)
    try:
        doc = _measure(loaded, policy, target, root, limits, max_rounds, looks, base_art, cand_art,
                       base_dir, cand_dir, inputs)
    except GateError as exc:
        record_failure(root, m.name, target.name, stage="measure", config_hash=loaded.config_hash(target.name),
                       message=str(exc))
        raise
    out = root / layout.measurements_file(m.name, target.name)
    Measurements.from_dict(doc, str(out)).write(out)  # the typed document (gate.documents) refuses a bad one
    b, c = doc["baseline"]["metrics"], doc["candidate"]["metrics"]
    progress.log(
        f"{m.name}/{target.name}: p50 {b['latency_p50_ms']:.2f} -> {c['latency_p50_ms']:.2f} ms, "
        f"model memory {b['model_memory_bytes'] / 1e6:.1f} -> {c['model_memory_bytes'] / 1e6:.1f} MB, "
        f"{m.eval.primary} {b[m.eval.primary]:.4f} -> {c[m.eval.primary]:.4f}"
    )
    return ExitCode.PASS


def _measure(loaded: Any, policy: Any, target: Any, root: Path, limits: Any, max_rounds: int, looks: list[int],
             base_art: Any, cand_art: Any, base_dir: Path, cand_dir: Path, inputs: Path) -> dict[str, Any]:
    from gate import progress
    from gate.measure.assemble import ROLES, build_document, score_outputs, task_settings
    from gate.measure.harness import WorkerSpec, measure_pair
    from gate.tasks import get_task

    m = loaded.manifest
    s = m.measure
    task = get_task(m.task)
    settings = task_settings(loaded)
    timed_runs = task.timed_runs(s.model_dump(), settings)
    with progress.step(
        f"{m.name}/{target.name}: measuring baseline and candidate interleaved "
        f"({s.rounds} rounds, {timed_runs} timed runs each, {s.threads} threads; extra rounds "
        f"up to {policy.policy.statistics.time_budget_s:g} s while a latency rule is undecided)"
    ):
        result = measure_pair(
            WorkerSpec("baseline", m.baseline.backend, base_dir),
            WorkerSpec("candidate", target.backend, cand_dir),
            task=m.task, inputs=inputs, threads=s.threads, warmup_runs=s.warmup_runs,
            timed_runs=timed_runs, rounds=s.rounds, batch_size=m.input.batch_size,
            timeout_s=limits.timeout_s, memory_bytes=limits.memory_bytes, memory_processes=s.memory_processes,
            load_test=(s.load_test.concurrency, s.load_test.duration_s) if s.load_test else None,
            more_rounds=undecided(policy, m.input.batch_size, looks),
            time_budget_s=policy.policy.statistics.time_budget_s, max_rounds=max_rounds,
            progress=progress.log,
        )
    try:
        scored = score_outputs(task, result["outputs"], inputs)
    finally:
        shutil.rmtree(result["output_dir"], ignore_errors=True)
    timing = task.timing_metrics({role: result[role]["runs"] for role in ROLES},
                                 {role: result[role]["output"] for role in ROLES})
    return build_document(loaded, target, task, settings, result, scored, timing, looks, inputs,
                          {"baseline": base_art, "candidate": cand_art})
