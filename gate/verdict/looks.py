"""Sequential looks: after how many rounds the measure stage looks at its intervals, and at
what confidence each look decides.

The measure stage adds rounds while a latency rule is INCONCLUSIVE, looking at planned round
counts (:func:`look_schedule`); each look's interval (:mod:`gate.verdict.intervals`) is taken at
the confidence :func:`look_confidence` gives it, so that looking again does not inflate wrong
verdicts. ``gate decide`` computes the same confidence for the look that ended the
measurement.
"""

from __future__ import annotations

from collections.abc import Sequence


def look_schedule(rounds: int, max_rounds: int) -> list[int]:
    """Round counts at which a sequential measurement looks at its intervals.

    The first look is after ``rounds`` rounds; each further look doubles the count, capped at
    ``max_rounds`` (e.g. 5, 10, 20, 40, 60). Few, planned looks keep the cost of looking small.
    """
    looks = [rounds]
    while looks[-1] < max_rounds:
        looks.append(min(2 * looks[-1], max_rounds))
    return looks


def per_look_confidence(confidence: float, looks: int) -> float:
    """Confidence of each look under an even Bonferroni split, ``alpha / looks`` per look.

    Kept for callers that plan equal looks; the measure stage and ``gate decide`` use
    :func:`look_confidence`, which spends the same total alpha unevenly over the looks.
    """
    return 1.0 - (1.0 - confidence) / max(1, looks)


#: Exponent of the alpha-spending function after the first look (:func:`spent_alpha`). 2 sits
#: between Pocock-like (1: spend early) and O'Brien-Fleming-like (3 and more: keep almost all
#: alpha for the last look); chosen with ``benchmarks/noise_harness.py``, where it decides a
#: true 2.2x by the last look in 39 of 40 runs.
SPENDING_RHO = 2.0
#: Share of the error allowance the first look spends. A clear-cut candidate (a true 2.5x or
#: 1.6x against 2.0) is decided there, after the manifest's ``measure.rounds``; with ``t**2``
#: alone the first of 5 looks over 60 rounds would spend 0.035%, a level 5 rounds cannot
#: resolve (:func:`gate.verdict.intervals.rounds_interval_stat`), so every candidate paid for at least 10 rounds.
FIRST_LOOK_SHARE = 0.1


def spent_alpha(fraction: float, alpha: float, first: float = 0.0) -> float:
    """Error allowance spent by information fraction ``fraction`` (0-1) when the first look is
    at fraction ``first``: ``alpha * FIRST_LOOK_SHARE`` at the first look, then the power
    family over the rest, ``alpha * (s + (1 - s) * ((t - first) / (1 - first)) ** 2)``
    (``s`` = :data:`FIRST_LOOK_SHARE`), reaching ``alpha`` at 1. With ``first`` 0 (or 1: one
    look) it is ``alpha * t ** 2``.

    The power family of alpha-spending functions of Kim & DeMets (1987), "Design and analysis
    of group sequential tests based on the type I error spending rate function", Biometrika
    74(1):149-154, for the spending approach of Lan & DeMets (1983), "Discrete sequential
    boundaries for clinical trials", Biometrika 70(3):659-663; any non-decreasing function
    from 0 to ``alpha`` keeps the bound of :func:`look_confidence`. Here the information
    fraction is rounds taken / the most rounds the measurement may take.
    """
    t = min(1.0, max(0.0, fraction))
    if not 0.0 < first < 1.0:
        return float(alpha * t ** SPENDING_RHO)
    if t < first:
        return float(alpha * FIRST_LOOK_SHARE * t / first)
    rest = (t - first) / (1.0 - first)
    return float(alpha * (FIRST_LOOK_SHARE + (1.0 - FIRST_LOOK_SHARE) * rest ** SPENDING_RHO))


def look_confidence(confidence: float, looks_planned: Sequence[int], rounds: int) -> float:
    """Confidence of the interval at the look taken after ``rounds`` rounds.

    ``looks_planned`` are the round counts of :func:`look_schedule` (the last one is the most
    rounds the measurement may take); every planned look below ``rounds`` was taken before
    this one (the measurement stops at the first decided look, or earlier when its time budget
    runs out, between two looks). The look spends ``spent_alpha(rounds / max) -
    spent_alpha(previous look / max)`` of the error allowance ``alpha = 1 - confidence``, the
    first look at fraction ``looks_planned[0] / max``.

    Why this is sound: a wrong PASS or FAIL at some look means some look's interval missed the
    truth, so by the union bound (Bonferroni) the chance of any wrong decision is at most the
    sum of the looks' allowances, which telescopes to ``spent_alpha(rounds / max) <= alpha``.
    The exact group-sequential boundaries (Lan & DeMets 1983) would be less strict; the union
    bound needs no model of how the looks correlate. Stopping as soon as a plain 95% interval
    clears a threshold (optional stopping) would not keep this bound: seen here, 5 wrong
    decisions in 20 simulated runs on the threshold with a 95% look every round.

    The first look spends enough to decide clear-cut candidates; spending little at the next
    looks keeps most of the allowance for the last ones, so a candidate near the bar is
    decided with fewer runs than an even split over the looks needs (even split over 5 looks:
    1% per look; here, looks at 5, 10, 20, 40 and 60 rounds: 0.5%, 0.04%, 0.3%, 1.5%, 2.7%).

    Raises:
        ValueError: no planned looks, or ``rounds`` < 1.
    """
    if not looks_planned or rounds < 1:
        raise ValueError("a look needs planned looks and at least one round")
    most = max(looks_planned[-1], rounds)
    previous = max((look for look in looks_planned if look < rounds), default=0)
    alpha, first = 1.0 - confidence, looks_planned[0] / most
    level = spent_alpha(rounds / most, alpha, first) - spent_alpha(previous / most, alpha, first)
    return 1.0 - level
