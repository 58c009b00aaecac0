"""Measure an LLM baseline and candidate side by side, each in its own fresh worker process.

The same discipline as :mod:`gate.measure.harness`: both workers load, then timed rounds
alternate (baseline first in even rounds, candidate first in odd ones), each round with its
own warm-up, the same prompt, the same generated-token count and the same thread setting.
Then peak RSS is read, and only then each side computes its logits on the eval tokens (a
scoring context may allocate more than inference does).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from gate.measure.harness import Worker, WorkerSpec
from gate.measure.summary import summarize_latency


class LlmWorker(Worker):
    """A ``gate.measure.llm_worker`` process (same channel and error handling as Worker)."""

    module = "gate.measure.llm_worker"  # options: n_ctx


def summarize_runs(runs: list[dict[str, Any]], prompt_tokens: int, n_gen: int) -> dict[str, Any]:
    """Per-side LLM speed figures from timed generation runs.

    Medians over runs (one run in ten stalled here, shared/DEPS.md): ``generation_tokens_per_s``
    = ``n_gen`` / decode time of a run; ``prompt_tokens_per_s`` = prompt tokens / prompt time;
    ``time_to_first_token_ms``. ``latency`` summarises the per-token decode steps (ms).
    """
    gen = [n_gen / (sum(r["step_ms"]) / 1000.0) for r in runs]
    pp = [prompt_tokens / (r["prompt_ms"] / 1000.0) for r in runs]
    return {
        "generation_tokens_per_s": statistics.median(gen),
        "generation_tokens_per_s_runs": [round(g, 3) for g in gen],
        "prompt_tokens_per_s": statistics.median(pp),
        "time_to_first_token_ms": statistics.median(r["ttft_ms"] for r in runs),
        "runs": len(runs),
        "latency": summarize_latency([r["step_ms"] for r in runs], 1),
    }


def measure_llm_pair(
    baseline: WorkerSpec, candidate: WorkerSpec, *, prompt: list[int], n_gen: int,
    eval_tokens: list[int], threads: int, warmup_runs: int, runs: int, rounds: int,
    timeout_s: float, memory_bytes: int = 8 << 30, memory_processes: int = 1, progress: Any = None,
) -> dict[str, Any]:
    """Measure baseline and candidate LLMs interleaved.

    ``runs`` timed generations per side in total, split evenly over ``rounds``. Memory is read
    in the timing worker and in ``memory_processes - 1`` further fresh workers per side (each
    loads, generates once, reads its peak), so the memory rule's interval resamples processes
    as it does for other tasks. Returns ``{role: {speed figures (see summarize_runs),
    "rounds_ms" (per round, every decode step's ms), "tokens", "rss_*", "peak_rss_bytes",
    "model_memory_bytes" (medians over the processes), "memory_samples" (per process),
    "load_s", "versions", "vocab_size", "fingerprint" (of that worker)}, "outputs": {role:
    .npy}, "output_dir": tmp}``; the caller removes ``output_dir``.

    Raises:
        MeasurementError: a worker crashed, hung past ``timeout_s`` or replied with an error.
    """
    deadline = time.monotonic() + timeout_s
    per_round = max(1, -(-runs // rounds))
    n_ctx = max(len(prompt) + n_gen + 1, len(eval_tokens))
    workers: dict[str, LlmWorker] = {}
    out_dir = Path(tempfile.mkdtemp(prefix="gate-llm-measure-"))
    try:
        for spec in (baseline, candidate):
            workers[spec.role] = LlmWorker(spec, threads=threads, n_ctx=n_ctx, deadline=deadline,
                                           memory_bytes=memory_bytes)
        loads = {role: w.request(op="load") for role, w in workers.items()}
        timed: dict[str, list[dict[str, Any]]] = {role: [] for role in workers}
        rounds_ms: dict[str, list[list[float]]] = {role: [] for role in workers}
        for r in range(rounds):
            order = ("baseline", "candidate") if r % 2 == 0 else ("candidate", "baseline")
            for role in order:
                reply = workers[role].request(op="generate", prompt=prompt, n_gen=n_gen,
                                              warmup=warmup_runs, runs=per_round)
                timed[role].extend(reply["runs"])
                rounds_ms[role].append([float(s) for run in reply["runs"] for s in run["step_ms"]])
            if progress is not None:
                progress(f"round {r + 1}/{rounds}: " + ", ".join(
                    f"{role} {n_gen / (sum(t[-1]['step_ms']) / 1000):.1f} tok/s" for role, t in timed.items()))
        peaks = {role: w.request(op="peak") for role, w in workers.items()}
        outputs = {}
        for role, w in workers.items():
            outputs[role] = out_dir / f"{role}.npy"
            w.request(op="eval", tokens=eval_tokens, out=str(outputs[role]))
        memory = {role: [{"rss_before_load_bytes": loads[role]["rss_before_load_bytes"],
                          "peak_rss_bytes": peaks[role]["peak_rss_bytes"]}] for role in workers}
        for _ in range(memory_processes - 1):
            for spec in (baseline, candidate):
                extra = LlmWorker(spec, threads=threads, n_ctx=n_ctx, deadline=deadline, memory_bytes=memory_bytes)
                try:
                    load = extra.request(op="load")
                    extra.request(op="generate", prompt=prompt, n_gen=n_gen, warmup=0, runs=1)
                    peak = extra.request(op="peak")
                finally:
                    extra.close()
                memory[spec.role].append({"rss_before_load_bytes": load["rss_before_load_bytes"],
                                          "peak_rss_bytes": peak["peak_rss_bytes"]})
    finally:
        for w in workers.values():
            w.close()
    result: dict[str, Any] = {"outputs": outputs, "output_dir": out_dir}
    for role in workers:
        for m in memory[role]:
            m["model_memory_bytes"] = m["peak_rss_bytes"] - m["rss_before_load_bytes"]
        result[role] = {
            **summarize_runs(timed[role], len(prompt), n_gen),
            "rounds_ms": rounds_ms[role],
            "tokens": timed[role][0]["tokens"],
            "rss_before_load_bytes": _median(memory[role], "rss_before_load_bytes"),
            "rss_after_load_bytes": loads[role]["rss_after_load_bytes"],
            "peak_rss_bytes": _median(memory[role], "peak_rss_bytes"),
            "model_memory_bytes": _median(memory[role], "model_memory_bytes"),
            "memory_samples": memory[role],
            "load_s": loads[role]["load_s"], "versions": loads[role]["versions"],
            "vocab_size": loads[role]["vocab_size"], "fingerprint": loads[role]["fingerprint"],
        }
    return result


def _median(samples: list[dict[str, int]], key: str) -> int:
    return int(statistics.median(s[key] for s in samples))
