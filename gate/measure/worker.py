"""A measurement worker: one artifact, one fresh process, driven over stdin/stdout.

Run as ``python -m gate.measure.worker --backend B --artifact DIR --inputs NPZ --task T
--threads N``. Each request is one JSON line on stdin; each reply one JSON line on stdout
(anything a native library prints goes to stderr instead). Requests:

* ``{"op": "load"}``: import the runtime, read RSS (``rss_before_load_bytes``), open the
  artifact (the task's ``open_session``: ``backend.open`` for every backend), read RSS
  again. Replies with both, ``load_s``, the runtime ``versions``, the hardware
  ``fingerprint`` the worker runs on, and ``runtime``: the settings the opened session
  reports (empty if it reports none).
* ``{"op": "time", "warmup": W, "runs": N}``: the task's timed request
  (:meth:`gate.tasks.protocol.Task.time`): W untimed then N timed runs on the fixed latency
  input; replies ``latencies_ms`` (wall clock, ``perf_counter_ns``: one per run for a tensor
  task, one per decode step for text generation), ``runs`` (per-run records, possibly empty),
  ``output`` (JSON from the first timed run, e.g. generated token ids, or null), the timed
  call (``bind``: inputs bound once and only the runtime's call timed, else ``run``) and the
  timer's own overhead in ms (:func:`gate.tasks.protocol.timer_overhead_ms`, not subtracted).
* ``{"op": "load_test", "concurrency": N, "duration_s": T}``: N threads send requests back
  to back for T seconds; replies every request's ``latencies_ms`` and ``wall_s``.
* ``{"op": "peak"}``: replies ``peak_rss_bytes``, the OS's high-water mark for this process
  (:func:`peak_rss_bytes`).
* ``{"op": "eval", "out": PATH}``: runs every eval item at batch 1 and saves the outputs
  stacked as a ``.npy`` of shape [n_items, ...].
* ``{"op": "exit"}``.

On any failure the worker replies ``{"error": "..."}`` and exits with status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO


def peak_rss_bytes() -> int:
    """This process's peak resident set size in bytes.

    On Linux ``VmHWM`` from ``/proc/self/status`` (kB): ``ru_maxrss`` survives ``fork`` +
    ``exec``, so a worker started by a parent holding 600 MB reported the parent's 600 MB as
    its own peak. Elsewhere ``ru_maxrss`` in fixed units: KiB on Linux, bytes on macOS (shared
    case C15).
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def current_rss_bytes() -> int:
    """The process's resident set size now, in bytes (psutil)."""
    import psutil

    return int(psutil.Process().memory_info().rss)


def load_test(session: Any, feeds: Any, concurrency: int, duration_s: float) -> dict[str, Any]:
    """``concurrency`` threads call the session back to back for ``duration_s`` seconds.

    Returns ``latencies_ms`` (every request) and ``wall_s``; sustained throughput is requests
    x batch / wall seconds.
    """
    import threading

    stop = time.perf_counter() + duration_s
    results: list[list[float]] = [[] for _ in range(concurrency)]

    def client(out: list[float]) -> None:
        while time.perf_counter() < stop:
            t0 = time.perf_counter_ns()
            session.run(feeds)
            out.append((time.perf_counter_ns() - t0) / 1e6)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(r,)) for r in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"latencies_ms": [x for r in results for x in r], "wall_s": time.perf_counter() - t0}



def serve(args: argparse.Namespace, proto_in: TextIO, proto_out: TextIO) -> None:
    import numpy as np

    from gate.backends import get_backend
    from gate.measure.fingerprint import fingerprint
    from gate.tasks import get_task

    task = get_task(args.task)
    backend = get_backend(args.backend)
    inputs = dict(np.load(args.inputs))
    session: Any = None

    def reply(obj: dict[str, Any]) -> None:
        proto_out.write(json.dumps(obj) + "\n")
        proto_out.flush()

    for line in proto_in:
        req = json.loads(line)
        op = req["op"]
        if op == "load":
            versions = backend.versions()  # imports the runtime before the baseline RSS reading
            before = current_rss_bytes()
            t0 = time.perf_counter()
            session = task.open_session(backend, args.artifact, args.threads, inputs)
            load_s = time.perf_counter() - t0
            # settings the runtime reports back (e.g. OpenVINO's precision, streams, threads)
            runtime = session.properties() if hasattr(session, "properties") else {}
            reply({"rss_before_load_bytes": before, "rss_after_load_bytes": current_rss_bytes(),
                   "load_s": load_s, "versions": versions, "fingerprint": fingerprint(args.threads),
                   "runtime": runtime})
        elif op == "time":
            timed = task.time(session, inputs, int(req["warmup"]), int(req["runs"]))
            reply({"latencies_ms": timed.latencies_ms, "runs": timed.runs, "output": timed.output,
                   "timed_call": timed.timed_call, "timer_overhead_ms": timed.timer_overhead_ms})
        elif op == "load_test":
            reply(load_test(session, task.latency_feeds(inputs), int(req["concurrency"]), float(req["duration_s"])))
        elif op == "peak":
            reply({"peak_rss_bytes": peak_rss_bytes(), "rss_bytes": current_rss_bytes()})
        elif op == "eval":
            t0 = time.perf_counter()
            outputs = [np.asarray(session.run(feeds))[0] for feeds in task.eval_feeds(inputs)]
            np.save(req["out"], np.stack(outputs))
            reply({"items": len(outputs), "seconds": time.perf_counter() - t0})
        elif op == "exit":
            reply({"ok": True})
            return
        else:
            reply({"error": f"unknown op {op!r}"})


Serve = Callable[[argparse.Namespace, TextIO, TextIO], None]


def run_worker(prog: str, options: dict[str, type], serve_fn: Serve) -> int:
    """Parse a worker's command line and serve its protocol on stdin/stdout.

    Every worker takes ``--backend``, ``--artifact`` and ``--threads``; ``options`` adds its
    own (``{"--inputs": str}``). The protocol owns the real stdout: native libraries that print
    get stderr instead. Any failure is reported to the parent as ``{"error": ...}`` before the
    worker dies non-zero (:class:`gate.measure.harness.Worker` turns it into an error).
    """
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--backend", required=True)
    parser.add_argument("--artifact", required=True, type=Path)
    parser.add_argument("--threads", required=True, type=int)
    for flag, kind in options.items():
        parser.add_argument(flag, required=True, type=kind)
    args = parser.parse_args()
    proto_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        serve_fn(args, sys.stdin, proto_out)
    except BaseException as exc:  # report any failure to the parent, then die non-zero
        proto_out.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
        proto_out.flush()
        raise
    return 0


def main() -> int:
    return run_worker("gate-measure-worker", {"--inputs": str, "--task": str}, serve)


if __name__ == "__main__":
    sys.exit(main())
