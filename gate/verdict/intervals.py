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
from gate.verdict.looks import look_confidence
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
