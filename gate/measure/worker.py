"""A measurement worker: one artifact, one fresh process, driven over stdin/stdout.

Run as ``python -m gate.measure.worker --backend B --artifact DIR --inputs NPZ --task T
--threads N``. Each request is one JSON line on stdin; each reply one JSON line on stdout
(anything a native library prints goes to stderr instead). Requests:

* ``{"op": "load"}``: import the runtime, read RSS (``rss_before_load_bytes``), open the
  artifact, read RSS again. Replies with both, ``load_s``, the runtime ``versions`` and
  ``runtime``: the settings the opened session reports (empty if it reports none).
* ``{"op": "time", "warmup": W, "runs": N}``: W untimed then N timed runs on the fixed
  latency input; replies ``latencies_ms`` (N floats, wall clock, ``perf_counter_ns``).
* ``{"op": "peak"}``: replies ``peak_rss_bytes``, the OS's high-water mark for this process
  (``ru_maxrss``: KiB on Linux, bytes on macOS; shared case C15).
* ``{"op": "eval", "out": PATH}``: runs every eval item at batch 1 and saves the outputs
  stacked as a ``.npy`` of shape [n_items, ...].
* ``{"op": "exit"}``.

On any failure the worker replies ``{"error": "..."}`` and exits with status 1.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import sys
import time
from typing import Any, TextIO


def peak_rss_bytes() -> int:
    """The process's peak resident set size in bytes (``ru_maxrss`` in fixed units)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def current_rss_bytes() -> int:
    """The process's resident set size now, in bytes (psutil)."""
    import psutil

    return int(psutil.Process().memory_info().rss)


def serve(args: argparse.Namespace, proto_in: TextIO, proto_out: TextIO) -> None:
    import numpy as np

    from gate.backends import get_backend
    from gate.tasks import get_task

    task = importlib.import_module(get_task(args.task).module)
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
            session = backend.open(args.artifact, args.threads)
            load_s = time.perf_counter() - t0
            # settings the runtime reports back (e.g. OpenVINO's precision, streams, threads)
            runtime = session.properties() if hasattr(session, "properties") else {}
            reply({"rss_before_load_bytes": before, "rss_after_load_bytes": current_rss_bytes(),
                   "load_s": load_s, "versions": versions, "runtime": runtime})
        elif op == "time":
            feeds = task.latency_feeds(inputs)
            for _ in range(int(req["warmup"])):
                session.run(feeds)
            samples = []
            for _ in range(int(req["runs"])):
                t0 = time.perf_counter_ns()
                session.run(feeds)
                samples.append((time.perf_counter_ns() - t0) / 1e6)
            reply({"latencies_ms": samples})
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


def main() -> int:
    parser = argparse.ArgumentParser(prog="gate-measure-worker")
    parser.add_argument("--backend", required=True)
    parser.add_argument("--artifact", required=True, type=__import__("pathlib").Path)
    parser.add_argument("--inputs", required=True)
    parser.add_argument("--task", required=True)
    parser.add_argument("--threads", required=True, type=int)
    args = parser.parse_args()
    # The protocol owns the real stdout; native libraries that print get stderr instead.
    proto_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        serve(args, sys.stdin, proto_out)
    except BaseException as exc:  # report any failure to the parent, then die non-zero
        proto_out.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
        proto_out.flush()
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
