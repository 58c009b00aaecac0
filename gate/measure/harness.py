"""Measure a baseline and a candidate side by side, each in its own fresh worker process.

Both workers load their artifact, then timed rounds alternate between them (baseline first in
even rounds, candidate first in odd ones), each round preceded by its own warm-up, with the
same thread count and the same fixed input. Alternating spreads the slow and fast phases of a
shared runner over both sides instead of over one (latency on shared runners is bimodal
over seconds). Then both run the eval set and the candidate is scored against the baseline.
:func:`measure_group` does the same for one baseline and several candidates in one stream
(``benchmarks/pairing_cost.py`` compares its cost and intervals with one pair per candidate).
"""

from __future__ import annotations

import json
import os
import selectors
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from gate.errors import MeasurementError
from gate.measure.summary import summarize_latency
from gate.stages.isolation import signal_name, tail, tree_rss_bytes
from gate.verdict.looks import look_schedule

#: Seconds between two reads of a worker's memory while waiting for its reply.
WATCH_S = 0.25


@dataclass
class WorkerSpec:
    """Which artifact a worker opens and how."""

    role: str  # "baseline" or "candidate"
    backend: str
    artifact: Path


class Worker:
    """A running ``gate.measure.worker`` process and its JSON-lines channel.

    ``options`` become the worker's command-line options (``--task``, ``--inputs``). One worker
    module serves every task: the task object says how to open, time and evaluate
    (:mod:`gate.tasks.protocol`).
    """

    module = "gate.measure.worker"

    def __init__(self, spec: WorkerSpec, *, threads: int, deadline: float, memory_bytes: int,
                 **options: Any):
        self.spec = spec
        self.deadline = deadline
        self.memory_bytes = memory_bytes
        self._stderr: IO[bytes] = tempfile.TemporaryFile()
        env = dict(os.environ)
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(threads)
        argv = [sys.executable, "-m", self.module, "--backend", spec.backend, "--artifact", str(spec.artifact),
                "--threads", str(threads)]
        for key, value in options.items():
            argv += [f"--{key.replace('_', '-')}", str(value)]
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, env=env,
        )
        self._sel = selectors.DefaultSelector()
        assert self.proc.stdout is not None  # PIPE was requested
        self._sel.register(self.proc.stdout, selectors.EVENT_READ)
        self._buf = b""

    def stderr_tail(self) -> str:
        return tail(self._stderr)

    def _fail(self, what: str) -> MeasurementError:
        self.kill()
        tail = self.stderr_tail()
        detail = f"\n--- stderr (tail) ---\n{tail}" if tail else ""
        return MeasurementError(f"{self.spec.role} worker ({self.spec.backend}, {self.spec.artifact}): {what}{detail}")

    def request(self, **req: Any) -> dict[str, Any]:
        """Send one request and wait for its reply until the measurement deadline.

        Raises:
            MeasurementError: the worker died, timed out, or replied with an error; the
                message carries the tail of its stderr.
        """
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write((json.dumps(req) + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise self._fail(f"crashed ({signal_name(self.proc.wait())})") from None
        while b"\n" not in self._buf:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise self._fail(f"no reply to {req['op']!r} before the time limit")
            # the worker's own RSS only, read every WATCH_S: cheap enough not to disturb timing
            rss = tree_rss_bytes(self.proc.pid, children=False)
            if rss > self.memory_bytes:
                raise self._fail(f"used {rss} bytes of memory during {req['op']!r}, over its limit of "
                                 f"{self.memory_bytes} bytes; it was killed")
            if not self._sel.select(timeout=min(left, WATCH_S)):
                continue
            chunk = os.read(self.proc.stdout.fileno(), 1 << 16)
            if not chunk:
                code = self.proc.wait()
                raise self._fail(f"crashed ({signal_name(code)}) during {req['op']!r}")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise self._fail(reply["error"])
        return reply

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.request(op="exit")
            except MeasurementError:
                pass
        self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._sel.close()


def _median(rows: list[dict[str, int]], key: str) -> int:
    return int(statistics.median(r[key] for r in rows))


MoreRounds = Callable[[dict[str, list[list[float]]]], bool]


def _spawn(spec: WorkerSpec, **kw: Any) -> Worker:
    return Worker(spec, **kw)


def measure_pair(
    baseline: WorkerSpec, candidate: WorkerSpec, *, task: str, inputs: Path, threads: int,
    warmup_runs: int, timed_runs: int, rounds: int, batch_size: int, timeout_s: float,
    memory_bytes: int = 8 << 30, memory_processes: int = 1, load_test: tuple[int, float] | None = None,
    more_rounds: MoreRounds | None = None, time_budget_s: float = 0.0,
    max_rounds: int | None = None, progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Measure baseline and candidate interleaved; return per-role figures and eval outputs.

    :func:`measure_group` with one candidate (see there for the rounds, looks, memory and
    load test). Returns ``{"baseline": {...}, "candidate": {...}, "outputs": {role: path},
    "output_dir"}``, each role as :func:`measure_group` describes a side.

    Raises:
        MeasurementError: as :func:`measure_group`.
    """
    group = measure_group(
        baseline, {"candidate": candidate}, task=task, inputs=inputs, threads=threads,
        warmup_runs=warmup_runs, timed_runs=timed_runs, rounds=rounds, batch_size=batch_size,
        timeout_s=timeout_s, memory_bytes=memory_bytes, memory_processes=memory_processes,
        load_test=load_test, more_rounds=more_rounds, time_budget_s=time_budget_s, max_rounds=max_rounds,
        progress=progress,
    )
    return {"baseline": group["baseline"], "candidate": group["candidates"]["candidate"],
            "outputs": {"baseline": group["outputs"]["baseline"], "candidate": group["outputs"]["candidate"]},
            "output_dir": group["output_dir"]}


def measure_group(
    baseline: WorkerSpec, candidates: dict[str, WorkerSpec], *, task: str, inputs: Path, threads: int,
    warmup_runs: int, timed_runs: int, rounds: int, batch_size: int, timeout_s: float,
    memory_bytes: int = 8 << 30, memory_processes: int = 1, load_test: tuple[int, float] | None = None,
    more_rounds: MoreRounds | None = None, time_budget_s: float = 0.0,
    max_rounds: int | None = None, progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Measure one baseline and ``candidates`` (name -> spec) in one interleaved stream.

    Every round times each side once, in an order that rotates by one place a round (with
    one candidate: baseline first in even rounds, candidate first in odd ones), each block
    preceded by its own warm-up, with the same thread count and the same fixed input; so
    round ``r`` of every candidate is paired with round ``r`` of the one baseline.
    ``timed_runs`` is the total per artifact for the first ``rounds`` rounds, split evenly (at
    least one run a round). After them, while ``more_rounds({"baseline": ..., "candidate":
    ...})`` says some candidate's figures cannot decide yet, extra rounds of the same size run
    up to the next look of :func:`gate.verdict.looks.look_schedule` (rounds doubling up to
    ``max_rounds``), until ``time_budget_s`` seconds of extra rounds are spent; every side
    takes every round, so all sides keep the same round count. Memory is read in the main
    worker and in ``memory_processes - 1`` further fresh workers per side, each loading the
    artifact and running the warm-up, so that the memory rule has one figure per process.
    ``load_test`` (concurrency, seconds) runs a load test in each main worker after the timed
    rounds.

    Returns ``{"baseline": side, "candidates": {name: side}, "outputs": {"baseline" or name:
    path}, "output_dir"}``; a side holds ``rounds_ms`` (samples per round), ``latency``
    (:func:`summarize_latency`), ``rss_before_load_bytes``, ``peak_rss_bytes`` and
    ``model_memory_bytes`` (peak minus before-load), each the median over the fresh
    processes, ``memory_samples`` (per process), ``load_s``, ``versions``, ``fingerprint``
    (read by each worker on the machine it runs on), ``runs`` (the task's per-run records, in
    round order) and ``output`` (the task's JSON from the first timed run), ``timing`` (the
    timed call and the timer's overhead in ms, from the last round;
    :func:`gate.tasks.protocol.timed_call`) and ``timing.measure_s``: the wall seconds the
    side cost the measurement per phase (``start_and_load``, ``timed_rounds`` with their
    warm-ups, ``eval``, ``memory_processes``). ``outputs`` are ``.npy`` files in
    ``output_dir``, a temporary folder the caller removes.

    Raises:
        ValueError: no candidates, or a candidate named ``baseline``.
        MeasurementError: a worker crashed, hung past ``timeout_s`` (for the whole
            measurement), used more than ``memory_bytes`` of resident memory, or replied with
            an error; the message carries the tail of its stderr.
    """
    if not candidates or "baseline" in candidates:
        raise ValueError("measure_group needs candidates, none of them named 'baseline'")
    deadline = time.monotonic() + timeout_s
    per_round = max(1, -(-timed_runs // rounds))
    workers: dict[str, Worker] = {}
    out_dir = Path(tempfile.mkdtemp(prefix="gate-measure-"))
    specs = {"baseline": baseline, **candidates}
    keys = list(specs)
    kw = {"task": task, "inputs": inputs, "threads": threads, "deadline": deadline, "memory_bytes": memory_bytes}
    samples: dict[str, list[list[float]]] = {key: [] for key in specs}
    runs: dict[str, list[dict[str, float]]] = {key: [] for key in specs}
    first_output: dict[str, Any] = {}
    timing: dict[str, dict[str, Any]] = {key: {} for key in specs}
    # wall seconds each side cost the measurement, per phase (what pairing every candidate with
    # its own baseline costs: the baseline's share of a stage, see README "Measurement cost")
    spent: dict[str, dict[str, float]] = {key: {"start_and_load": 0.0, "timed_rounds": 0.0, "eval": 0.0,
                                                "memory_processes": 0.0} for key in specs}

    def call(key: str, phase: str, worker: Worker, **req: Any) -> dict[str, Any]:
        t0 = time.perf_counter()
        try:
            return worker.request(**req)
        finally:
            spent[key][phase] += time.perf_counter() - t0

    def one_round(r: int) -> None:
        shift = r % len(keys)
        for key in keys[shift:] + keys[:shift]:
            reply = call(key, "timed_rounds", workers[key], op="time", warmup=warmup_runs, runs=per_round)
            samples[key].append(reply["latencies_ms"])
            runs[key].extend(reply.get("runs") or [])
            first_output.setdefault(key, reply.get("output"))
            timing[key] = {k: reply[k] for k in ("timed_call", "timer_overhead_ms") if k in reply}
        if progress is not None:
            progress(f"round {r + 1}: " + ", ".join(
                f"{key} median {statistics.median(s[-1]):.2f} ms" for key, s in samples.items()))

    def undecided() -> bool:
        return more_rounds is not None and any(
            more_rounds({"baseline": samples["baseline"], "candidate": samples[name]}) for name in candidates)

    try:
        for key, spec in specs.items():
            t0 = time.perf_counter()
            workers[key] = _spawn(spec, **kw)
            spent[key]["start_and_load"] += time.perf_counter() - t0
        loads = {key: call(key, "start_and_load", w, op="load") for key, w in workers.items()}
        for r in range(rounds):
            one_round(r)
        extra_start = time.monotonic()
        for look in look_schedule(rounds, max_rounds or rounds)[1:]:
            if not undecided():
                break
            while len(samples["baseline"]) < look and time.monotonic() - extra_start < time_budget_s:
                one_round(len(samples["baseline"]))
            if len(samples["baseline"]) < look:
                break  # the time budget ran out before this look
        peaks = {key: w.request(op="peak") for key, w in workers.items()}
        under_load = {}
        if load_test is not None:
            for key, w in workers.items():
                under_load[key] = w.request(op="load_test", concurrency=load_test[0], duration_s=load_test[1])
        outputs = {}
        for i, (key, w) in enumerate(workers.items()):
            outputs[key] = out_dir / f"{i}.npy"
            call(key, "eval", w, op="eval", out=str(outputs[key]))
        memory: dict[str, list[dict[str, int]]] = {
            key: [{"rss_before_load_bytes": loads[key]["rss_before_load_bytes"],
                   "peak_rss_bytes": peaks[key]["peak_rss_bytes"]}] for key in specs}
        for _ in range(memory_processes - 1):
            for key, spec in specs.items():
                t0 = time.perf_counter()
                extra = _spawn(spec, **kw)
                try:
                    load = extra.request(op="load")
                    extra.request(op="time", warmup=warmup_runs, runs=1)
                    peak = extra.request(op="peak")
                finally:
                    extra.close()
                    spent[key]["memory_processes"] += time.perf_counter() - t0
                memory[key].append({"rss_before_load_bytes": load["rss_before_load_bytes"],
                                    "peak_rss_bytes": peak["peak_rss_bytes"]})
    finally:
        for w in workers.values():
            w.close()
    sides: dict[str, dict[str, Any]] = {}
    for key in specs:
        for m in memory[key]:
            m["model_memory_bytes"] = m["peak_rss_bytes"] - m["rss_before_load_bytes"]
        sides[key] = {
            "rounds_ms": samples[key],
            "latency": summarize_latency(samples[key], batch_size),
            "rss_before_load_bytes": _median(memory[key], "rss_before_load_bytes"),
            "rss_after_load_bytes": loads[key]["rss_after_load_bytes"],
            "peak_rss_bytes": _median(memory[key], "peak_rss_bytes"),
            "model_memory_bytes": _median(memory[key], "model_memory_bytes"),
            "memory_samples": memory[key],
            "load_s": loads[key]["load_s"],
            "versions": loads[key]["versions"],
            "fingerprint": loads[key]["fingerprint"],
            "runtime": loads[key].get("runtime", {}),
            "runs": runs[key],
            "output": first_output.get(key),
            "timing": {**timing[key], "measure_s": {k: round(v, 3) for k, v in spent[key].items()}},
        }
        if key in under_load:
            lt = under_load[key]
            sides[key]["load_test"] = {
                "concurrency": load_test[0] if load_test else None, "wall_s": lt["wall_s"],
                "requests": len(lt["latencies_ms"]), "latencies_ms": lt["latencies_ms"],
                "throughput_items_per_s": batch_size * len(lt["latencies_ms"]) / lt["wall_s"],
            }
    return {"baseline": sides["baseline"], "candidates": {name: sides[name] for name in candidates},
            "outputs": outputs, "output_dir": out_dir}
