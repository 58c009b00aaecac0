"""OpenVINO's own ``benchmark_app`` and the gate's measurement on the same IR, in one run.

Usage::

    python benchmarks/openvino_benchmark_app.py ARTIFACT_DIR --inputs build/gate/M/inputs.npz \\
        --task sentence-embedding [--threads 2] [--seconds 5] [--runs 200] [--repeats 3]

ARTIFACT_DIR is an ``openvino`` artifact (``model.xml`` + ``artifact.json``), e.g.
``build/gate/minilm/targets/ov-int8/candidate``. Both tools use the same settings: CPU,
one stream, CPU pinning off (the gate sets the latency hint; benchmark_app only allows
``-hint none`` beside explicit streams, threads and pinning), ``--threads`` threads, synchronous requests, the same
``INFERENCE_PRECISION_HINT`` the gate uses for that artifact, and the latency input's shape
(``-data_shape``; benchmark_app fills the tensors with its own random values, the gate uses the
real latency input). The gate's figure comes from a fresh ``gate.measure.worker`` process,
exactly as in ``gate measure``; blocks of the two tools alternate (``--repeats``) so a slow
phase of a shared machine does not land on one side only. The gate's median is over all its
runs, benchmark_app's is the median of its per-block medians. Prints the load average, both
medians (ms), their ratio gate / benchmark_app, and the ratio of each adjacent pair of blocks
with its median. Then, in this process, the same calls timed by the gate's clock and by
OpenVINO's own (``InferRequest.latency``, :func:`same_calls`): the gate's extra time per call,
which a busy machine cannot shift to one side.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from gate.backends.base import Artifact
from gate.measure.harness import Worker, WorkerSpec

#: The worker's memory watchdog limit: generous, a benchmark is not a gate.
MEMORY_LIMIT_BYTES = 16 << 30


def gate_block(artifact: Path, task: str, inputs: Path, threads: int, runs: int) -> dict[str, Any]:
    """The reply of one ``time`` request (``runs`` timed runs after 20 warm-up runs) in a
    fresh worker: ``latencies_ms``, ``timed_call`` and ``timer_overhead_ms``."""
    worker = Worker(WorkerSpec("candidate", "openvino", artifact), task=task, inputs=inputs,
                    threads=threads, deadline=time.monotonic() + 600, memory_bytes=MEMORY_LIMIT_BYTES)
    try:
        worker.request(op="load")
        return worker.request(op="time", warmup=20, runs=runs)
    finally:
        worker.close()


def same_calls(artifact: Path, feeds: dict[str, np.ndarray], threads: int,
               runs: int) -> tuple[list[float], list[float]]:
    """The gate's timed call in this process, timed twice per call: by the gate's clock
    (``perf_counter_ns`` around the call, as the worker times it) and by OpenVINO's own
    (``InferRequest.latency``, the figure ``benchmark_app`` reports). Returns both lists (ms).
    Both time the very same calls, so a busy machine cannot favour one of them."""
    from gate.backends import get_backend

    session = get_backend("openvino").open(artifact, threads)
    call = session.bind(feeds)
    request = session._request  # the request the bound call runs (see OvSession.bind)
    for _ in range(20):
        call()
    clock = time.perf_counter_ns
    gate_ms, own_ms = [], []
    for _ in range(runs):
        t0 = clock()
        call()
        gate_ms.append((clock() - t0) / 1e6)
        own_ms.append(float(request.latency))
    return gate_ms, own_ms


def benchmark_app(xml: Path, data_shape: str, threads: int, seconds: int, precision: str) -> float:
    """benchmark_app's median latency (ms), read from its report."""
    cmd = [str(Path(sys.executable).parent / "benchmark_app"), "-m", str(xml), "-d", "CPU",
           # benchmark_app refuses -nstreams/-nthreads beside a hint ("a benchmark_app UI
           # rule"): hint none with one stream and N threads is what the latency hint sets
           "-hint", "none", "-nstreams", "1", "-nthreads", str(threads), "-api", "sync",
           "-t", str(seconds), "-data_shape", data_shape, "-pin", "NO"]
    if precision != "default":
        cmd += ["-infer_precision", precision]
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, check=False)
    # benchmark_app prints microseconds for fast models ("Median: 47.23 us"), else milliseconds
    match = re.search(r"Median:\s+([0-9.]+)\s*(ms|us)", proc.stdout)
    if proc.returncode != 0 or match is None:
        raise SystemExit(f"benchmark_app failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return float(match.group(1)) / (1000.0 if match.group(2) == "us" else 1.0)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("artifact", type=Path)
    p.add_argument("--inputs", type=Path, required=True)
    p.add_argument("--task", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seconds", type=int, default=2, help="benchmark_app time per block")
    p.add_argument("--runs", type=int, default=300, help="gate timed runs per block")
    p.add_argument("--repeats", type=int, default=7, help="alternating blocks of each tool")
    args = p.parse_args()
    # absolute: the runtime's own tool runs in a scratch folder, the worker may too
    args.artifact, args.inputs = args.artifact.resolve(), args.inputs.resolve()

    import importlib

    from gate.tasks import get_task

    desc = Artifact.read(args.artifact)
    precision = "f32" if desc.precision == "fp32" else desc.details.get("inference_precision", "f32")
    task = importlib.import_module(get_task(args.task).module)
    with np.load(args.inputs) as data:
        feeds = {k: np.asarray(v) for k, v in task.latency_feeds(data).items()}
        data_shape = ",".join(f"{k}[{','.join(str(d) for d in v.shape)}]" for k, v in feeds.items())
    gate_blocks: list[list[float]] = []
    bench_medians: list[float] = []
    timing: dict[str, Any] = {}
    for _ in range(args.repeats):  # alternate, so a slow phase of the machine hits both tools
        reply = gate_block(args.artifact, args.task, args.inputs, args.threads, args.runs)
        gate_blocks.append([float(v) for v in reply["latencies_ms"]])
        timing = {k: reply[k] for k in ("timed_call", "timer_overhead_ms") if k in reply}
        bench_medians.append(benchmark_app(args.artifact / desc.entry, data_shape, args.threads,
                                           args.seconds, precision))
    gate_median = statistics.median([v for block in gate_blocks for v in block])
    bench = statistics.median(bench_medians)
    print(f"artifact: {args.artifact} ({desc.precision}, precision hint {precision}, "
          f"{args.threads} threads, 1 stream, shape {data_shape}); load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"gate measurement median: {gate_median:.3f} ms  (block medians "
          f"{', '.join(f'{statistics.median(b):.3f}' for b in gate_blocks)} ms; "
          f"{sum(len(b) for b in gate_blocks)} runs; {timing})")
    print(f"benchmark_app median:    {bench:.3f} ms  (block medians "
          f"{', '.join(f'{v:.3f}' for v in bench_medians)} ms; {args.seconds} s each)")
    gate_ms, own_ms = same_calls(args.artifact, feeds, args.threads, args.runs)
    extra_us = statistics.median(g - o for g, o in zip(gate_ms, own_ms, strict=True)) * 1000
    print(f"same {args.runs} calls, gate clock vs InferRequest.latency: {statistics.median(gate_ms):.3f} vs "
          f"{statistics.median(own_ms):.3f} ms, ratio {statistics.median(gate_ms) / statistics.median(own_ms):.3f}, "
          f"median extra per call {extra_us:.1f} us")
    pairs = [statistics.median(g) / b for g, b in zip(gate_blocks, bench_medians, strict=True)]
    print(f"ratio gate / benchmark_app: {gate_median / bench:.3f}  (per adjacent block pair: "
          f"{', '.join(f'{r:.3f}' for r in pairs)}; median {statistics.median(pairs):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
