"""An LLM measurement worker: one artifact, one fresh process, driven over stdin/stdout.

Run as ``python -m gate.measure.llm_worker --backend B --artifact DIR --threads N --n-ctx C``.
The JSON-lines protocol of :mod:`gate.measure.worker`, with LLM requests:

* ``{"op": "load"}``: import the runtime, read RSS, open the artifact, read RSS again.
* ``{"op": "generate", "prompt": [ids], "n_gen": G, "warmup": W, "runs": R}``: W untimed then
  R timed greedy generations from a fresh KV cache. Each timed run reports ``prompt_ms``
  (processing the prompt), ``ttft_ms`` (prompt + choosing the first token) and ``step_ms``
  (G single-token decode steps, each including its argmax); the first run's ``tokens``
  (G + 1 ids) come back too. Clock: ``perf_counter_ns``.
* ``{"op": "peak"}``: ``peak_rss_bytes``: on Linux the process's own ``VmHWM`` from
  ``/proc/self/status`` (kB), because ``ru_maxrss`` survives ``fork`` + ``exec``: a worker
  started by a parent holding 600 MB reported the parent's 600 MB as its own peak here.
  Elsewhere ``ru_maxrss`` in fixed units (shared case C15).
* ``{"op": "eval", "tokens": [ids], "out": PATH}``: logits of every position, saved as a
  float32 ``.npy`` [n, vocab]. Run after ``peak``: a scoring context may allocate more.
* ``{"op": "exit"}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, TextIO


def _generate(session: Any, prompt: list[int], n_gen: int) -> dict[str, Any]:
    import numpy as np

    session.reset()
    t0 = time.perf_counter_ns()
    logits = session.prefill(prompt)
    t1 = time.perf_counter_ns()
    token = int(np.argmax(logits))
    t2 = time.perf_counter_ns()
    tokens, steps = [token], []
    for _ in range(n_gen):
        s = time.perf_counter_ns()
        token = int(np.argmax(session.step(token)))
        steps.append((time.perf_counter_ns() - s) / 1e6)
        tokens.append(token)
    return {"prompt_ms": (t1 - t0) / 1e6, "ttft_ms": (t2 - t0) / 1e6, "step_ms": steps, "tokens": tokens}


def serve(args: argparse.Namespace, proto_in: TextIO, proto_out: TextIO) -> None:
    import numpy as np

    from gate.backends import get_backend
    from gate.measure.worker import current_rss_bytes, peak_rss_bytes

    backend: Any = get_backend(args.backend)
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
            session = backend.open_llm(args.artifact, args.threads, args.n_ctx)
            from gate.measure.fingerprint import fingerprint

            reply({"rss_before_load_bytes": before, "rss_after_load_bytes": current_rss_bytes(),
                   "load_s": time.perf_counter() - t0, "versions": versions,
                   "vocab_size": session.vocab_size, "fingerprint": fingerprint(args.threads)})
        elif op == "generate":
            prompt, n_gen = [int(t) for t in req["prompt"]], int(req["n_gen"])
            for _ in range(int(req["warmup"])):
                _generate(session, prompt, n_gen)
            runs = [_generate(session, prompt, n_gen) for _ in range(int(req["runs"]))]
            for r in runs[1:]:
                r.pop("tokens")
            reply({"runs": runs})
        elif op == "peak":
            reply({"peak_rss_bytes": peak_rss_bytes(), "rss_bytes": current_rss_bytes()})
        elif op == "eval":
            t0 = time.perf_counter()
            logits = session.logits([int(t) for t in req["tokens"]])
            np.save(req["out"], np.asarray(logits, dtype=np.float32))
            reply({"shape": list(logits.shape), "seconds": time.perf_counter() - t0})
        elif op == "exit":
            reply({"ok": True})
            return
        else:
            reply({"error": f"unknown op {op!r}"})


def main() -> int:
    from gate.measure.worker import run_worker

    return run_worker("gate-llm-worker", {"--n-ctx": int}, serve)


if __name__ == "__main__":
    sys.exit(main())
