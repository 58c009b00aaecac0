"""What pairing every candidate with its own baseline costs, against one shared baseline stream.

Usage::

    python benchmarks/pairing_cost.py REPO --model minilm [--task sentence-embedding] \\
        [--targets a b c] [--rounds 20] [--runs-per-round 20] [--warmup 10] [--threads 2] [--repeats 2]

REPO is a repository where ``gate repro`` built the model's baseline and candidates (e.g. the
demo's ``.demo``). Two designs measure the same artifacts with the gate's own harness, the
same rounds, runs, warm-up, threads and eval set (:mod:`gate.measure.harness`):

* **per-candidate pairs** (what ``gate measure`` does, one DVC stage per target): for each
  candidate, a fresh baseline worker and a fresh candidate worker, interleaved
  (:func:`measure_pair`);
* **one stream** (:func:`measure_group`): one baseline worker and every candidate's worker,
  each round timing all of them in rotating order.

Designs alternate ``--repeats`` times (pairs first in odd repeats). Prints, per design and
repeat, the measured wall seconds and the seconds the baseline's workers cost (start and
load, timed rounds, eval), then per candidate the p50 speed-up with its 95% two-level
bootstrap interval (:func:`gate.verdict.intervals.rounds_interval`, the interval ``gate
decide`` uses) in each design, so the cost saved and the precision kept or lost sit side by side.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from gate import layout
from gate.backends.base import Artifact
from gate.measure.harness import WorkerSpec, measure_group, measure_pair
from gate.verdict.intervals import rounds_interval

RESAMPLES, CONFIDENCE = 2000, 0.95


def speedup(base: dict[str, Any], cand: dict[str, Any]) -> str:
    iv = rounds_interval("speedup", base["rounds_ms"], cand["rounds_ms"], 50, confidence=CONFIDENCE,
                         resamples=RESAMPLES, seed=0)
    return f"{iv.value:.3f} [{iv.low:.3f}, {iv.high:.3f}] (width {iv.high - iv.low:.3f})"


def base_cost(side: dict[str, Any]) -> float:
    return float(sum(side["timing"]["measure_s"].values()))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("repo", type=Path)
    p.add_argument("--model", required=True)
    p.add_argument("--targets", nargs="*", help="default: every target with a built candidate")
    p.add_argument("--task", default="sentence-embedding", help="the manifest's task (default: sentence-embedding)")
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--runs-per-round", type=int, default=20)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    root = args.repo.resolve()
    base_dir = root / layout.baseline_dir(args.model)
    inputs = root / layout.inputs_file(args.model)
    targets_dir = base_dir.parent / "targets"
    names = args.targets or sorted(d.name for d in targets_dir.iterdir()
                                   if (d / "candidate" / "artifact.json").is_file())
    base_art = Artifact.read(base_dir)
    task = args.task
    baseline = WorkerSpec("baseline", base_art.backend, base_dir)
    cands = {n: WorkerSpec("candidate", Artifact.read(targets_dir / n / "candidate").backend,
                           targets_dir / n / "candidate") for n in names}
    kw: dict[str, Any] = {"task": task, "inputs": inputs, "threads": args.threads, "warmup_runs": args.warmup,
                          "timed_runs": args.rounds * args.runs_per_round, "rounds": args.rounds,
                          "batch_size": 1, "timeout_s": 3600.0}
    print(f"{args.model}: baseline + {len(names)} candidates ({', '.join(names)}); {args.rounds} rounds of "
          f"{args.runs_per_round} runs after {args.warmup} warm-up, {args.threads} threads, eval included; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rows: dict[str, dict[str, list[str]]] = {n: {"pairs": [], "stream": []} for n in names}
    totals: dict[str, list[float]] = {"pairs": [], "stream": []}
    for repeat in range(args.repeats):
        for design in (("pairs", "stream") if repeat % 2 == 0 else ("stream", "pairs")):
            t0 = time.perf_counter()
            if design == "pairs":
                results = {n: measure_pair(baseline, spec, **kw) for n, spec in cands.items()}
                wall = time.perf_counter() - t0
                base_s = sum(base_cost(r["baseline"]) for r in results.values())
                for n, r in results.items():
                    rows[n]["pairs"].append(speedup(r["baseline"], r["candidate"]))
                    shutil.rmtree(r["output_dir"], ignore_errors=True)
            else:
                group = measure_group(baseline, cands, **kw)
                wall = time.perf_counter() - t0
                base_s = base_cost(group["baseline"])
                for n in names:
                    rows[n]["stream"].append(speedup(group["baseline"], group["candidates"][n]))
                shutil.rmtree(group["output_dir"], ignore_errors=True)
            totals[design].append(wall)
            print(f"repeat {repeat + 1} {design:<6}: {wall:7.1f} s measured, of which the baseline's workers "
                  f"{base_s:6.1f} s", flush=True)
    for design in ("pairs", "stream"):
        print(f"{design:<6} median {statistics.median(totals[design]):7.1f} s")
    print(f"stream / pairs: {statistics.median(totals['stream']) / statistics.median(totals['pairs']):.3f}")
    for n in names:
        for design in ("pairs", "stream"):
            for i, text in enumerate(rows[n][design]):
                print(f"{n:<22} {design:<6} repeat {i + 1}: speed-up {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
