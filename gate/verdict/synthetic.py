"""Known-truth latency samples, to check the decision procedure against the truth.

A runner is simulated as the measure stage sees it: interleaved rounds, each side's round a
batch of timed runs. Every sample is ``base_ms x round factor x sample noise`` where the
sample noise is log-normal with sigma ``noise`` (0.2 = about 20% spread) and the round factor
is log-normal with sigma ``drift`` (slow phases of a shared runner, independent per side and
round: the hardest case for pairing). The candidate's base latency is ``base_ms /
true_speedup``. :func:`simulate` then runs the same sequential procedure as the measure stage
and the same interval verdict as ``gate decide``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gate.config.policy import Rule
from gate.verdict.intervals import Interval, judge_interval, rounds_interval
from gate.verdict.looks import look_confidence, look_schedule
from gate.verdict.rules import Verdict


@dataclass(frozen=True)
class Outcome:
    """One simulated decision: verdict, interval and the number of rounds it took."""

    verdict: Verdict
    interval: Interval
    rounds: int


def simulate(
    true_speedup: float, *, threshold: float = 2.0, noise: float = 0.2, drift: float = 0.1,
    base_ms: float = 17.0, rounds: int = 5, per_round: int = 20, max_rounds: int = 60,
    confidence: float = 0.95, resamples: int = 1000, seed: int = 0,
) -> Outcome:
    """Simulate one target's speed-up rule (``speedup >= threshold``) on a noisy runner.

    Looks at the interval after ``rounds`` rounds and then at each count of
    :func:`gate.verdict.looks.look_schedule`, stopping at the first look that is not INCONCLUSIVE;
    every look uses :func:`gate.verdict.looks.look_confidence` and the same resamples and seed
    as the verdict, so the look that stops and the verdict agree. ``max_rounds`` defaults to the
    policy's default (:class:`gate.config.policy.Statistics`).
    """
    rng = np.random.default_rng(seed)
    rule = Rule(id="speed-up", metric="latency_p50_ms", compare="speedup", min=threshold)
    base: list[list[float]] = []
    cand: list[list[float]] = []

    def add_round() -> None:
        for side, ms in ((base, base_ms), (cand, base_ms / true_speedup)):
            factor = rng.lognormal(0.0, drift)
            side.append(list(ms * factor * rng.lognormal(0.0, noise, size=per_round)))

    looks = look_schedule(rounds, max_rounds)
    for look in looks:
        while len(base) < look:
            add_round()
        level = look_confidence(confidence, looks, look)
        final = rounds_interval("speedup", base, cand, 50, confidence=level, resamples=resamples, seed=seed)
        if judge_interval(rule, final) is not Verdict.INCONCLUSIVE:
            break
    return Outcome(judge_interval(rule, final), final, len(base))
