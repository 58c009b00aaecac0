"""Text generation (LLMs, e.g. SmolLM2): eval text, token inputs, and fidelity to the baseline.

The baseline stage tokenizes the eval text once with the baseline's own tokenizer and computes
the baseline's next-token logits on it once; every candidate of every backend is scored
against those same reference logits, on the same token ids (the backends share the vocabulary,
which each backend checks when it opens an artifact).

Fidelity, all over the positions ``i = 0 .. n-2`` of one window of ``n`` eval tokens:

* ``perplexity``: ``exp(mean_i -log p(t[i+1] | t[..i]))`` (every position scored; llama.cpp's
  ``llama-perplexity`` scores only the second half of each chunk, so its figures are lower);
* ``kl_mean`` / ``kl_p99``: mean and 99th percentile over positions of
  ``KL(P_baseline || P_candidate)`` of the next-token distributions, in nats (the "Mean KLD" and
  "99.0% KLD" of ``llama-perplexity --kl-divergence``);
* ``top1_agreement``: fraction of positions where both pick the same most likely token
  (llama.cpp's "Same top p").

A policy judges an LLM by these against the baseline (shared case C08: "ran without error" is
never a pass).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


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


def score(reference: np.ndarray, outputs: np.ndarray, tokens: np.ndarray) -> dict[str, float]:
    """Fidelity of ``outputs`` to ``reference`` logits, both [n, vocab], on ``tokens`` [n].

    Returns ``perplexity`` (of ``outputs``), ``kl_mean``, ``kl_p99`` (nats) and
    ``top1_agreement`` (0..1) as in the module docstring.

    Raises:
        ValueError: shapes differ or disagree with ``tokens``, fewer than 2 tokens, or
            non-finite logits.
    """
    if reference.shape != outputs.shape:
        raise ValueError(f"logits shape {outputs.shape} differs from the baseline's {reference.shape}")
    if reference.ndim != 2 or reference.shape[0] != len(tokens) or len(tokens) < 2:
        raise ValueError(f"logits {reference.shape} do not match {len(tokens)} eval tokens")
    if not (np.isfinite(reference).all() and np.isfinite(outputs).all()):
        raise ValueError("logits contain NaN or infinite values")
    ref, out = log_softmax(reference[:-1]), log_softmax(outputs[:-1])
    kl = np.sum(np.exp(ref) * (ref - out), axis=1)
    kl = np.maximum(kl, 0.0)  # rounding can give -1e-17 for identical rows
    return {
        "perplexity": perplexity(outputs, tokens),
        "kl_mean": float(kl.mean()),
        "kl_p99": float(np.percentile(kl, 99)),
        "top1_agreement": float(np.mean(ref.argmax(axis=1) == out.argmax(axis=1))),
    }


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
