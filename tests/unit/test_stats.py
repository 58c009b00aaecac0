"""Verdicts that survive noisy runners: seeded known-truth simulations and interval rules."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from gate.config.policy import Rule
from gate.verdict.intervals import (
    Interval,
    judge_interval,
    paired_interval,
    resamples_for,
    rounds_interval,
)
from gate.verdict.looks import FIRST_LOOK_SHARE, look_confidence, look_schedule, per_look_confidence, spent_alpha
from gate.verdict.rules import Verdict
from gate.verdict.synthetic import simulate

SEEDS = range(20)


def verdicts(true_speedup: float) -> Counter[str]:
    return Counter(simulate(true_speedup, threshold=2.0, noise=0.2, seed=s).verdict.value for s in SEEDS)


def test_true_2_5x_passes_in_20_of_20() -> None:
    assert verdicts(2.5) == {"pass": 20}


def test_true_1_6x_fails_in_20_of_20() -> None:
    assert verdicts(1.6) == {"fail": 20}


def test_true_2_0x_on_the_threshold_is_inconclusive() -> None:
    # At the threshold itself a 95% procedure may still decide wrongly in about 1 run in 20;
    # what must hold is that INCONCLUSIVE is the answer, and it is never a confident PASS.
    outcome = verdicts(2.0)
    assert outcome["inconclusive"] >= 17, outcome
    assert outcome["pass"] <= 1, outcome
    assert simulate(2.0, seed=0).verdict is Verdict.INCONCLUSIVE


def test_slower_candidate_reports_speedup_below_one() -> None:
    out = simulate(0.5, seed=3)
    assert out.verdict is Verdict.FAIL
    assert 0.4 < out.interval.low <= out.interval.value <= out.interval.high < 0.6


def test_interval_contains_the_truth_and_is_seeded() -> None:
    rng = np.random.default_rng(7)
    base = [list(20 * rng.lognormal(0, 0.2, 30)) for _ in range(6)]
    cand = [list(8 * rng.lognormal(0, 0.2, 30)) for _ in range(6)]
    a = rounds_interval("speedup", base, cand, 50, confidence=0.95, resamples=1000, seed=1)
    b = rounds_interval("speedup", base, cand, 50, confidence=0.95, resamples=1000, seed=1)
    assert a == b
    assert a.low < 2.5 < a.high
    assert a.value == pytest.approx(np.median(np.concatenate(base)) / np.median(np.concatenate(cand)))


def test_paired_interval_over_items() -> None:
    base = np.ones(400)
    cand = np.random.default_rng(0).uniform(0.6, 1.0, 400)
    iv = paired_interval("ratio", base, cand, lambda a: float(np.mean(a)), confidence=0.95,
                         resamples=1000, seed=0, method="items")
    se = float(np.std(cand, ddof=1) / np.sqrt(len(cand)))
    assert iv.value == pytest.approx(float(np.mean(cand)))
    assert iv.low < iv.value < iv.high
    assert iv.high - iv.low == pytest.approx(2 * 1.96 * se, rel=0.2)  # the normal-theory width


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [(2.1, 2.9, Verdict.PASS), (1.2, 1.9, Verdict.FAIL), (1.8, 2.3, Verdict.INCONCLUSIVE),
     (2.0, 2.0, Verdict.PASS), (float("nan"), 3.0, Verdict.INCONCLUSIVE)],
)
def test_judge_interval_lower_bound(low: float, high: float, expected: Verdict) -> None:
    rule = Rule(id="r", metric="latency_p50_ms", compare="speedup", min=2.0)
    assert judge_interval(rule, Interval((low + high) / 2, low, high, 0.95, "t", 1)) is expected


def test_judge_interval_upper_bound() -> None:
    rule = Rule(id="r", metric="latency_cv", compare="absolute", max=0.2)
    assert judge_interval(rule, Interval(0.1, 0.05, 0.15, 0.95, "t", 1)) is Verdict.PASS
    assert judge_interval(rule, Interval(0.3, 0.25, 0.35, 0.95, "t", 1)) is Verdict.FAIL
    assert judge_interval(rule, Interval(0.2, 0.15, 0.25, 0.95, "t", 1)) is Verdict.INCONCLUSIVE


def test_looks_double_and_split_alpha() -> None:
    assert look_schedule(5, 30) == [5, 10, 20, 30]
    assert look_schedule(5, 5) == [5]
    assert per_look_confidence(0.95, 4) == pytest.approx(0.9875)


def test_alpha_spending_never_spends_more_than_alpha() -> None:
    looks = look_schedule(5, 60)
    assert looks == [5, 10, 20, 40, 60]
    levels = [1 - look_confidence(0.95, looks, n) for n in looks]
    assert sum(levels) == pytest.approx(0.05)  # the union bound telescopes to alpha
    # the first look spends a tenth (clear cases stop there), then little, most at the last look
    assert levels[0] == pytest.approx(0.05 * FIRST_LOOK_SHARE) and levels[1] < levels[0]
    assert levels[1:] == sorted(levels[1:])
    # a 5-round look at that level is resolvable (each tail beyond 5 ** -4 of the resamples)
    assert (1 - levels[0]) < 1 - 2 * 5.0 ** -4
    # the time budget ran out at 33 rounds, between the looks at 20 and 40: that look spends
    # what the spending function allows from 20 to 33, and never more than alpha in all
    between = spent_alpha(33 / 60, 0.05, 5 / 60) - spent_alpha(20 / 60, 0.05, 5 / 60)
    assert 1 - look_confidence(0.95, looks, 33) == pytest.approx(between)
    assert look_confidence(0.95, [7], 7) == pytest.approx(0.95)  # one planned look: the policy's level
    with pytest.raises(ValueError):
        look_confidence(0.95, [], 5)


def test_a_level_the_resamples_cannot_resolve_decides_nothing() -> None:
    rng = np.random.default_rng(3)
    base = [list(20 * rng.lognormal(0, 0.05, 20)) for _ in range(8)]
    cand = [list(5 * rng.lognormal(0, 0.05, 20)) for _ in range(8)]
    rule = Rule(id="r", metric="latency_p50_ms", compare="speedup", min=2.0)
    # 4x faster, clearly; a 99.99% interval needs 200,000 resamples for 10 in each tail, and
    # draws them (an early sequential look asks for such levels)
    assert resamples_for(0.9999, 1000) == 200_000 and resamples_for(0.95, 1000) == 1000
    iv = rounds_interval("speedup", base, cand, 50, confidence=0.9999, resamples=1000, seed=0)
    assert judge_interval(rule, iv) is Verdict.PASS and iv.resamples == 200_000 and "200000 resamples" in iv.method
    # beyond what MAX_RESAMPLES can place in a tail: the resamples' extremes, never a decision
    iv = rounds_interval("speedup", base, cand, 50, confidence=1 - 1e-5, resamples=1000, seed=0)
    assert judge_interval(rule, iv) is Verdict.INCONCLUSIVE and iv.method.startswith("not resolved")
    # 5 rounds: a tail below 5 ** -4 (the resamples that draw one round five times) is that
    # round's own figure, whatever the resample count; 99% is fine
    five_b, five_c = base[:5], cand[:5]
    iv = rounds_interval("speedup", five_b, five_c, 50, confidence=0.9999, resamples=1000, seed=0)
    assert judge_interval(rule, iv) is Verdict.INCONCLUSIVE and "5 rounds" in iv.method
    assert judge_interval(rule, rounds_interval("speedup", five_b, five_c, 50, confidence=0.99, resamples=1000,
                                                seed=0)) is Verdict.PASS


def test_extra_resamples_keep_the_policy_level_draw() -> None:
    # at the policy's usual level nothing changes; at an extreme level the interval is wider
    # and its first chunk is the usual draw (same seed, same streams)
    rng = np.random.default_rng(5)
    base = [list(20 * rng.lognormal(0, 0.2, 20)) for _ in range(8)]
    cand = [list(9 * rng.lognormal(0, 0.2, 20)) for _ in range(8)]
    usual = rounds_interval("speedup", base, cand, 50, confidence=0.95, resamples=500, seed=2)
    assert usual.resamples == 500 and "resamples for this level" not in usual.method
    extreme = rounds_interval("speedup", base, cand, 50, confidence=0.999, resamples=500, seed=2)
    assert extreme.resamples == 20_000
    assert extreme.low < usual.low < usual.value < usual.high < extreme.high
