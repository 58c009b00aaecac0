"""ONNX Runtime's own fastest timing loop and the gate's measurement on the same ONNX file, in one run.

Usage::

    python benchmarks/ort_iobinding.py ARTIFACT_DIR --inputs build/gate/M/inputs.npz \\
        --task sentence-embedding [--threads 2] [--runs 200] [--repeats 3]

ARTIFACT_DIR is an ``onnxruntime`` artifact (``model.onnx`` + ``artifact.json``), e.g.
``build/gate/minilm/baseline``. The reference is what ``onnxruntime_perf_test`` does (it is not
in the Python wheel): an ``InferenceSession`` with the gate's session options (CPU provider,
``--threads`` intra-op threads, one inter-op thread, sequential execution, all graph
optimisations, spinning off), inputs and outputs bound once through IOBinding, and a loop of
``run_with_iobinding`` timed with ``perf_counter_ns``. The gate's figure comes from a fresh
``gate.measure.worker`` process, exactly as in ``gate measure``. Blocks of the two alternate
(``--repeats``) so a slow phase of a shared machine does not land on one side only. Prints the
load average, both medians (ms, over all runs of all blocks), their ratio gate / loop, and the
ratio of each adjacent pair of blocks with its median. Then, in this process, the same calls
timed by the gate's clock and by ORT's profiler (:func:`same_calls`): the gate's extra time per
call, which a busy machine cannot shift to one side.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from gate.backends.base import Artifact
from gate.measure.harness import Worker, WorkerSpec

#: The worker's memory watchdog limit: generous, a benchmark is not a gate.
MEMORY_LIMIT_BYTES = 16 << 30
WARMUP = 20


def gate_block(backend: str, artifact: Path, task: str, inputs: Path, threads: int, runs: int) -> dict[str, Any]:
    """The reply of one ``time`` request (``runs`` timed runs after the warm-up) in a fresh worker."""
    worker = Worker(WorkerSpec("candidate", backend, artifact), task=task, inputs=inputs,
                    threads=threads, deadline=time.monotonic() + 600, memory_bytes=MEMORY_LIMIT_BYTES)
    try:
        worker.request(op="load")
        return worker.request(op="time", warmup=WARMUP, runs=runs)
    finally:
        worker.close()


def iobinding_session(model: Path, threads: int, profile: bool = False) -> Any:
    """An ``InferenceSession`` with the gate's options (see the module docstring); ``profile``
    switches ORT's profiler on (its JSON file goes to the temporary folder)."""
    import tempfile

    import onnxruntime as ort

    opts = ort.SessionOptions()
    if profile:
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(tempfile.gettempdir()) / "gate-bench-ort-profile")
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(model), sess_options=opts, providers=["CPUExecutionProvider"])


def iobinding_block(sess: Any, feeds: dict[str, np.ndarray], runs: int) -> list[float]:
    """Latencies (ms) of ``runs`` ``run_with_iobinding`` calls, inputs and outputs bound once."""
    binding = sess.io_binding()
    arrays = {i.name: np.ascontiguousarray(feeds[i.name]) for i in sess.get_inputs()}
    for name, array in arrays.items():
        binding.bind_cpu_input(name, array)
    outputs = [np.ascontiguousarray(o) for o in sess.run(None, arrays)]
    for meta, buf in zip(sess.get_outputs(), outputs, strict=True):
        binding.bind_output(meta.name, "cpu", 0, buf.dtype, list(buf.shape), buf.ctypes.data)
    run = sess.run_with_iobinding
    for _ in range(WARMUP):
        run(binding)
    clock = time.perf_counter_ns
    out = []
    for _ in range(runs):
        t0 = clock()
        run(binding)
        out.append((clock() - t0) / 1e6)
    return out


def same_calls(model: Path, feeds: dict[str, np.ndarray], threads: int, runs: int) -> tuple[list[float], list[float]]:
    """The gate's timed call in this process with ONNX Runtime's profiler on, timed twice per
    call: by the gate's clock (``perf_counter_ns`` around the call, as the worker times it)
    and by ORT's own (the profile's ``model_run`` event). Returns both lists (ms). Both time
    the very same calls, so a busy machine cannot favour one of them. The profiler's own cost
    lands inside both figures alike."""
    import json

    from gate.backends.onnxruntime import _OrtSession

    sess = iobinding_session(model, threads, profile=True)
    session = _OrtSession(sess)  # the gate's session class around this profiled session
    call = session.bind(feeds)
    for _ in range(20):
        call()
    clock = time.perf_counter_ns
    gate_ms = []
    for _ in range(runs):
        t0 = clock()
        call()
        gate_ms.append((clock() - t0) / 1e6)
    profile = Path(sess.end_profiling())
    try:
        events = json.loads(profile.read_text())
    finally:
        profile.unlink(missing_ok=True)
    own_ms = [e["dur"] / 1000.0 for e in events if e.get("name") == "model_run"][-runs:]
    return gate_ms, own_ms


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("artifact", type=Path)
    p.add_argument("--inputs", type=Path, required=True)
    p.add_argument("--task", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=300, help="timed runs per block, each side")
    p.add_argument("--repeats", type=int, default=7, help="alternating blocks of each side")
    args = p.parse_args()
    # absolute: the runtime's own tool runs in a scratch folder, the worker may too
    args.artifact, args.inputs = args.artifact.resolve(), args.inputs.resolve()

    from gate.tasks import get_task

    desc = Artifact.read(args.artifact)
    task = importlib.import_module(get_task(args.task).module)
    with np.load(args.inputs) as data:
        feeds = {k: np.asarray(v) for k, v in task.latency_feeds(data).items()}
    session = iobinding_session(args.artifact / desc.entry, args.threads)
    gate_runs: list[float] = []
    gate_medians: list[float] = []
    loop_runs: list[float] = []
    loop_medians: list[float] = []
    timing: dict[str, Any] = {}
    for _ in range(args.repeats):  # alternate, so a slow phase of the machine hits both sides
        reply = gate_block("onnxruntime", args.artifact, args.task, args.inputs, args.threads, args.runs)
        block = [float(v) for v in reply["latencies_ms"]]
        timing = {k: reply[k] for k in ("timed_call", "timer_overhead_ms") if k in reply}
        gate_runs += block
        gate_medians.append(statistics.median(block))
        block = iobinding_block(session, feeds, args.runs)
        loop_runs += block
        loop_medians.append(statistics.median(block))
    gate_median, loop_median = statistics.median(gate_runs), statistics.median(loop_runs)
    shape = ", ".join(f"{k}{list(v.shape)}" for k, v in feeds.items())
    print(f"artifact: {args.artifact} ({desc.precision} ONNX, {args.threads} threads, inputs {shape}); "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"gate measurement median:    {gate_median:.3f} ms  (block medians "
          f"{', '.join(f'{v:.3f}' for v in gate_medians)} ms; {len(gate_runs)} runs; {timing})")
    print(f"ORT IOBinding loop median:  {loop_median:.3f} ms  (block medians "
          f"{', '.join(f'{v:.3f}' for v in loop_medians)} ms; {len(loop_runs)} runs)")
    gate_ms, own_ms = same_calls(args.artifact / desc.entry, feeds, args.threads, args.runs)
    extra_us = statistics.median(g - o for g, o in zip(gate_ms, own_ms, strict=True)) * 1000
    print(f"same {args.runs} calls, gate clock vs ORT profiler model_run: {statistics.median(gate_ms):.3f} vs "
          f"{statistics.median(own_ms):.3f} ms, ratio {statistics.median(gate_ms) / statistics.median(own_ms):.3f}, "
          f"median extra per call {extra_us:.1f} us")
    pairs = [g / lo for g, lo in zip(gate_medians, loop_medians, strict=True)]
    print(f"ratio gate / ORT IOBinding loop: {gate_median / loop_median:.3f}  (per adjacent block pair: "
          f"{', '.join(f'{r:.3f}' for r in pairs)}; median {statistics.median(pairs):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
