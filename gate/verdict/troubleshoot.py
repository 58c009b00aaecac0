"""Troubleshooting hints: likely causes and remedies of a failed rule, from the measurements.

Each hint fires on evidence in the target's ``measurements.json`` (artifact precision and
recipe details, hardware fingerprint, memory readings), following the seed's troubleshooting
table per framework:

* INT8 slower than expected on a CPU without INT8 dot-product instructions (x86 VNNI/AMX,
  Arm dot-product/i8mm): quantized kernels fall back to slower paths;
* accuracy lost with per-tensor quantization: per-channel weights, more calibration data,
  accuracy-aware quantization (NNCF ``quantize_with_accuracy_control``, Olive
  ``OpenVINOQuantizationWithAccuracy``), an ignored scope for sensitive layers;
* accuracy lost with 4-bit weights: smaller group size, or INT8 for sensitive layers;
* memory cut small because runtime overhead dominates: the runtime's own memory or its
  working memory (arena, activations) is most of what is measured, not the weights;
* a baseline that ran in bf16 (OpenVINO's default on CPUs with avx512_bf16/AMX): the
  "fp32" baseline was already reduced precision, so speed-up and fidelity compare against it.

Every FAIL or INCONCLUSIVE rule gets at least one hint: when no evidence-based hint above
fires, a general one for the rule's kind (speed, memory, size, fidelity or accuracy, latency
consistency) says what usually moves that figure; an INCONCLUSIVE rule also gets a hint that
says which samples would narrow its interval (rounds, fresh processes, eval items).

Hints are advice for the report; they never change a verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gate.documents import Measurements, passes
from gate.verdict.pareto import fits_axis

#: ISA flags with INT8 dot-product instructions (x86: VNNI, AMX; Arm: dot product, i8mm)
INT8_DOT_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm"})
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
#: a memory cut below this while the file shrank at least twice as much is "overhead dominates"
OVERHEAD_SHARE = 0.5


@dataclass(frozen=True)
class Hint:
    """One likely cause of a failed rule and what to try; ``evidence`` is the trigger seen.
    ``general`` marks a hint for the rule's kind rather than one triggered by evidence."""

    rule: str
    cause: str
    remedy: str
    evidence: str
    general: bool = False


def _precision(doc: Measurements, role: str) -> str:
    return str(doc.side(role).artifact.precision or "")


def _isa(doc: Measurements) -> set[str]:
    return set(doc.fingerprint.isa)


def int8_without_dot_product(rule: Any, doc: Measurements) -> Hint | None:
    if rule.compare != "speedup" or _precision(doc, "candidate") != "int8":
        return None
    flags = _isa(doc)
    if flags & INT8_DOT_FLAGS:
        return None
    return Hint(rule.rule, "INT8 kernels on a CPU without INT8 dot-product instructions (no VNNI/AMX, "
                "no Arm dot product) run on slower emulation paths, so INT8 gains little or is slower.",
                "Measure on a runner with avx512_vnni/amx_int8 (or asimddp/i8mm on Arm), keep weight-only "
                "INT8 or fp16 here, or waive the speed-up on this platform.",
                f"fingerprint ISA flags: {' '.join(sorted(flags)) or 'none recorded'}")


def per_tensor_accuracy(rule: Any, doc: Measurements) -> Hint | None:
    if rule.metric != doc.primary_metric or _precision(doc, "candidate") != "int8":
        return None
    d = doc.candidate.artifact.details
    if d.get("per_channel") is not False:
        return None
    calib = d.get("calibration_size")
    more = f" (used {calib} items)" if calib else ""
    return Hint(rule.rule, "Per-tensor INT8 weights lose precision where a tensor's channels have very "
                "different ranges (common in transformer projections).",
                f"Set per_channel: true; calibrate on more data{more}; use accuracy-aware quantization "
                "(NNCF quantize_with_accuracy_control, Olive OpenVINOQuantizationWithAccuracy); leave "
                "sensitive layers out with an ignored scope / op_types.",
                "candidate recipe per_channel: false")


def int4_accuracy(rule: Any, doc: Measurements) -> Hint | None:
    if rule.metric != doc.primary_metric or _precision(doc, "candidate") != "int4":
        return None
    details = doc.candidate.artifact.details
    block = details.get("block_size") or details.get("group_size")
    return Hint(rule.rule, "4-bit weights round too coarsely for some layers.",
                "Use a smaller block/group size, keep sensitive layers (embeddings, first/last "
                "projections) in INT8, or use a data-aware method (AWQ, GPTQ) instead of round-to-nearest.",
                f"candidate precision int4, block size {block}")


def runtime_overhead(rule: Any, doc: Measurements) -> Hint | None:
    if rule.compare != "reduction" or ("rss" not in rule.metric and "memory" not in rule.metric):
        return None
    base, cand = doc.baseline, doc.candidate
    b_size, c_size = base.metrics.get("model_size_bytes"), cand.metrics.get("model_size_bytes")
    before, peak = cand.rss_before_load_bytes, cand.peak_rss_bytes
    if not b_size or c_size is None or before is None or not peak:
        return None
    size_cut = 1 - c_size / b_size
    value = rule.value if rule.value is not None else 0.0
    if rule.metric == "peak_rss_bytes" and before >= OVERHEAD_SHARE * peak:
        return Hint(rule.rule, "The process peak is dominated by the runtime itself (RSS before the model "
                    "was loaded), which no quantization removes.",
                    "Gate on model_memory_bytes (peak minus before-load) instead of the process peak, "
                    "or count the runtime in a separate budget.",
                    f"RSS before load {before / 1e6:.0f} MB of a {peak / 1e6:.0f} MB peak")
    if size_cut >= 2 * max(value, 0.0) and size_cut > 0:
        return Hint(rule.rule, "The weights shrank much more than the memory: the runtime's working memory "
                    "(arena, activations, dequantized or repacked weights) dominates what the model costs.",
                    "Check the runtime's memory arena and pattern settings, a smaller batch or sequence "
                    "length, weight-only quantization that keeps weights packed, or memory-mapped weights.",
                    f"model file {size_cut:.0%} smaller, memory {value:.0%} smaller")
    return None


def bf16_baseline(rule: Any, doc: Measurements) -> Hint | None:
    details = doc.baseline.artifact.details
    runtime_precision = str(details.get("inference_precision") or details.get("INFERENCE_PRECISION_HINT") or "")
    base_backend = doc.baseline.artifact.backend
    ran_bf16 = "bf16" in (_precision(doc, "baseline"), runtime_precision.lower())
    implicit = base_backend == "openvino" and not runtime_precision and bool(_isa(doc) & BF16_FLAGS)
    if not (ran_bf16 or implicit):
        return None
    why = (f"baseline inference precision {runtime_precision or _precision(doc, 'baseline')}" if ran_bf16
           else "OpenVINO baseline on a CPU with bf16 instructions and no INFERENCE_PRECISION_HINT recorded")
    return Hint(rule.rule, "The baseline ran in bf16, not fp32: speed-up and fidelity were measured against "
                "an already reduced-precision reference.",
                "Build the baseline with INFERENCE_PRECISION_HINT=f32 (OpenVINO) so it is a true fp32 "
                "reference, then measure again.", why)


def _figure(rule: Any) -> str:
    value = "not computed" if rule.value is None else f"{rule.value:.4g}"
    low, high = rule.low, rule.high
    span = "" if low is None or high is None or low == high else f" [{low:.4g}, {high:.4g}]"
    return f"{rule.compare} {value}{span} against {rule.bound}"


def _kind(rule: Any, doc: Measurements) -> str:
    """speed, memory, size, fidelity, consistency or other."""
    if fits_axis("speedup", rule.metric, rule.compare, doc.primary_metric) or rule.metric.startswith(
            ("latency_p", "throughput", "load_", "generation_", "prompt_", "time_to_first")):
        return "speed"
    if rule.metric in ("model_memory_bytes", "peak_rss_bytes"):
        return "memory"
    if rule.metric == "model_size_bytes":
        return "size"
    if rule.metric in ("latency_cv", "latency_tail_ratio", "latency_drift_ratio"):
        return "consistency"
    if rule.metric not in doc.baseline.metrics or rule.metric == doc.primary_metric or rule.compare in (
            "ratio", "difference"):
        return "fidelity"
    return "other"


#: kind -> (cause, remedy) of the general hint
GENERAL = {
    "speed": ("The recipe leaves most of the time where it was: unquantized or unfused operators, runtime "
              "overhead per call, or kernels that do not use the CPU's fastest instructions.",
              "Try a lower-precision recipe (static INT8, INT8 with an accuracy-aware method, weight-only INT4 for "
              "LLMs), the runtime's graph optimizations and latency hints, a thread count matching the device, or "
              "another backend for this platform."),
    "memory": ("The memory the model costs did not fall as much as the rule asks: the runtime's working memory "
               "(arena, activations, repacked weights) is a large part of it.",
               "Try weight-only compression that keeps weights packed, memory-mapped weights, the runtime's arena "
               "settings, or a smaller batch or sequence length."),
    "size": ("The artifact on disk did not shrink enough: some weights stayed in fp32 (an ignored scope, "
             "activation-only quantization) or extra files are part of it.",
             "Quantize or compress the weights (INT8/INT4 weight-only), and check which tensors stayed fp32 in the "
             "artifact's details."),
    "fidelity": ("The candidate's outputs moved too far from the baseline's (or its task accuracy fell): the "
                 "precision was reduced where the model is sensitive.",
                 "Use per-channel weights, more calibration data, an accuracy-aware method (NNCF "
                 "quantize_with_accuracy_control), an ignored scope for sensitive layers, or a higher precision."),
    "consistency": ("Latency varies between runs or rounds more than the rule allows: contention on the runner, "
                    "frequency scaling, or the runtime's threads competing.",
                    "Match the thread count to the cores available, pin the runner, lengthen the warm-up, or "
                    "measure on a quieter machine."),
    "other": ("The candidate misses this rule's bound.", "See the rule's figures and the recipe."),
}
#: kind -> what narrows the interval of an INCONCLUSIVE rule
NARROWER = {
    "speed": "more timed rounds (policy statistics.max_rounds and time_budget_s)",
    "consistency": "more timed rounds (policy statistics.max_rounds and time_budget_s)",
    "memory": "more fresh worker processes (manifest measure.memory_processes)",
    "fidelity": "more eval items",
}


def general_hints(rule: Any, doc: Measurements, found: bool) -> list[Hint]:
    """The general hint of the rule's kind (when no evidence-based hint ``found``), and for an
    INCONCLUSIVE rule what would narrow its interval."""
    kind = _kind(rule, doc)
    out = []
    if not found:
        cause, remedy = GENERAL[kind]
        out.append(Hint(rule.rule, cause, remedy, _figure(rule), general=True))
    if str(getattr(rule.verdict, "value", rule.verdict)) == "inconclusive":
        out.append(Hint(rule.rule, "The interval straddles the bound: this measurement cannot tell whether the "
                        "candidate meets it.",
                        f"Measure with {NARROWER.get(kind, 'more samples')}, or on a quieter runner; the verdict "
                        "stays INCONCLUSIVE until the whole interval is on one side.", _figure(rule), general=True))
    return out


#: every hint rule, in report order
HINTS: tuple[Callable[[Any, Measurements], Hint | None], ...] = (
    int8_without_dot_product, per_tensor_accuracy, int4_accuracy, runtime_overhead, bf16_baseline,
)


def hints_for(rules: Sequence[Any], doc: Measurements) -> dict[str, list[Hint]]:
    """``{rule id: [Hint, ...]}`` for every rule that did not pass (FAIL or INCONCLUSIVE):
    the evidence-based hints that fire, else a general one; INCONCLUSIVE rules also say what
    would narrow the interval.

    ``rules`` are :class:`gate.documents.RuleResult` objects, ``doc`` the target's
    :class:`gate.documents.Measurements`.
    """
    out: dict[str, list[Hint]] = {}
    for rule in rules:
        verdict = str(getattr(rule.verdict, "value", rule.verdict))
        if passes(verdict) or verdict not in ("fail", "inconclusive"):
            continue
        found = [h for h in (f(rule, doc) for f in HINTS) if h is not None]
        out[rule.rule] = found + general_hints(rule, doc, bool(found))
    return out
