"""Text generation (LLMs, e.g. SmolLM2): eval windows, token inputs, and fidelity to the baseline.

The baseline stage tokenizes the eval text once with the baseline's own tokenizer (a BOS token
first exactly when the model's vocabulary asks for one, as llama.cpp does when it serves the
model) and cuts the first ``generation.eval_tokens`` tokens into windows of
``generation.window_tokens``; each window is scored as a sequence of its own, starting with
BOS where the model wants one. Every side's logits on the windows are compared with the
baseline's logits on the same windows, computed by the baseline's worker in the same
measurement (the backends share the vocabulary, which the measure stage checks).

Fidelity, over the positions ``i = 0 .. W-2`` of every window of ``W`` tokens:

* ``perplexity``: ``exp(mean_i -log p(t[i+1] | t[..i]))`` (every position scored; llama.cpp's
  ``llama-perplexity`` scores only the second half of each chunk, so its figures are lower,
  and shorter windows give higher perplexity than one long one);
* ``kl_mean`` / ``kl_p99``: mean and 99th percentile over positions of
  ``KL(P_baseline || P_candidate)`` of the next-token distributions, in nats (the "Mean KLD" and
  "99.0% KLD" of ``llama-perplexity --kl-divergence``);
* ``top1_agreement``: fraction of positions where both pick the same most likely token
  (llama.cpp's "Same top p").

Per-window item scores (``nll``, ``kl``, ``agree``: each window's mean) let confidence
intervals resample windows: all windows have the same length, so the mean of the window means
is the mean over positions and ``exp`` of the mean ``nll`` is the perplexity exactly.
``kl_p99`` has no per-window form and is judged without an interval.

Speed: ``generation.runs`` timed greedy generations per side (a fresh KV cache, the fixed
prompt of ``generation.prompt_tokens`` tokens, then ``generation.generate_tokens`` decode
steps, each including its argmax). Each decode step's time is one latency sample, so
``latency_p50_ms`` is the median time per generated token and ``samples.latency_rounds_ms``
holds them per round; ``generation_tokens_per_s``, ``prompt_tokens_per_s`` and
``time_to_first_token_ms`` are medians over runs (one run in ten stalled on shared runners),
with per-run values in ``samples.runs``. A policy judges an LLM by these against the baseline:
"ran without error" is never a pass.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gate.tasks.protocol import Direction, InputContext, InputsFrom, SideRecord, TaskBase, TimedRuns


def read_text(path: Path) -> str:
    """The eval text (UTF-8), with runs of whitespace kept as they are."""
    return path.read_text(encoding="utf-8")


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax of ``logits`` [n, vocab] in float64 (numerically stable)."""
    x = logits.astype(np.float64)
    x -= x.max(axis=1, keepdims=True)
    out: np.ndarray = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    return out


def perplexity(logits: np.ndarray, tokens: np.ndarray) -> float:
    """Perplexity of ``tokens`` [n] under ``logits`` [n, vocab] (row i predicts token i+1)."""
    lp = log_softmax(logits[:-1])
    nll = -lp[np.arange(len(tokens) - 1), tokens[1:]]
    return float(np.exp(nll.mean()))


def greedy_match(reference: list[int], generated: list[int]) -> float:
    """Fraction of the baseline's greedy continuation reproduced before the first difference."""
    if not reference:
        return 0.0
    n = 0
    for a, b in zip(reference, generated, strict=False):
        if a != b:
            break
        n += 1
    return n / len(reference)


#: A float baseline upcast from a quantized source holds the source's weights exactly; it
#: differs from the source only in how llama.cpp runs them (8-bit activations in quantized
#: matmuls, F16 ones in F16 matmuls), which flips near-ties only. Measured on SmolLM2's Q4_1
#: source and its F16 upcast: 95.4% top-1 agreement over 2,520 positions (40 windows of 64
#: tokens; per window 88.9% to 100%), mean KL 0.0039 nats. The bound sits below that with room
#: for the sampling noise of a few hundred eval tokens (about +-2 points). Gemma3-270M's
#: Q4_K_M source and its upcast agree on 95.4% of 504 positions scored as the model is served
#: (with BOS), and on only 88.1% without BOS, where both models are off their training
#: distribution (perplexity 1232 against 58.5). Below the bound the baseline no longer stands
#: for the source the manifest names (a conversion that changed the model, a quantization the
#: dequantizer misreads, or scoring the model as it is not served), and every candidate is
#: judged against another model than the one committed: the decision carries a warning.
UPCAST_AGREEMENT_MIN = 0.90
#: Tokens per eval window unless the manifest sets ``generation.window_tokens`` (or half of
#: ``eval_tokens`` when that is less, so that there are always at least 2 windows).
DEFAULT_WINDOW = 64


def window_scores(reference: np.ndarray, outputs: np.ndarray, tokens: np.ndarray) -> dict[str, np.ndarray]:
    """Per-position scores of ``outputs`` against ``reference`` logits, both [windows, W, vocab],
    on ``tokens`` [windows, W]: ``nll`` (of ``outputs``), ``kl`` (nats) and ``agree`` (0/1),
    each [windows, W - 1].

    Raises:
        ValueError: shapes differ or disagree with ``tokens``, windows of fewer than 2 tokens,
            or non-finite logits.
    """
    if reference.shape != outputs.shape:
        raise ValueError(f"logits shape {outputs.shape} differs from the baseline's {reference.shape}")
    if reference.ndim != 3 or reference.shape[:2] != tokens.shape or tokens.shape[1] < 2:
        raise ValueError(f"logits {reference.shape} do not match eval windows {tokens.shape}")
    if not (np.isfinite(reference).all() and np.isfinite(outputs).all()):
        raise ValueError("logits contain NaN or infinite values")
    nll, kl, agree = [], [], []
    for ref_w, out_w, tok in zip(reference, outputs, tokens, strict=True):
        ref, out = log_softmax(ref_w[:-1]), log_softmax(out_w[:-1])
        nll.append(-out[np.arange(len(tok) - 1), tok[1:]])
        kl.append(np.maximum(np.sum(np.exp(ref) * (ref - out), axis=1), 0.0))  # rounding: -1e-17
        agree.append((ref.argmax(axis=1) == out.argmax(axis=1)).astype(float))
    return {"nll": np.stack(nll), "kl": np.stack(kl), "agree": np.stack(agree)}


class GenerationTask(TaskBase):
    """The ``text-generation`` task (see the module docstring)."""

    name = "text-generation"
    module = __name__
    metrics: Mapping[str, Direction] = {
        "perplexity": "lower", "kl_mean": "lower", "kl_p99": "lower", "top1_agreement": "higher",
        "generation_tokens_per_s": "higher", "prompt_tokens_per_s": "higher",
        "time_to_first_token_ms": "lower", "greedy_match": "higher",
    }
    item_statistics: Mapping[str, tuple[str, str]] = {
        "perplexity": ("nll", "exp_mean"), "kl_mean": ("kl", "mean"), "top1_agreement": ("agree", "mean")}
    source_formats = ("gguf",)
    settings_section = "generation"
    inputs_from: InputsFrom = "baseline"

    def read_items(self, path: Path) -> list[str] | None:
        read_text(path)  # a file that is not UTF-8 is bad input here too
        return None  # a token stream, not items: windows are cut from it in build_inputs

    def build_inputs(self, ctx: InputContext) -> dict[str, np.ndarray]:
        """``eval.tokens`` [windows, W] and ``prompt.tokens`` [prompt_tokens] (int64), the
        token count to generate (``prompt.generate_tokens``) and whether windows start with
        BOS (``eval.add_bos``).

        Raises:
            ConfigError: the eval text is shorter than the manifest asks for (at ``eval.data``),
                or the baseline's backend cannot tokenize.
        """
        from gate.errors import ConfigError

        if ctx.baseline is None:
            raise ValueError("text-generation inputs need the built baseline's tokenizer")
        s = ctx.settings
        session = ctx.open(ctx.baseline)
        if not hasattr(session, "tokenize"):
            raise ConfigError("the baseline's backend cannot tokenize text for text-generation")
        ids, add_bos = session.tokenize(read_text(ctx.eval_path))
        width = int(s.get("window_tokens") or min(DEFAULT_WINDOW, int(s["eval_tokens"]) // 2))
        windows = int(s["eval_tokens"]) // width
        body, bos = (ids[1:], ids[:1]) if add_bos else (ids, [])
        step = width - len(bos)
        need = max(windows * step + len(bos), int(s["prompt_tokens"]), ctx.min_items)
        if len(ids) < need:
            raise ConfigError(f"eval text has {len(ids)} tokens; the manifest needs {need}",
                              location=ctx.eval_location)
        rows = [bos + body[k * step:(k + 1) * step] for k in range(windows)]
        return {"eval.tokens": np.asarray(rows, dtype=np.int64),
                "eval.add_bos": np.asarray(add_bos),
                "prompt.tokens": np.asarray(ids[: int(s["prompt_tokens"])], dtype=np.int64),
                "prompt.generate_tokens": np.asarray(int(s["generate_tokens"]), dtype=np.int64)}

    def check_conversion(self, ctx: InputContext) -> dict[str, Any]:
        """The baseline against the source file, both run by the baseline's backend on the eval
        windows: both perplexities, KL, top-1 agreement, and a warning when an upcast agrees
        with its source on fewer than :data:`UPCAST_AGREEMENT_MIN` of the top-1 tokens."""
        if ctx.baseline is None or ctx.inputs is None:
            raise ValueError("check_conversion needs the built baseline and inputs")
        with np.load(ctx.inputs) as data:
            tokens, add_bos = np.asarray(data["eval.tokens"]), bool(data["eval.add_bos"])
        width = tokens.shape[1]
        baseline, source = ctx.open(ctx.baseline), ctx.open(ctx.source)
        for s in (baseline, source):
            s.reserve(width)
        ref = np.stack([baseline.run({"tokens": row[None]})[0] for row in tokens])
        src = np.stack([source.run({"tokens": row[None]})[0] for row in tokens])
        same = window_scores(ref, ref, tokens)
        check = window_scores(ref, src, tokens)
        agreement = float(check["agree"].mean())
        out: dict[str, Any] = {
            "items": int(tokens.shape[0]), "tokens": int(tokens.size),
            "baseline_perplexity": float(np.exp(same["nll"].mean())),
            "source_perplexity": float(np.exp(check["nll"].mean())),
            "kl_mean": float(check["kl"].mean()), "kl_p99": float(np.percentile(check["kl"], 99)),
            "top1_agreement": agreement, "top1_agreement_min": UPCAST_AGREEMENT_MIN, "add_bos": add_bos,
        }
        if agreement < UPCAST_AGREEMENT_MIN:
            out["warnings"] = [
                f"the baseline agrees with its source {ctx.source.name} on only {agreement:.1%} of top-1 "
                f"tokens (bound {UPCAST_AGREEMENT_MIN:.0%}): candidates are judged against a baseline "
                "that does not stand for the source"]
        return out

    def open_session(self, backend: Any, artifact: Path, threads: int, inputs: Mapping[str, np.ndarray]) -> Any:
        session = backend.open(artifact, threads)
        prompt, n_gen = len(inputs["prompt.tokens"]), int(inputs["prompt.generate_tokens"])
        session.reserve(max(prompt + n_gen + 1, int(np.shape(inputs["eval.tokens"])[1])))
        return session

    def timed_runs(self, measure: Mapping[str, Any], settings: Mapping[str, Any]) -> int:
        return int(settings["runs"])

    def latency_feeds(self, inputs: Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]:
        return {"tokens": np.asarray(inputs["prompt.tokens"])[None]}

    def eval_feeds(self, inputs: Mapping[str, np.ndarray]) -> Sequence[Mapping[str, np.ndarray]]:
        tokens = np.asarray(inputs["eval.tokens"])
        return [{"tokens": row[None]} for row in tokens]

    def time(self, session: Any, inputs: Mapping[str, np.ndarray], warmup: int, runs: int) -> TimedRuns:
        """Greedy generations (module docstring): latency samples are the decode steps (ms);
        each run records ``generation_tokens_per_s``, ``prompt_tokens_per_s``, ``prompt_ms``
        and ``time_to_first_token_ms``; ``output`` is the first run's generated token ids."""
        prompt = [int(t) for t in inputs["prompt.tokens"]]
        n_gen = int(inputs["prompt.generate_tokens"])
        for _ in range(warmup):
            greedy_generation(session, prompt, n_gen)
        done = [greedy_generation(session, prompt, n_gen) for _ in range(runs)]
        records = [{"generation_tokens_per_s": n_gen / (sum(r["step_ms"]) / 1000.0),
                    "prompt_tokens_per_s": len(prompt) / (r["prompt_ms"] / 1000.0),
                    "prompt_ms": r["prompt_ms"], "time_to_first_token_ms": r["ttft_ms"]} for r in done]
        return TimedRuns([s for r in done for s in r["step_ms"]], records, done[0]["tokens"] if done else None)

    def item_scores(self, reference: np.ndarray, outputs: np.ndarray,
                    inputs: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """Each window's mean ``nll``, ``kl`` and ``agree`` (:func:`window_scores`), [windows]."""
        per = window_scores(reference, outputs, _tokens(inputs))
        return {k: v.mean(axis=1) for k, v in per.items()}

    def score(self, reference: np.ndarray, outputs: np.ndarray,
              inputs: Mapping[str, np.ndarray] | None = None) -> dict[str, float]:
        per = window_scores(reference, outputs, _tokens(inputs))
        return {"perplexity": float(np.exp(per["nll"].mean())), "kl_mean": float(per["kl"].mean()),
                "kl_p99": float(np.percentile(per["kl"], 99)), "top1_agreement": float(per["agree"].mean())}

    def timing_metrics(self, runs: Mapping[str, Sequence[Mapping[str, float]]],
                       outputs: Mapping[str, Any]) -> dict[str, dict[str, float]]:
        """Medians over runs of ``generation_tokens_per_s``, ``prompt_tokens_per_s`` and
        ``time_to_first_token_ms``, and ``greedy_match`` against the baseline's generation."""
        base_tokens = list(outputs.get("baseline") or [])
        out: dict[str, dict[str, float]] = {}
        for role, records in runs.items():
            out[role] = {key: float(statistics.median(r[key] for r in records)) for key in
                         ("generation_tokens_per_s", "prompt_tokens_per_s", "time_to_first_token_ms")}
            out[role]["greedy_match"] = greedy_match(base_tokens, list(outputs.get(role) or []))
        return out

    def describe(self, sides: Mapping[str, SideRecord], settings: Mapping[str, Any], threads: int) -> dict[str, Any]:
        """The roofline of each side (generation tokens/s against the memory bandwidth measured
        now, :mod:`gate.measure.bandwidth`), its generated tokens and bits per weight."""
        from gate.measure.bandwidth import measure_bandwidth

        bandwidth = measure_bandwidth(threads)
        context = int(settings["prompt_tokens"]) + int(settings["generate_tokens"]) / 2
        out: dict[str, Any] = {"doc": {"bandwidth": bandwidth, "settings": {
            "decoding": "greedy (argmax)",
            "reference": "every side is scored against the baseline's logits on the same eval windows"}}}
        for role, side in sides.items():
            details = side.artifact.get("details", {})
            tps = side.metrics["generation_tokens_per_s"]
            out[role] = {"llm": {
                "generation_tokens_per_s_runs": [round(r["generation_tokens_per_s"], 3) for r in side.runs],
                "generated_tokens": side.output,
                "roofline": roofline(tps, details, context, bandwidth["bytes_per_s"]),
                "bits_per_weight": details.get("bits_per_weight") or details.get("gguf", {}).get("bits_per_weight"),
            }}
        return out


def roofline(tokens_per_s: float, details: Mapping[str, Any], context_tokens: float,
             bandwidth: float) -> dict[str, Any]:
    """Generation tokens/s as a percentage of the memory-bandwidth limit ``bandwidth / bytes per
    token`` (:func:`gate.backends.llm.decode_bytes_per_token` with the artifact's
    ``weight_bytes_per_token`` and ``shape``)."""
    from gate.backends.llm import decode_bytes_per_token

    per_token = decode_bytes_per_token(int(details["weight_bytes_per_token"]), dict(details["shape"]), context_tokens)
    limit = bandwidth / per_token
    return {"bytes_per_token": per_token, "limit_tokens_per_s": limit, "percent_of_limit": 100.0 * tokens_per_s / limit}


def _tokens(inputs: Mapping[str, np.ndarray] | None) -> np.ndarray:
    if inputs is None:
        raise ValueError("text-generation scores need the eval tokens (inputs.npz)")
    return np.asarray(inputs["eval.tokens"])


def greedy_generation(session: Any, prompt: list[int], n_gen: int) -> dict[str, Any]:
    """One greedy generation from a fresh KV cache: ``prompt_ms``, ``ttft_ms`` (prompt and the
    first argmax), ``step_ms`` (``n_gen`` decode steps, each with its argmax) and ``tokens``."""
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


#: The registered task (:mod:`gate.tasks`).
TASK = GenerationTask()
