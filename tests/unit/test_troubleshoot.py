"""Each troubleshooting hint fires on its own trigger and stays quiet without it (gate.verdict.troubleshoot)."""

from __future__ import annotations

from typing import Any

from gate.documents import Measurements, RuleResult, Verdict
from gate.verdict.troubleshoot import Hint, hints_for
from tests.factories import BASELINE, FINGERPRINT, PASSING, artifact, measurements

VNNI_ISA = ["avx2", "avx512f", "avx512_vnni", "amx_int8"]


def rule(rule_id: str, metric: str, compare: str, value: float, verdict: Verdict = Verdict.FAIL) -> RuleResult:
    return RuleResult(rule=rule_id, description="", metric=metric, compare=compare, bound=">= x", min=None,
                      max=None, value=value, verdict=verdict, reason="")


def doc(*, isa: list[str] | None = None, cand_precision: str = "int8", cand_details: dict[str, Any] | None = None,
        base_backend: str = "onnxruntime", base_details: dict[str, Any] | None = None,
        size: tuple[float, float] = (90e6, 23e6), before: float = 97e6, peak: float = 155e6) -> Measurements:
    """Measurements through the typed document, with the figures each hint reads."""
    m = measurements(
        "m", "t", "c" * 16, {**PASSING, "model_size_bytes": size[1]}, baseline={**BASELINE, "model_size_bytes": size[0]},
        fingerprint={**FINGERPRINT, "isa": VNNI_ISA if isa is None else isa},
        candidate_artifact=artifact(precision=cand_precision, details=cand_details or {"per_channel": True}),
        baseline_artifact=artifact(precision="fp32", backend=base_backend, details=base_details or {}))
    m.candidate.rss_before_load_bytes, m.candidate.peak_rss_bytes = before, peak
    return m


def specific(found: dict[str, list[Hint]]) -> dict[str, list[Hint]]:
    """The evidence-based hints only (every failing rule also gets general ones)."""
    return {k: kept for k, v in found.items() if (kept := [h for h in v if not h.general])}


SPEED = rule("speed-up", "latency_p50_ms", "speedup", 1.2)
ACC = rule("accuracy-kept", "nn10_overlap", "ratio", 0.85)


def test_no_hint_for_passing_rules_or_without_evidence() -> None:
    passing = rule("speed-up", "latency_p50_ms", "speedup", 2.5, Verdict.PASS)
    assert hints_for([passing], doc(isa=[])) == {}
    assert specific(hints_for([SPEED, ACC], doc())) == {}  # VNNI present, per-channel, fp32 baseline


def test_int8_slow_without_vnni_or_amx() -> None:
    got = hints_for([SPEED], doc(isa=["avx2", "fma"]))
    (hint,) = got["speed-up"]
    assert "VNNI" in hint.cause and "avx2 fma" in hint.evidence
    assert specific(hints_for([SPEED], doc(isa=["avx2", "avx_vnni"]))) == {}
    assert specific(hints_for([SPEED], doc(isa=["avx2"], cand_precision="int4"))) == {}  # not INT8


def test_accuracy_lost_with_per_tensor_quantization() -> None:
    got = hints_for([ACC], doc(cand_details={"per_channel": False, "calibration_size": 100}))
    (hint,) = got["accuracy-kept"]
    assert "per_channel: true" in hint.remedy and "used 100 items" in hint.remedy
    assert "accuracy-aware" in hint.remedy and "ignored scope" in hint.remedy
    inconclusive = rule("accuracy-kept", "nn10_overlap", "ratio", 0.95, Verdict.INCONCLUSIVE)
    assert "accuracy-kept" in hints_for([inconclusive], doc(cand_details={"per_channel": False}))


def test_accuracy_lost_with_int4_blocks() -> None:
    got = hints_for([ACC], doc(cand_precision="int4", cand_details={"block_size": 128}))
    (hint,) = got["accuracy-kept"]
    assert "block size 128" in hint.evidence and "smaller block" in hint.remedy


def test_memory_cut_small_because_runtime_working_memory_dominates() -> None:
    memory = rule("memory-cut", "model_memory_bytes", "reduction", 0.2)
    (hint,) = hints_for([memory], doc(size=(90e6, 23e6)))["memory-cut"]  # file 74% smaller, memory 20%
    assert "74% smaller" in hint.evidence and "working memory" in hint.cause
    assert specific(hints_for([rule("memory-cut", "model_memory_bytes", "reduction", 0.45)], doc(size=(90e6, 45e6)))) == {}


def test_process_peak_dominated_by_the_runtime_before_load() -> None:
    peak_rule = rule("rss-cut", "peak_rss_bytes", "reduction", 0.3)
    (hint,) = hints_for([peak_rule], doc(before=100e6, peak=150e6))["rss-cut"]
    assert "RSS before load 100 MB of a 150 MB peak" == hint.evidence
    assert "model_memory_bytes" in hint.remedy


def test_baseline_that_ran_in_bf16() -> None:
    explicit = doc(base_details={"inference_precision": "bf16"})
    (hint,) = hints_for([SPEED], explicit)["speed-up"]
    assert "bf16" in hint.cause and "INFERENCE_PRECISION_HINT=f32" in hint.remedy
    implicit = doc(base_backend="openvino", isa=[*VNNI_ISA, "avx512_bf16"])
    assert "no INFERENCE_PRECISION_HINT" in hints_for([SPEED], implicit)["speed-up"][0].evidence
    pinned = implicit.model_copy(deep=True)
    pinned.baseline.artifact.details = {"inference_precision": "f32"}
    assert specific(hints_for([SPEED], pinned)) == {}


def test_every_failing_or_inconclusive_rule_gets_a_hint() -> None:
    rules = [rule("speed-up", "latency_p50_ms", "speedup", 1.2), rule("size-cut", "model_size_bytes", "reduction", 0.1),
             rule("memory-cut", "model_memory_bytes", "reduction", 0.4, Verdict.INCONCLUSIVE),
             rule("accuracy-kept", "nn10_overlap", "ratio", 0.9), rule("cv", "latency_cv", "absolute", 0.3),
             rule("ok", "latency_p50_ms", "speedup", 3.0, Verdict.PASS)]
    found = hints_for(rules, doc(size=(90e6, 50e6)))
    assert set(found) == {"speed-up", "size-cut", "memory-cut", "accuracy-kept", "cv"}
    assert "lower-precision recipe" in found["speed-up"][0].remedy and found["speed-up"][0].general
    assert "weights" in found["size-cut"][0].cause and "fp32" in found["size-cut"][0].cause
    assert "accuracy-aware" in found["accuracy-kept"][0].remedy
    assert "thread count" in found["cv"][0].remedy
    straddle = found["memory-cut"][-1]
    assert "straddles" in straddle.cause and "memory_processes" in straddle.remedy
    assert straddle.evidence == "reduction 0.4 against >= x"
