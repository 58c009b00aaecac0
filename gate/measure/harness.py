"""Measure a baseline and a candidate side by side, each in its own fresh worker process.

Both workers load their artifact, then timed rounds alternate between them (baseline first in
even rounds, candidate first in odd ones), each round preceded by its own warm-up, with the
same thread count and the same fixed input. Alternating spreads the slow and fast phases of a
shared runner over both sides instead of over one (shared/DEPS.md: latency here is bimodal
over seconds). Then both run the eval set and the candidate is scored against the baseline.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from gate.errors import MeasurementError
from gate.measure.stats import summarize_latency

STDERR_TAIL_BYTES = 4000


@dataclass
class WorkerSpec:
    """Which artifact a worker opens and how."""

    role: str  # "baseline" or "candidate"
    backend: str
    artifact: Path


class Worker:
    """A running ``gate.measure.worker`` process and its JSON-lines channel."""

    def __init__(self, spec: WorkerSpec, *, task: str, inputs: Path, threads: int, deadline: float):
        self.spec = spec
        self.deadline = deadline
        self._stderr: IO[bytes] = tempfile.TemporaryFile()
        env = dict(os.environ)
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(threads)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gate.measure.worker", "--backend", spec.backend,
             "--artifact", str(spec.artifact), "--inputs", str(inputs), "--task", task,
             "--threads", str(threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, env=env,
        )
        self._sel = selectors.DefaultSelector()
        assert self.proc.stdout is not None  # PIPE was requested
        self._sel.register(self.proc.stdout, selectors.EVENT_READ)
        self._buf = b""

    def stderr_tail(self) -> str:
        self._stderr.seek(0, os.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - STDERR_TAIL_BYTES))
        return self._stderr.read().decode(errors="replace").strip()

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
            raise self._fail(f"exited with status {self.proc.wait()}") from None
        while b"\n" not in self._buf:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise self._fail(f"no reply to {req['op']!r} before the time limit")
            if not self._sel.select(timeout=left):
                continue
            chunk = os.read(self.proc.stdout.fileno(), 1 << 16)
            if not chunk:
                code = self.proc.wait()
                raise self._fail(f"exited with status {code} during {req['op']!r}")
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


def measure_pair(
    baseline: WorkerSpec, candidate: WorkerSpec, *, task: str, inputs: Path, threads: int,
    warmup_runs: int, timed_runs: int, rounds: int, batch_size: int, timeout_s: float,
    progress: Any = None,
) -> dict[str, Any]:
    """Measure baseline and candidate interleaved; return per-role figures and eval outputs.

    ``timed_runs`` is the total per artifact, split evenly over ``rounds`` (at least one run a
    round). Returns ``{"baseline": {...}, "candidate": {...}, "outputs": {role: path}}``; each
    role holds ``latency`` (see :func:`summarize_latency`), ``rss_before_load_bytes``,
    ``peak_rss_bytes``, ``model_memory_bytes`` (peak minus before-load), ``load_s``,
    ``versions``. ``outputs`` are ``.npy`` files in a temporary folder the caller removes.

    Raises:
        MeasurementError: a worker crashed, hung past ``timeout_s`` or replied with an error.
    """
    deadline = time.monotonic() + timeout_s
    per_round = max(1, -(-timed_runs // rounds))
    workers: dict[str, Worker] = {}
    out_dir = Path(tempfile.mkdtemp(prefix="gate-measure-"))
    try:
        for spec in (baseline, candidate):
            workers[spec.role] = Worker(spec, task=task, inputs=inputs, threads=threads, deadline=deadline)
        loads = {role: w.request(op="load") for role, w in workers.items()}
        samples: dict[str, list[list[float]]] = {role: [] for role in workers}
        for r in range(rounds):
            order = ("baseline", "candidate") if r % 2 == 0 else ("candidate", "baseline")
            for role in order:
                reply = workers[role].request(op="time", warmup=warmup_runs, runs=per_round)
                samples[role].append(reply["latencies_ms"])
            if progress is not None:
                progress(f"round {r + 1}/{rounds}: " + ", ".join(
                    f"{role} median {sorted(s[-1])[len(s[-1]) // 2]:.2f} ms" for role, s in samples.items()))
        peaks = {role: w.request(op="peak") for role, w in workers.items()}
        outputs = {}
        for role, w in workers.items():
            outputs[role] = out_dir / f"{role}.npy"
            w.request(op="eval", out=str(outputs[role]))
    finally:
        for w in workers.values():
            w.close()
    result: dict[str, Any] = {"outputs": outputs, "output_dir": out_dir}
    for role in workers:
        before = loads[role]["rss_before_load_bytes"]
        peak = peaks[role]["peak_rss_bytes"]
        result[role] = {
            "latency": summarize_latency(samples[role], batch_size),
            "rss_before_load_bytes": before,
            "rss_after_load_bytes": loads[role]["rss_after_load_bytes"],
            "peak_rss_bytes": peak,
            "model_memory_bytes": peak - before,
            "load_s": loads[role]["load_s"],
            "versions": loads[role]["versions"],
            "runtime": loads[role].get("runtime", {}),
        }
    return result
