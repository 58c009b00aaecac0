"""Known-truth harness: how often does the speed-up verdict lie or flap on a noisy runner?

Simulates the measure stage and `gate decide` (gate.verdict.synthetic) many times for true
speed-ups around a 2.0x threshold, under per-sample noise and per-round drift, and prints per
true ratio: the verdict mix, the false-pass rate (PASS when truth < threshold), the
false-block rate (FAIL or INCONCLUSIVE when truth > threshold), the flap rate (the chance two
reruns of the same truth disagree: 1 - sum of squared verdict shares) and the mean rounds to
a decision. For comparison it prints the same rates for a naive gate that compares one p50
ratio from 5 rounds with the threshold, as gates without intervals do.

    python benchmarks/noise_harness.py [--runs 100] [--noise 0.2] [--drift 0.1]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import numpy as np

from gate.verdict.synthetic import simulate


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
    args = parser.parse_args()
    print(f"threshold 2.0x, {args.runs} runs per truth, sample noise sigma {args.noise}, round drift sigma {args.drift}")
    print(f"{'truth':>6} | {'edge-gate verdicts':<34} {'f-pass':>6} {'f-block':>7} {'flap':>5} {'rounds':>6} | "
          f"{'naive f-pass':>12} {'f-block':>7} {'flap':>5}")
    t0 = time.perf_counter()
    for truth in (1.5, 1.6, 1.8, 1.9, 2.0, 2.1, 2.2, 2.5, 3.0):
        outs = [simulate(truth, noise=args.noise, drift=args.drift, seed=s, resamples=1000) for s in range(args.runs)]
        verdicts = [o.verdict.value for o in outs]
        fp, fb, flap = rates(verdicts, truth, 2.0)
        mix = ", ".join(f"{k} {v}" for k, v in sorted(Counter(verdicts).items()))
        nv = [naive(truth, args.noise, args.drift, s) for s in range(args.runs)]
        nfp, nfb, nflap = rates(nv, truth, 2.0)
        rounds = float(np.mean([o.rounds for o in outs]))
        print(f"{truth:>6.2f} | {mix:<34} {fp:>6.2f} {fb:>7.2f} {flap:>5.2f} {rounds:>6.1f} | "
              f"{nfp:>12.2f} {nfb:>7.2f} {nflap:>5.2f}")
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
