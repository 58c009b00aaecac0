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

Hints are advice for the report; they never change a verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: ISA flags with INT8 dot-product instructions (x86: VNNI, AMX; Arm: dot product, i8mm)
INT8_DOT_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm"})
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
#: a memory cut below this while the file shrank at least twice as much is "overhead dominates"
OVERHEAD_SHARE = 0.5


@dataclass(frozen=True)
class Hint:
    """One likely cause of a failed rule and what to try; ``evidence`` is the trigger seen."""

    rule: str
    cause: str
    remedy: str
    evidence: str


def _side(doc: Mapping[str, Any], role: str) -> Mapping[str, Any]:
    return doc.get(role) or {}


def _details(doc: Mapping[str, Any], role: str) -> Mapping[str, Any]:
    return (_side(doc, role).get("artifact") or {}).get("details") or {}


def _precision(doc: Mapping[str, Any], role: str) -> str:
    return str((_side(doc, role).get("artifact") or {}).get("precision") or "")


def _isa(doc: Mapping[str, Any]) -> set[str]:
    return set((doc.get("fingerprint") or {}).get("isa") or [])


def int8_without_dot_product(rule: Any, doc: Mapping[str, Any]) -> Hint | None:
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


def per_tensor_accuracy(rule: Any, doc: Mapping[str, Any]) -> Hint | None:
    if rule.metric != doc.get("primary_metric") or _precision(doc, "candidate") != "int8":
        return None
    d = _details(doc, "candidate")
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


def int4_accuracy(rule: Any, doc: Mapping[str, Any]) -> Hint | None:
    if rule.metric != doc.get("primary_metric") or _precision(doc, "candidate") != "int4":
        return None
    block = _details(doc, "candidate").get("block_size") or _details(doc, "candidate").get("group_size")
    return Hint(rule.rule, "4-bit weights round too coarsely for some layers.",
                "Use a smaller block/group size, keep sensitive layers (embeddings, first/last "
                "projections) in INT8, or use a data-aware method (AWQ, GPTQ) instead of round-to-nearest.",
                f"candidate precision int4, block size {block}")


def runtime_overhead(rule: Any, doc: Mapping[str, Any]) -> Hint | None:
    if rule.compare != "reduction" or ("rss" not in rule.metric and "memory" not in rule.metric):
        return None
    base, cand = _side(doc, "baseline"), _side(doc, "candidate")
    try:
        size_cut = 1 - cand["metrics"]["model_size_bytes"] / base["metrics"]["model_size_bytes"]
        before = cand["rss_before_load_bytes"]
        peak = cand["peak_rss_bytes"]
    except (KeyError, TypeError, ZeroDivisionError):
        return None
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


def bf16_baseline(rule: Any, doc: Mapping[str, Any]) -> Hint | None:
    details = _details(doc, "baseline")
    runtime_precision = str(details.get("inference_precision") or details.get("INFERENCE_PRECISION_HINT") or "")
    base_backend = str((_side(doc, "baseline").get("artifact") or {}).get("backend") or "")
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


#: every hint rule, in report order
HINTS: tuple[Callable[[Any, Mapping[str, Any]], Hint | None], ...] = (
    int8_without_dot_product, per_tensor_accuracy, int4_accuracy, runtime_overhead, bf16_baseline,
)


def hints_for(rules: Sequence[Any], doc: Mapping[str, Any]) -> dict[str, list[Hint]]:
    """``{rule id: [Hint, ...]}`` for the rules that did not pass (fail or inconclusive).

    ``rules`` are :class:`gate.verdict.decision.RuleResult` objects, ``doc`` the target's
    measurements.json. Rules with no hint are left out.
    """
    out: dict[str, list[Hint]] = {}
    for rule in rules:
        if str(getattr(rule.verdict, "value", rule.verdict)) not in ("fail", "inconclusive"):
            continue
        found = [h for h in (f(rule, doc) for f in HINTS) if h is not None]
        if found:
            out[rule.rule] = found
    return out
