"""The measure stage for task ``text-generation`` (called by ``gate measure``).

Writes ``measurements.json`` (schema ``edge-gate/measurements/v1``, the same layout as other
tasks) with an ``llm`` section per side. Metric names (``metrics``):

* generic: ``latency_p50/p90/p99_ms`` (one decode step, ms per token),
  ``throughput_items_per_s`` (= ``generation_tokens_per_s``), ``peak_rss_bytes``,
  ``model_memory_bytes``, ``model_size_bytes``;
* task: ``generation_tokens_per_s``, ``prompt_tokens_per_s``, ``time_to_first_token_ms``,
  ``perplexity``, ``kl_mean``, ``kl_p99``, ``top1_agreement`` (each side's eval logits against
  the baseline stage's ``reference_logits.npy``), ``greedy_match`` (share of the baseline's
  greedy continuation reproduced before the first different token).

The roofline (``llm.roofline``) sets generation tokens/s against ``bandwidth / bytes read per
token`` with the bandwidth measured in this job (:mod:`gate.measure.bandwidth`).
"""

from __future__ import annotations

import platform
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from gate.errors import ExitCode, MeasurementError

SCHEMA = "edge-gate/measurements/v1"


def roofline(tokens_per_s: float, artifact: Any, context_tokens: float, bandwidth: float) -> dict[str, Any]:
    """Generation tokens/s as a percentage of the memory-bandwidth limit.

    ``bytes_per_token`` from :func:`gate.backends.llm.decode_bytes_per_token` with the
    artifact's ``weight_bytes_per_token`` and ``shape``; ``limit = bandwidth / bytes``.
    """
    from gate.backends.llm import decode_bytes_per_token

    per_token = decode_bytes_per_token(int(artifact.details["weight_bytes_per_token"]),
                                       artifact.details["shape"], context_tokens)
    limit = bandwidth / per_token
    return {"bytes_per_token": per_token, "limit_tokens_per_s": limit,
            "percent_of_limit": 100.0 * tokens_per_s / limit}


def run_measure(loaded: Any, target: Any, root: Path) -> int:
    """Measure baseline and candidate of one LLM target (see the module docstring).

    Raises:
        MeasurementError: a worker failed, the vocabularies differ, or logits are unusable.
    """
    import gate
    from gate import layout, progress
    from gate.backends.base import Artifact, write_json_atomic
    from gate.config.schema import sha256_file
    from gate.measure.bandwidth import measure_bandwidth
    from gate.measure.harness import WorkerSpec
    from gate.measure.llm_harness import measure_llm_pair
    from gate.stages.llm_baseline import REFERENCE_LOGITS
    from gate.tasks import generation

    m, gen, s = loaded.manifest, loaded.manifest.generation, loaded.manifest.measure
    base_dir = root / layout.baseline_dir(m.name)
    cand_dir = root / layout.candidate_dir(m.name, target.name)
    inputs = root / layout.inputs_file(m.name)
    base_art, cand_art = Artifact.read(base_dir), Artifact.read(cand_dir)
    with np.load(inputs) as data:
        eval_tokens, prompt = data["eval.tokens"], data["prompt.tokens"]
    reference = np.load(base_dir / REFERENCE_LOGITS)
    with progress.step(f"{m.name}/{target.name}: memory bandwidth ({s.threads} threads)"):
        bandwidth = measure_bandwidth(s.threads)
    with progress.step(
        f"{m.name}/{target.name}: generating interleaved ({s.rounds} rounds, {gen.runs} runs each, "
        f"{len(prompt)} prompt + {gen.generate_tokens} generated tokens, {s.threads} threads)"
    ):
        result = measure_llm_pair(
            WorkerSpec("baseline", m.baseline.backend, base_dir), WorkerSpec("candidate", target.backend, cand_dir),
            prompt=prompt.tolist(), n_gen=gen.generate_tokens, eval_tokens=eval_tokens.tolist(),
            threads=s.threads, warmup_runs=s.warmup_runs, runs=gen.runs, rounds=s.rounds,
            timeout_s=loaded.limits(target.name).timeout_s,
            memory_bytes=loaded.limits(target.name).memory_bytes, memory_processes=s.memory_processes,
            progress=progress.log,
        )
    try:
        if result["baseline"]["vocab_size"] != result["candidate"]["vocab_size"]:
            raise MeasurementError(f"vocabularies differ: baseline {result['baseline']['vocab_size']}, "
                                   f"candidate {result['candidate']['vocab_size']} tokens")
        try:
            fidelity = {role: generation.score(reference, np.load(result["outputs"][role]), eval_tokens)
                        for role in ("baseline", "candidate")}
        except ValueError as exc:
            raise MeasurementError(f"cannot score the eval logits: {exc}") from None
    finally:
        shutil.rmtree(result["output_dir"], ignore_errors=True)
    context = len(prompt) + gen.generate_tokens / 2
    base_tokens = result["baseline"]["tokens"]
    sides: dict[str, Any] = {}
    for role, art in (("baseline", base_art), ("candidate", cand_art)):
        side = result[role]
        lat = side["latency"]
        metrics = {
            "latency_p50_ms": lat["p50_ms"], "latency_p90_ms": lat["p90_ms"], "latency_p99_ms": lat["p99_ms"],
            "throughput_items_per_s": side["generation_tokens_per_s"],
            "peak_rss_bytes": float(side["peak_rss_bytes"]),
            "model_memory_bytes": float(side["model_memory_bytes"]),
            "model_size_bytes": float(art.size_bytes),
            "generation_tokens_per_s": side["generation_tokens_per_s"],
            "prompt_tokens_per_s": side["prompt_tokens_per_s"],
            "time_to_first_token_ms": side["time_to_first_token_ms"],
            **fidelity[role],
            "greedy_match": generation.greedy_match(base_tokens, side["tokens"]),
        }
        sides[role] = {
            "artifact": art.model_dump(mode="json"), "metrics": metrics, "latency": lat,
            "rss_before_load_bytes": side["rss_before_load_bytes"],
            "rss_after_load_bytes": side["rss_after_load_bytes"],
            "peak_rss_bytes": side["peak_rss_bytes"], "model_memory_bytes": side["model_memory_bytes"],
            "load_s": side["load_s"],
            "fingerprint": side["fingerprint"],  # read by that side's own worker
            "llm": {
                "generation_tokens_per_s_runs": side["generation_tokens_per_s_runs"],
                "generated_tokens": side["tokens"],
                "roofline": roofline(side["generation_tokens_per_s"], art, context, bandwidth["bytes_per_s"]),
                "bits_per_weight": (art.details.get("bits_per_weight")
                                    or art.details.get("gguf", {}).get("bits_per_weight")),
            },
        }
    doc = {
        "schema": SCHEMA, "model": m.name, "target": target.name, "target_id": target.target_id(),
        "config_hash": loaded.config_hash(target.name), "inputs_sha256": sha256_file(inputs),
        "primary_metric": m.eval.primary, "eval_items": len(eval_tokens),
        "settings": {
            **s.model_dump(), **gen.model_dump(), "interleaved": True, "decoding": "greedy (argmax)",
            "batch_size": 1, "looks_planned": [s.rounds],
            "memory_note": "model_memory_bytes = peak RSS of the worker process minus its RSS "
                           "after importing the runtime and before loading the model",
            "baseline_note": base_art.details.get("note", ""),
            "reference": "every side is scored against the baseline stage's reference logits",
        },
        "bandwidth": bandwidth,
        "fingerprint": result["baseline"]["fingerprint"],
        "versions": {"edge-gate": gate.__version__, "python": platform.python_version(),
                     "numpy": np.__version__, **result["baseline"]["versions"], **result["candidate"]["versions"]},
        "baseline": sides["baseline"], "candidate": sides["candidate"],
        "samples": {
            # per timed generation run, in round order (run i of both sides in the same round)
            "runs": {"generation_tokens_per_s": {role: result[role]["generation_tokens_per_s_runs"]
                                                 for role in ("baseline", "candidate")}},
            # per round, every decode step (ms per token), as the latency rules resample them
            "latency_rounds_ms": {role: result[role]["rounds_ms"] for role in ("baseline", "candidate")},
            "memory": {role: result[role]["memory_samples"] for role in ("baseline", "candidate")},
        },
    }
    write_json_atomic(root / layout.measurements_file(m.name, target.name), doc)
    b, c = sides["baseline"], sides["candidate"]
    progress.log(
        f"{m.name}/{target.name}: generation {b['metrics']['generation_tokens_per_s']:.1f} -> "
        f"{c['metrics']['generation_tokens_per_s']:.1f} tok/s, perplexity {b['metrics']['perplexity']:.3f} -> "
        f"{c['metrics']['perplexity']:.3f}, top-1 agreement {c['metrics']['top1_agreement']:.4f}, "
        f"roofline {c['llm']['roofline']['percent_of_limit']:.1f}%"
    )
    return ExitCode.PASS
