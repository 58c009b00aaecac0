"""What LLM backends (llamacpp, mlx) add to :class:`~gate.backends.base.Backend`.

An LLM backend implements the same contract as every backend: ``open(artifact, threads)``
returns a session whose ``run(feeds)`` maps ``{"tokens": int64 [1, n]}`` to the logits of
every position, float32 [1, n, vocab]. The session is an :class:`LlmSession`: it also decodes
token by token for timed greedy generation (driven by the ``text-generation`` task, which
takes the argmax identically for every backend). Shared here: the requantization rule and
the bytes a decode step reads (for the roofline).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from gate.errors import ConfigError


class LlmSession(Protocol):
    """A causal LM opened for inference. Sessions of backends that build baselines also have
    ``tokenize(text) -> (ids, add_bos)`` with the model's own vocabulary."""

    @property
    def vocab_size(self) -> int:
        """Number of tokens in the vocabulary (the logits' last dimension)."""
        ...

    def reserve(self, n_ctx: int) -> None:
        """Make the KV cache hold at least ``n_ctx`` tokens (loads the model if needed)."""
        ...

    def reset(self) -> None:
        """Forget the KV cache (the next ``prefill`` starts a new sequence)."""
        ...

    def prefill(self, tokens: list[int]) -> np.ndarray:
        """Process ``tokens`` after the cache; return the last position's logits [vocab]."""
        ...

    def step(self, token: int) -> np.ndarray:
        """Process one token after the cache; return its logits [vocab]."""
        ...

    def run(self, feeds: Mapping[str, np.ndarray]) -> np.ndarray:
        """Logits of every position of ``feeds["tokens"]`` [1, n] as a new sequence: float32
        [1, n, vocab]."""
        ...


def check_requantize(source_types: dict[str, Any], allow_requantize: bool, backend: str) -> dict[str, Any]:
    """Refuse to quantize weights that were already quantized, unless the recipe opts in.

    ``source_types`` describes where the baseline's weights come from: ``quantized`` (bool),
    ``main_quantized_type`` (see :meth:`gate.backends.gguf.GgufInfo.summary`) and ``upcast_from`` (the
    quantized type a float baseline was dequantized from, or None).
    Quantizing an upcast of Q4_1 to Q4_K_M stacks two rounding errors, so it is a
    requantization too (shared case C12). Returns the record for the artifact's details.

    Raises:
        ConfigError: (exit 2) the source is quantized and ``allow_requantize`` is false.
    """
    origin = source_types.get("upcast_from") or (
        source_types.get("main_quantized_type") if source_types.get("quantized") else None)
    record = {"source_quantized": origin is not None, "source_quantized_type": origin,
              "allow_requantize": allow_requantize}
    if origin is not None and not allow_requantize:
        raise ConfigError(
            f"{backend}: the baseline's weights are already quantized ({origin}); quantizing them "
            "again stacks two rounding errors",
            hint="set `allow_requantize: true` in the target's recipe to accept this (it is recorded)",
        )
    return record


def decode_bytes_per_token(weight_bytes: int, meta: dict[str, Any], context_tokens: float,
                           kv_bytes_per_value: int = 2) -> float:
    """Bytes one decode step reads: every weight once plus the KV cache so far.

    ``weight_bytes`` counts the weights a step multiplies with (with tied embeddings the
    embedding matrix is the output projection, read in full); the KV cache is
    ``2 x layers x kv_heads x head_dim x context_tokens`` values of ``kv_bytes_per_value``
    (F16 in llama.cpp's default cache and in mlx-lm). Activations are ignored (they stay in
    cache). This is the usual memory-bound model of decoding (e.g. "LLM Inference Unveiled:
    Survey and Roofline Model Insights", Yuan et al. 2024).
    """
    kv = (2 * int(meta["layers"]) * int(meta["kv_heads"]) * int(meta["head_dim"])
          * context_tokens * kv_bytes_per_value)
    return float(weight_bytes + kv)
