"""LLM fidelity metrics, the roofline arithmetic and the policy they feed, on hand-built numbers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from gate.backends.llm import decode_bytes_per_token
from gate.config.policy import load_policy
from gate.measure.bandwidth import measure_bandwidth
from gate.measure.llm_harness import summarize_runs
from gate.tasks import TASKS
from gate.tasks.generation import greedy_match, perplexity, score


def test_uniform_logits_have_perplexity_of_the_vocabulary() -> None:
    tokens = np.array([0, 1, 2, 3, 4])
    assert perplexity(np.zeros((5, 7)), tokens) == pytest.approx(7.0)


def test_identical_logits_score_perfectly() -> None:
    rng = np.random.default_rng(1)
    ref = rng.standard_normal((20, 11)).astype(np.float32)
    tokens = rng.integers(0, 11, size=20)
    s = score(ref, ref.copy(), tokens)
    assert s["kl_mean"] == 0.0 and s["kl_p99"] == 0.0 and s["top1_agreement"] == 1.0
    assert s["perplexity"] == pytest.approx(perplexity(ref, tokens))


def test_kl_and_top1_match_hand_computation() -> None:
    # two positions (the last row is never scored), vocabulary of 2
    ref = np.log(np.array([[0.5, 0.5], [0.9, 0.1], [0.5, 0.5]]))
    out = np.log(np.array([[0.25, 0.75], [0.9, 0.1], [0.5, 0.5]]))
    s = score(ref, out, np.array([0, 1, 0]))
    kl0 = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert s["kl_mean"] == pytest.approx(kl0 / 2)
    assert s["top1_agreement"] == pytest.approx(0.5)  # argmax ties go to index 0, then 1 vs 0
    assert s["perplexity"] == pytest.approx(math.exp(-(math.log(0.75) + math.log(0.9)) / 2))


def test_score_refuses_mismatched_or_broken_logits() -> None:
    with pytest.raises(ValueError, match="differs"):
        score(np.zeros((4, 3)), np.zeros((4, 5)), np.arange(4))
    bad = np.zeros((4, 3))
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        score(np.zeros((4, 3)), bad, np.arange(4))


def test_greedy_match_stops_at_first_difference() -> None:
    assert greedy_match([1, 2, 3, 4], [1, 2, 9, 4]) == 0.5
    assert greedy_match([1, 2], [1, 2]) == 1.0


def test_decode_bytes_per_token_adds_the_kv_cache() -> None:
    shape = {"layers": 30, "kv_heads": 3, "head_dim": 64}
    # 2 (K and V) x 30 x 3 x 64 x 100 tokens x 2 bytes
    assert decode_bytes_per_token(1_000_000, shape, 100) == 1_000_000 + 2 * 30 * 3 * 64 * 100 * 2


def test_summarize_runs_uses_medians() -> None:
    runs = [{"prompt_ms": 100.0, "ttft_ms": 110.0, "step_ms": [10.0] * 4},
            {"prompt_ms": 200.0, "ttft_ms": 210.0, "step_ms": [20.0] * 4},
            {"prompt_ms": 100.0, "ttft_ms": 120.0, "step_ms": [1000.0] * 4}]  # a stalled run
    s = summarize_runs(runs, prompt_tokens=10, n_gen=4)
    assert s["generation_tokens_per_s"] == pytest.approx(50.0)
    assert s["prompt_tokens_per_s"] == pytest.approx(100.0)
    assert s["time_to_first_token_ms"] == pytest.approx(120.0)
    assert s["latency"]["count"] == 12


def test_bandwidth_is_measured_and_positive() -> None:
    bw = measure_bandwidth(threads=1, size_bytes=8 << 20, repeats=2)
    assert bw["bytes_per_s"] > 1e8 and len(bw["samples_bytes_per_s"]) == 2
    with pytest.raises(ValueError):
        measure_bandwidth(threads=0)


def test_llm_policy_names_task_metrics(repo_root: Path) -> None:
    policy = load_policy(repo_root / "policies" / "llm.yaml").policy
    metrics = TASKS["text-generation"].metrics
    for rule in policy.rules:
        assert rule.metric == "accuracy" or rule.metric in metrics or rule.metric.endswith("_bytes")
    rules = {r.id: r for r in policy.rules}
    assert rules["perplexity-kept"].max == pytest.approx(1 / 0.95, abs=1e-4)
    assert rules["generation-speed-up"].min == 2.0 and rules["memory-cut"].min == 0.5
