"""Known-truth harness: how often does the speed-up verdict lie or flap on a noisy runner?

Simulates the measure stage and `gate decide` (gate.verdict.synthetic) many times for true
speed-ups around a 2.0x threshold, under per-sample noise and per-round drift, and prints per
true ratio: the verdict mix, the false-pass rate (PASS when truth < threshold), the
false-block rate (FAIL or INCONCLUSIVE when truth > threshold), the flap rate (the chance two
reruns of the same truth disagree: 1 - sum of squared verdict shares), the mean rounds to a
decision and the seconds of measurement they stand for (mean and most): rounds x (10 warm-up
+ 20 timed runs) x (baseline ms + candidate ms), the manifest's default warm-up and round size
on a 17 ms baseline. The procedure's budget and resamples are the policy's defaults
(:class:`gate.config.policy.Statistics`). For comparison it prints the same rates for a naive
gate that compares one p50 ratio from 5 rounds with the threshold, as gates without intervals do.
``--boundary-runs N`` adds N runs at exactly 2.0x and prints their PASS rate with its exact
upper bound, beside the design bound (half the policy's error allowance).

    python benchmarks/noise_harness.py [--runs 100] [--noise 0.2] [--drift 0.1] [--seed 0] [--boundary-runs 0]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import numpy as np

from gate.config.policy import Statistics
from gate.verdict.synthetic import simulate

BASE_MS, WARMUP, PER_ROUND = 17.0, 10, 20


def seconds(rounds: int, truth: float) -> float:
    """Seconds of measurement ``rounds`` rounds stand for (see the module docstring)."""
    return rounds * (WARMUP + PER_ROUND) * (BASE_MS + BASE_MS / truth) / 1000.0


def naive(true_speedup: float, noise: float, drift: float, seed: int) -> str:
    rng = np.random.default_rng(seed)
    rounds = 5
    base = [17.0 * rng.lognormal(0, drift) * rng.lognormal(0, noise, 20) for _ in range(rounds)]
    cand = [17.0 / true_speedup * rng.lognormal(0, drift) * rng.lognormal(0, noise, 20) for _ in range(rounds)]
    ratio = np.median(np.concatenate(base)) / np.median(np.concatenate(cand))
    return "pass" if ratio >= 2.0 else "fail"


def rates(verdicts: list[str], truth: float, threshold: float) -> tuple[float, float, float]:
    n = len(verdicts)
    counts = Counter(verdicts)
    false_pass = counts["pass"] / n if truth < threshold else 0.0
    false_block = (n - counts["pass"]) / n if truth > threshold else 0.0
    flap = 1.0 - sum((c / n) ** 2 for c in counts.values())
    return false_pass, false_block, flap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--noise", type=float, default=0.2)
    parser.add_argument("--drift", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0, help="first seed; runs use seed .. seed + runs - 1")
    parser.add_argument("--boundary-runs", type=int, default=0,
                        help="further runs at exactly 2.0x (the next seeds), for the PASS rate on the bar")
    args = parser.parse_args()
    st = Statistics()
    print(f"threshold 2.0x, {args.runs} runs per truth (seeds {args.seed}..{args.seed + args.runs - 1}), sample "
          f"noise sigma {args.noise}, round drift sigma {args.drift}, {PER_ROUND} runs a round, at most "
          f"{st.max_rounds} rounds, {st.resamples} resamples, confidence {st.confidence}")
    print(f"{'truth':>6} | {'edge-gate verdicts':<34} {'f-pass':>6} {'f-block':>7} {'flap':>5} {'rounds':>6} "
          f"{'sim s':>6} {'max s':>6} | {'naive f-pass':>12} {'f-block':>7} {'flap':>5}")
    t0 = time.perf_counter()
    seeds = range(args.seed, args.seed + args.runs)
    for truth in (1.5, 1.6, 1.8, 1.9, 2.0, 2.1, 2.2, 2.5, 3.0):
        outs = [simulate(truth, noise=args.noise, drift=args.drift, seed=s, resamples=st.resamples,
                         max_rounds=st.max_rounds, confidence=st.confidence) for s in seeds]
        verdicts = [o.verdict.value for o in outs]
        fp, fb, flap = rates(verdicts, truth, 2.0)
        mix = ", ".join(f"{k} {v}" for k, v in sorted(Counter(verdicts).items()))
        nv = [naive(truth, args.noise, args.drift, s) for s in seeds]
        nfp, nfb, nflap = rates(nv, truth, 2.0)
        rounds = float(np.mean([o.rounds for o in outs]))
        secs = [seconds(o.rounds, truth) for o in outs]
        print(f"{truth:>6.2f} | {mix:<34} {fp:>6.2f} {fb:>7.2f} {flap:>5.2f} {rounds:>6.1f} "
              f"{float(np.mean(secs)):>6.1f} {max(secs):>6.1f} | "
              f"{nfp:>12.2f} {nfb:>7.2f} {nflap:>5.2f}")
    if args.boundary_runs:
        # On the bar itself: the rate of PASS over many more seeds, with its exact upper bound.
        # No procedure that passes 2.2x can make it 0: its PASS rate is continuous in the truth.
        first = args.seed + args.runs
        outs = [simulate(2.0, noise=args.noise, drift=args.drift, seed=s, resamples=st.resamples,
                         max_rounds=st.max_rounds, confidence=st.confidence)
                for s in range(first, first + args.boundary_runs)]
        passes = sum(o.verdict.value == "pass" for o in outs)
        print(f"  2.00 on {args.boundary_runs} further seeds ({first}..{first + args.boundary_runs - 1}): "
              f"{passes} PASS, rate {passes / args.boundary_runs:.4f}, one-sided 95% upper bound "
              f"{clopper_pearson_upper(passes, args.boundary_runs):.4f} (design bound "
              f"{(1 - st.confidence) / 2:.4f}); FAIL {sum(o.verdict.value == 'fail' for o in outs)}")
    print(f"({time.perf_counter() - t0:.0f} s)")


def clopper_pearson_upper(k: int, n: int, confidence: float = 0.95) -> float:
    """Exact one-sided upper confidence bound of a binomial rate with ``k`` of ``n`` (Clopper &
    Pearson 1934, Biometrika 26(4):404-413)."""
    from scipy.stats import beta

    return 1.0 if k >= n else float(beta.ppf(confidence, k + 1, n - k))


if __name__ == "__main__":
    main()
