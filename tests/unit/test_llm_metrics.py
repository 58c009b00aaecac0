"""LLM fidelity metrics over eval windows, their intervals, the roofline arithmetic and the
policy they feed, on hand-built numbers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from gate.backends.llm import decode_bytes_per_token
from gate.config.policy import load_policy
from gate.measure.bandwidth import measure_bandwidth
from gate.tasks import get_task
from gate.tasks.generation import greedy_match, perplexity

TASK = get_task("text-generation")


def _score(ref: np.ndarray, out: np.ndarray, tokens: np.ndarray) -> dict[str, float]:
    return TASK.score(ref, out, inputs={"eval.tokens": tokens})


def test_uniform_logits_have_perplexity_of_the_vocabulary() -> None:
    tokens = np.array([0, 1, 2, 3, 4])
    assert perplexity(np.zeros((5, 7)), tokens) == pytest.approx(7.0)
    assert _score(np.zeros((2, 5, 7)), np.zeros((2, 5, 7)), np.stack([tokens, tokens]))["perplexity"] == \
        pytest.approx(7.0)


def test_identical_logits_score_perfectly() -> None:
    rng = np.random.default_rng(1)
    ref = rng.standard_normal((3, 20, 11)).astype(np.float32)
    tokens = rng.integers(0, 11, size=(3, 20))
    s = _score(ref, ref.copy(), tokens)
    assert s["kl_mean"] == 0.0 and s["kl_p99"] == 0.0 and s["top1_agreement"] == 1.0
    nll = np.concatenate([-np.log(np.exp(r[:-1]) / np.exp(r[:-1]).sum(1, keepdims=True))[np.arange(19), t[1:]]
                          for r, t in zip(ref.astype(np.float64), tokens, strict=True)])
    assert s["perplexity"] == pytest.approx(math.exp(nll.mean()))


def test_kl_and_top1_match_hand_computation() -> None:
    # two positions (the last row is never scored), vocabulary of 2, one window
    ref = np.log(np.array([[[0.5, 0.5], [0.9, 0.1], [0.5, 0.5]]]))
    out = np.log(np.array([[[0.25, 0.75], [0.9, 0.1], [0.5, 0.5]]]))
    s = _score(ref, out, np.array([[0, 1, 0]]))
    kl0 = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert s["kl_mean"] == pytest.approx(kl0 / 2)
    assert s["top1_agreement"] == pytest.approx(0.5)  # argmax ties go to index 0, then 1 vs 0
    assert s["perplexity"] == pytest.approx(math.exp(-(math.log(0.75) + math.log(0.9)) / 2))


def test_score_refuses_mismatched_or_broken_logits() -> None:
    tokens = np.arange(8).reshape(2, 4) % 3
    with pytest.raises(ValueError, match="differs"):
        _score(np.zeros((2, 4, 3)), np.zeros((2, 4, 5)), tokens)
    bad = np.zeros((2, 4, 3))
    bad[1, 1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        _score(np.zeros((2, 4, 3)), bad, tokens)
    with pytest.raises(ValueError, match="windows"):
        _score(np.zeros((2, 4, 3)), np.zeros((2, 4, 3)), tokens[:, :3])


def test_window_item_scores_give_the_metrics_exactly() -> None:
    """Intervals resample windows: the per-window means must reproduce the metrics themselves
    (equal windows: mean of means = mean; exp of mean nll = perplexity)."""
    from gate.verdict.intervals import _item_statistic

    rng = np.random.default_rng(7)
    ref = rng.standard_normal((6, 16, 9))
    out = ref + 0.3 * rng.standard_normal(ref.shape)
    tokens = rng.integers(0, 9, size=(6, 16))
    s = _score(ref, out, tokens)
    items = TASK.item_scores(ref, out, inputs={"eval.tokens": tokens})
    assert {k: v.shape for k, v in items.items()} == {"nll": (6,), "kl": (6,), "agree": (6,)}
    for metric, (key, kind) in TASK.item_statistics.items():
        assert _item_statistic(kind)(items[key]) == pytest.approx(s[metric], rel=1e-12), metric


def test_fidelity_rules_get_intervals_over_windows() -> None:
    from gate.config.policy import Rule
    from gate.verdict.intervals import rule_interval

    rng = np.random.default_rng(3)
    ref = rng.standard_normal((8, 12, 9))
    out = ref + 0.5 * rng.standard_normal(ref.shape)
    tokens = rng.integers(0, 9, size=(8, 12))
    inputs = {"eval.tokens": tokens}
    doc = {"settings": {}, "samples": {"items": {
        "baseline": {k: v.tolist() for k, v in TASK.item_scores(ref, ref, inputs=inputs).items()},
        "candidate": {k: v.tolist() for k, v in TASK.item_scores(ref, out, inputs=inputs).items()}}},
        "baseline": {"metrics": _score(ref, ref, tokens)}, "candidate": {"metrics": _score(ref, out, tokens)}}
    rule = Rule(id="ppl", metric="perplexity", compare="ratio", max=1.05)
    iv = rule_interval(rule, "perplexity", doc, dict(TASK.item_statistics), confidence=0.95, resamples=500, seed=1)
    ratio = doc["candidate"]["metrics"]["perplexity"] / doc["baseline"]["metrics"]["perplexity"]
    assert iv.value == pytest.approx(ratio)
    assert iv.low < ratio < iv.high and "eval items" in iv.method


def test_timing_metrics_use_medians_and_greedy_match() -> None:
    runs = [{"generation_tokens_per_s": 400.0, "prompt_tokens_per_s": 100.0, "time_to_first_token_ms": 110.0},
            {"generation_tokens_per_s": 200.0, "prompt_tokens_per_s": 50.0, "time_to_first_token_ms": 210.0},
            {"generation_tokens_per_s": 4.0, "prompt_tokens_per_s": 100.0, "time_to_first_token_ms": 120.0}]
    m = TASK.timing_metrics({"baseline": runs, "candidate": runs[:2]},
                            {"baseline": [1, 2, 3, 4], "candidate": [1, 2, 9, 4]})
    assert m["baseline"]["generation_tokens_per_s"] == pytest.approx(200.0)  # the stalled run does not decide
    assert m["baseline"]["time_to_first_token_ms"] == pytest.approx(120.0)
    assert m["baseline"]["greedy_match"] == 1.0 and m["candidate"]["greedy_match"] == 0.5


def test_greedy_match_stops_at_first_difference() -> None:
    assert greedy_match([1, 2, 3, 4], [1, 2, 9, 4]) == 0.5
    assert greedy_match([1, 2], [1, 2]) == 1.0


def test_decode_bytes_per_token_adds_the_kv_cache() -> None:
    shape = {"layers": 30, "kv_heads": 3, "head_dim": 64}
    # 2 (K and V) x 30 x 3 x 64 x 100 tokens x 2 bytes
    assert decode_bytes_per_token(1_000_000, shape, 100) == 1_000_000 + 2 * 30 * 3 * 64 * 100 * 2


def test_bandwidth_is_measured_and_positive() -> None:
    bw = measure_bandwidth(threads=1, size_bytes=8 << 20, repeats=2)
    assert bw["bytes_per_s"] > 1e8 and len(bw["samples_bytes_per_s"]) == 2
    with pytest.raises(ValueError):
        measure_bandwidth(threads=0)


def test_llm_policy_names_task_metrics(repo_root: Path) -> None:
    policy = load_policy(repo_root / "policies" / "llm.yaml").policy
    metrics = TASK.metrics
    for rule in policy.rules:
        assert rule.metric == "accuracy" or rule.metric in metrics or rule.metric.endswith("_bytes")
    rules = {r.id: r for r in policy.rules}
    assert rules["perplexity-kept"].max == pytest.approx(1 / 0.95, abs=1e-4)
    assert rules["generation-speed-up"].min == 2.0 and rules["memory-cut"].min == 0.5
