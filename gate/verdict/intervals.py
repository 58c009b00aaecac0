"""Confidence intervals for rule values, so verdicts survive noisy runners.

A rule's value (speed-up, memory cut, accuracy ratio, ...) is a statistic of samples, not a
single number. Its interval comes from a seeded percentile bootstrap that respects how the
samples were taken:

* **latency** (samples grouped in rounds, baseline and candidate alternated within each
  round): a two-level *paired* bootstrap. Rounds are resampled with replacement, keeping each
  round's baseline and candidate together (they ran back to back, so they share the runner's
  phase), then samples are resampled within each chosen round. The statistic (e.g. the p50
  of each side, then the rule's formula) is recomputed on every resample. Resampling both
  levels keeps between-round drift in the interval instead of pretending 100 samples are
  independent (Saravanan, Berman & Sober 2020, "Application of the hierarchical bootstrap to
  multi-level data in neuroscience", Neurons, Behavior, Data analysis and Theory 3(5)).
* **memory** (one figure per fresh process, processes paired by index): paired bootstrap
  over processes.
* **per-item fidelity** (e.g. cosine of each eval sentence to the baseline's): paired
  bootstrap over eval items.
* **deterministic** figures (size on disk): the interval is the point.

The interval is the percentile interval at the policy's confidence level (Efron & Tibshirani
1993, ch. 13). A rule with a lower bound PASSes when the whole interval is at or above it,
FAILs when the whole interval is below it, and is INCONCLUSIVE when the interval straddles it
(upper bounds mirror this).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gate.config.policy import Compare, Rule
from gate.documents import Measurements, Samples
from gate.verdict.rules import Verdict, compare_value

Statistic = Callable[[np.ndarray], float]

#: Metrics computed from latency samples (their intervals resample rounds and samples).
LATENCY_METRICS = frozenset({
    "latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "throughput_items_per_s", "latency_cv",
    "latency_tail_ratio",
})


@dataclass(frozen=True)
class Interval:
    """A rule value's point estimate and its ``confidence`` percentile interval."""

    value: float
    low: float
    high: float
    confidence: float
    method: str
    resamples: int


def _formula(compare: Compare, c: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        match compare:
            case "absolute":
                out = c
            case "ratio":
                out = c / b
            case "speedup":
                out = b / c
            case "reduction":
                out = 1.0 - c / b
            case "difference":
                out = c - b
    return np.asarray(out, dtype=float)


def _percentiles(values: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return float(low), float(high)


def rounds_interval(
    compare: Compare, baseline_rounds: Sequence[Sequence[float]], candidate_rounds: Sequence[Sequence[float]],
    q: float, *, confidence: float, resamples: int, seed: int,
) -> Interval:
    """Interval of ``compare(candidate, baseline)`` where each side's figure is the ``q``-th
    percentile (0-100) of its latency samples (see :func:`rounds_interval_stat`)."""
    return rounds_interval_stat(compare, baseline_rounds, candidate_rounds,
                                lambda s: float(np.percentile(s, q)),
                                confidence=confidence, resamples=resamples, seed=seed,
                                by_row=lambda a: np.percentile(a, q, axis=1))


def _two_level_resample(
    rounds: list[np.ndarray], rng: np.random.Generator, resamples: int, picks: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``resamples`` pooled resamples of shape [resamples, total samples]: rounds drawn with
    replacement (``picks``, shared by both sides to keep them paired), then samples drawn with
    replacement within each drawn round. Rounds of unequal size are cut to the smallest."""
    n = len(rounds)
    size = min(len(r) for r in rounds)
    grid = np.stack([r[:size] for r in rounds])  # [rounds, size]
    if picks is None:
        picks = rng.integers(0, n, size=(resamples, n))
    within = rng.integers(0, size, size=(resamples, n, size))
    drawn = grid[picks[:, :, None], within]  # [resamples, rounds, size]
    return drawn.reshape(resamples, n * size), picks


#: Resamples a percentile interval needs beyond each of its bounds before it may decide: a
#: bound further out than that is the resamples' extremes, not the level asked for.
MIN_TAIL_RESAMPLES = 10
#: The most resamples an interval of latency rounds draws to reach :data:`MIN_TAIL_RESAMPLES`
#: (drawn in chunks of the policy's resample count, so memory stays that of one chunk).
MAX_RESAMPLES = 200_000


def resamples_for(confidence: float, resamples: int) -> int:
    """Resamples for a two-sided ``confidence`` percentile interval: the policy's ``resamples``,
    raised until each tail holds :data:`MIN_TAIL_RESAMPLES` (a sequential look early in the
    alpha spending asks for 99.97% and more: 2,000 resamples leave 0.35 of one in its tail),
    at most :data:`MAX_RESAMPLES`. Efron & Tibshirani (1993, ch. 19) on the replications a
    percentile interval needs: the further out the level, the more."""
    tail = (1.0 - confidence) / 2.0
    if tail <= 0:
        return MAX_RESAMPLES
    return int(min(MAX_RESAMPLES, max(resamples, np.ceil(MIN_TAIL_RESAMPLES / tail))))


def rounds_interval_stat(
    compare: Compare, baseline_rounds: Sequence[Sequence[float]], candidate_rounds: Sequence[Sequence[float]],
    statistic: Statistic, *, confidence: float, resamples: int, seed: int,
    by_row: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Interval:
    """Interval of ``compare(statistic(candidate), statistic(baseline))`` over latency samples
    in rounds, by the two-level paired bootstrap (module docstring).

    ``baseline_rounds[r]`` and ``candidate_rounds[r]`` are the samples of round ``r`` (ms).
    ``by_row``, if given, computes ``statistic`` of every row of a 2-D array at once (the
    same values, faster). The interval draws :func:`resamples_for` resamples (``resamples``
    at the policy's usual levels; more, in chunks of ``resamples``, at the extreme levels of
    early sequential looks). A ``confidence`` whose tails would still hold fewer than
    :data:`MIN_TAIL_RESAMPLES` resamples, or less than the share ``n ** (1 - n)`` of
    resamples that draw one of the ``n`` rounds every time, gives the interval (-inf, inf):
    INCONCLUSIVE, never a decision on the resamples' extremes.

    Raises:
        ValueError: no rounds, an empty round, or mismatched round counts.
    """
    if not baseline_rounds or len(baseline_rounds) != len(candidate_rounds):
        raise ValueError("baseline and candidate need the same, non-zero number of rounds")
    base = [np.asarray(r, dtype=float) for r in baseline_rounds]
    cand = [np.asarray(r, dtype=float) for r in candidate_rounds]
    if any(len(r) == 0 for r in (*base, *cand)):
        raise ValueError("a round has no samples")
    point = compare_value(compare, statistic(np.concatenate(cand)), statistic(np.concatenate(base)))
    total = resamples_for(confidence, resamples)
    tail, n = (1.0 - confidence) / 2.0, len(base)
    if tail * total < MIN_TAIL_RESAMPLES * (1 - 1e-9) or tail < float(n) ** (1 - n):  # 1e-9: float rounding
        # a percentile further out than the resamples can place is the sample's extreme, not
        # the level asked for; and one further out than the share of resamples that draw a
        # single round n times (n ** (1 - n): 0.16% of them with 5 rounds) is that round's
        # own figure: with few rounds a cluster bootstrap cannot place extreme tails
        # (Cameron, Gelbach & Miller 2008, Review of Economics and Statistics 90(3):414-427).
        # Such a look cannot decide. Seen here without the second condition: a true 2.0x
        # passed at the 5-round look (99.97%) in 2 of 400 simulated runs.
        return Interval(point, -np.inf, np.inf, confidence,
                        f"not resolved: {n} rounds and {total} resamples cannot give a {confidence:.5%} "
                        f"percentile interval", total)

    def rows(a: np.ndarray) -> np.ndarray:
        return by_row(a) if by_row is not None else np.apply_along_axis(statistic, 1, a)

    rng = np.random.default_rng(seed)
    rng_c = np.random.default_rng([seed, 1])
    chunks = []
    for start in range(0, total, resamples):  # the first chunk is the policy's usual draw
        k = min(resamples, total - start)
        b_side = _two_level_resample(base, rng, k)
        c_side = _two_level_resample(cand, rng_c, k, picks=b_side[1])
        chunks.append(_formula(compare, rows(c_side[0]), rows(b_side[0])))
    low, high = _percentiles(np.concatenate(chunks), confidence)
    method = "two-level paired bootstrap over rounds and samples"
    if total > resamples:
        method += f" ({total} resamples for this level)"
    return Interval(point, low, high, confidence, method, total)


def paired_interval(
    compare: Compare, baseline: Sequence[float], candidate: Sequence[float], statistic: Statistic,
    *, confidence: float, resamples: int, seed: int, method: str,
) -> Interval:
    """Interval of ``compare(statistic(candidate), statistic(baseline))`` by resampling the
    paired observations (index ``i`` of both sides together) with replacement.

    Raises:
        ValueError: the sides differ in length or are empty.
    """
    b, c = np.asarray(baseline, dtype=float), np.asarray(candidate, dtype=float)
    if len(b) == 0 or len(b) != len(c):
        raise ValueError("paired samples need the same, non-zero length on both sides")
    point = compare_value(compare, statistic(c), statistic(b))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(b), size=(resamples, len(b)))
    stats = np.array([_formula(compare, np.asarray(statistic(c[k])), np.asarray(statistic(b[k]))) for k in idx])
    low, high = _percentiles(stats, confidence)
    return Interval(point, low, high, confidence, method, resamples)


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
#: resolve (:func:`rounds_interval_stat`), so every candidate paid for at least 10 rounds.
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


def drift_interval(
    compare: Compare, baseline_rounds: Sequence[Sequence[float]], candidate_rounds: Sequence[Sequence[float]],
    *, confidence: float, resamples: int, seed: int,
) -> Interval:
    """Interval of the drift ratio (:func:`gate.measure.summary.drift_ratio`) by resampling the
    samples within each round, keeping the rounds in their order (drift is about order)."""
    from gate.measure.summary import drift_ratio

    def drift(rounds: list[np.ndarray]) -> float:
        return drift_ratio([list(r) for r in rounds])

    base = [np.asarray(r, dtype=float) for r in baseline_rounds]
    cand = [np.asarray(r, dtype=float) for r in candidate_rounds]
    point = compare_value(compare, drift(cand), drift(base))
    rng = np.random.default_rng(seed)
    stats = np.empty(resamples)
    for i in range(resamples):
        b = [r[rng.integers(0, len(r), size=len(r))] for r in base]
        c = [r[rng.integers(0, len(r), size=len(r))] for r in cand]
        stats[i] = _formula(compare, np.asarray(drift(c)), np.asarray(drift(b)))
    low, high = _percentiles(stats, confidence)
    return Interval(point, low, high, confidence, "bootstrap within rounds, round order kept", resamples)


def independent_interval(
    compare: Compare, baseline: Sequence[float], candidate: Sequence[float], statistic: Statistic,
    *, confidence: float, resamples: int, seed: int, method: str,
) -> Interval:
    """Interval of ``compare(statistic(candidate), statistic(baseline))`` resampling each side
    on its own (the sides are not paired, e.g. requests under load)."""
    b, c = np.asarray(baseline, dtype=float), np.asarray(candidate, dtype=float)
    if len(b) == 0 or len(c) == 0:
        raise ValueError("no samples")
    point = compare_value(compare, statistic(c), statistic(b))
    rng = np.random.default_rng(seed)
    stats = np.array([
        _formula(compare, np.asarray(statistic(c[rng.integers(0, len(c), len(c))])),
                 np.asarray(statistic(b[rng.integers(0, len(b), len(b))])))
        for _ in range(resamples)
    ])
    low, high = _percentiles(stats, confidence)
    return Interval(point, low, high, confidence, method, resamples)


def judge_interval(rule: Rule, interval: Interval) -> Verdict:
    """PASS when the whole interval meets the rule's bounds, FAIL when the whole interval
    misses one of them, else INCONCLUSIVE. A non-finite end is INCONCLUSIVE, never PASS."""
    low, high = interval.low, interval.high
    if not (np.isfinite(low) and np.isfinite(high)):
        return Verdict.INCONCLUSIVE
    if (rule.min is not None and high < rule.min) or (rule.max is not None and low > rule.max):
        return Verdict.FAIL
    if (rule.min is None or low >= rule.min) and (rule.max is None or high <= rule.max):
        return Verdict.PASS
    return Verdict.INCONCLUSIVE


def _latency_statistic(metric: str, batch_size: int) -> Statistic | None:
    match metric:
        case "latency_p50_ms" | "latency_p90_ms" | "latency_p99_ms":
            q = float(metric.split("_")[1][1:])
            return lambda s: float(np.percentile(s, q))
        case "throughput_items_per_s":
            return lambda s: float(batch_size * len(s) / (np.sum(s) / 1000.0))
        case "latency_cv":
            return lambda s: float(np.std(s, ddof=1) / np.mean(s))
        case "latency_tail_ratio":
            return lambda s: float(np.percentile(s, 99) / np.percentile(s, 50))
    return None


def _item_statistic(kind: str) -> Statistic:
    """``mean``, ``exp_mean`` (``exp`` of the mean: perplexity from per-window mean negative
    log-likelihoods of equal-length windows) or ``pNN`` (a percentile)."""
    if kind == "mean":
        return lambda a: float(np.mean(a))
    if kind == "exp_mean":
        return lambda a: float(np.exp(np.mean(a)))
    q = float(kind.removeprefix("p"))
    return lambda a: float(np.percentile(a, q))


def rule_interval(
    rule: Rule, metric: str, measurements: Measurements | Mapping[str, Any],
    item_statistics: dict[str, tuple[str, str]], *, confidence: float, resamples: int, seed: int,
) -> Interval:
    """The interval of ``rule`` on ``metric`` from a measurements document.

    ``measurements`` is a :class:`gate.documents.Measurements`, or (while the measure stage is
    still taking rounds) a mapping with only ``samples`` and ``settings``, whose samples are
    validated by the same :class:`gate.documents.Samples` model.

    Latency metrics resample rounds and samples (:func:`rounds_interval`) at the confidence
    of the look that ended the measurement (:func:`look_confidence` over
    ``settings.looks_planned`` and the rounds taken; one look if none were planned), memory
    metrics the fresh processes, task metrics the eval items, and ``model_size_bytes`` is
    exact.

    Raises:
        KeyError: the document lacks the samples this metric needs.
        ValueError: the samples are malformed (see the resampling functions).
    """
    if isinstance(measurements, Measurements):
        samples, settings = measurements.samples, measurements.settings
        points: tuple[Mapping[str, float], Mapping[str, float]] = (
            measurements.baseline.metrics, measurements.candidate.metrics)
    else:
        samples = Samples.model_validate(measurements.get("samples") or {})
        settings = measurements.get("settings") or {}
        points = ({}, {})
    kw: dict[str, Any] = {"confidence": confidence, "resamples": resamples, "seed": seed}
    batch = int(settings.get("batch_size", 1))
    lat = _latency_statistic(metric, batch)
    if lat is not None:
        rounds = _need(samples.latency_rounds_ms, "latency_rounds_ms")
        taken = len(rounds["baseline"])
        kw["confidence"] = look_confidence(confidence, settings.get("looks_planned") or [taken], taken)
        return rounds_interval_stat(rule.compare, rounds["baseline"], rounds["candidate"], lat, **kw)
    if metric == "latency_drift_ratio":
        rounds = _need(samples.latency_rounds_ms, "latency_rounds_ms")
        return drift_interval(rule.compare, rounds["baseline"], rounds["candidate"], **kw)
    if metric == "load_latency_p99_ms":
        load = _need(samples.load_latency_ms, "load_latency_ms")
        return independent_interval(rule.compare, load["baseline"], load["candidate"],
                                    lambda a: float(np.percentile(a, 99)),
                                    method="bootstrap of each side's requests under load", **kw)
    if metric in samples.runs:
        runs = samples.runs[metric]
        return paired_interval(rule.compare, runs["baseline"], runs["candidate"], lambda a: float(np.median(a)),
                               method="paired bootstrap over timed runs (median)", **kw)
    if metric in ("model_memory_bytes", "peak_rss_bytes"):
        mem = _need(samples.memory, "memory")
        base = [m[metric] for m in mem["baseline"]]
        cand = [m[metric] for m in mem["candidate"]]
        return paired_interval(rule.compare, base, cand, lambda a: float(np.median(a)),
                               method=f"paired bootstrap over {len(base)} fresh processes", **kw)
    if metric in item_statistics:
        key, kind = item_statistics[metric]
        items = _need(samples.items, "items")
        return paired_interval(rule.compare, items["baseline"][key], items["candidate"][key],
                               _item_statistic(kind), method="paired bootstrap over eval items", **kw)
    base_v = float(points[0][metric])
    cand_v = float(points[1][metric])
    value = compare_value(rule.compare, cand_v, base_v)
    return Interval(value, value, value, confidence, "no resampling (a deterministic figure)", 0)


def _need(found: dict[str, Any], name: str) -> dict[str, Any]:
    """``found`` when the document had these samples; KeyError naming them otherwise."""
    if not found:
        raise KeyError(name)
    return found
