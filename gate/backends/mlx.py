"""Apple MLX backend (mlx + mlx-lm): MLX models quantized to 4 or 8 bits, run with mlx-lm.

On Linux this runs on the CPU (the ``mlx[cpu]`` wheels); on Apple silicon the same backend and
the same artifacts run on the GPU through Metal (MLX's default device there), so figures
measured here say nothing about Metal speed.

Conversion: the baseline is an F16 GGUF (llamacpp backend), and mlx-lm loads Hugging Face
style folders, so the candidate is built from the baseline's dequantized F16 weights: tensors
are renamed from llama.cpp's names to Hugging Face Llama names, the Q and K projections are
un-permuted (llama.cpp's ``convert_hf_to_gguf.py`` permutes them for its rotary layout), and
a ``config.json`` is written from the GGUF metadata. mlx-lm's ``quantize_model`` then
quantizes with affine ``bits`` and ``group_size`` (64, the seed's and mlx-lm's default).
Measurement feeds the same token ids as llama.cpp (the vocabulary comes from the same GGUF),
so the fidelity figures compare like with like. Only the ``llama`` architecture is mapped.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from gate.backends.base import Artifact, BuildContext
from gate.backends.gguf import read_gguf
from gate.backends.llm import LlmSession, check_requantize
from gate.config.schema import Strict
from gate.errors import BackendError, ConfigError

#: llama.cpp block tensor names -> Hugging Face Llama module paths.
_BLOCK_NAMES = {
    "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
_TOP_NAMES = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
              "output.weight": "lm_head.weight"}


class MlxRecipe(Strict):
    """MLX affine quantization: ``bits`` per weight and ``group_size`` weights per scale."""

    bits: Literal[4, 8]
    group_size: Literal[32, 64, 128] = 64
    #: dtype of everything not quantized (scales, biases, norms) and so of the activations.
    #: float32 by default: on the Linux CPU backend MLX's quantized matmul ran ~60x slower
    #: with float16 than with float32 here (no native float16 arithmetic); on Metal float16
    #: is the usual choice.
    dtype: Literal["float32", "float16"] = "float32"
    allow_requantize: bool = False


def unpermute(w: np.ndarray, n_heads: int) -> np.ndarray:
    """Undo llama.cpp's Q/K row permutation (inverse of ``LlamaModel.permute`` in
    llama.cpp's convert_hf_to_gguf.py) on a [rows, cols] projection with ``n_heads`` heads."""
    return w.reshape(n_heads, w.shape[0] // n_heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def gguf_to_hf_weights(gguf_path: Path, dtype: str = "float32") -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """F16/F32 GGUF -> (Hugging Face named arrays of ``dtype``, mlx-lm ``config.json`` dict).

    Raises:
        ConfigError: not a valid GGUF, not the llama architecture, or a quantized tensor.
    """
    import gguf

    info = read_gguf(gguf_path)
    md = info.metadata
    if md.get("general.architecture") != "llama":
        raise ConfigError(f"mlx: only llama GGUFs are converted, not {md.get('general.architecture')!r}",
                          location=str(gguf_path))
    n_heads, n_kv = int(md["llama.attention.head_count"]), int(md["llama.attention.head_count_kv"])
    weights: dict[str, np.ndarray] = {}
    for t in gguf.GGUFReader(str(gguf_path)).tensors:
        if t.tensor_type.name not in ("F16", "F32"):
            raise ConfigError(f"mlx: tensor {t.name} is {t.tensor_type.name}; convert from the F16 baseline",
                              location=str(gguf_path))
        data = np.asarray(t.data)
        if t.name in _TOP_NAMES:
            key = _TOP_NAMES[t.name]
        else:
            _, layer, part, _ = t.name.split(".")
            key = f"model.layers.{layer}.{_BLOCK_NAMES[part]}.weight"
            if part in ("attn_q", "attn_k"):
                data = unpermute(data, n_heads if part == "attn_q" else n_kv)
        weights[key] = data.astype(dtype)
    config = {
        "model_type": "llama", "hidden_size": int(md["llama.embedding_length"]),
        "num_hidden_layers": int(md["llama.block_count"]),
        "intermediate_size": int(md["llama.feed_forward_length"]),
        "num_attention_heads": n_heads, "num_key_value_heads": n_kv,
        "head_dim": int(md.get("llama.rope.dimension_count") or int(md["llama.embedding_length"]) // n_heads),
        "rms_norm_eps": float(md["llama.attention.layer_norm_rms_epsilon"]),
        "rope_theta": float(md.get("llama.rope.freq_base", 10000.0)),
        "vocab_size": int(weights["model.embed_tokens.weight"].shape[0]),
        "max_position_embeddings": int(md.get("llama.context_length", 2048)),
        "tie_word_embeddings": "lm_head.weight" not in weights,
    }
    return weights, config


class _MlxSession:
    """An mlx-lm model with a KV cache as an :class:`LlmSession`."""

    def __init__(self, path: Path) -> None:
        import mlx.core as mx
        from mlx_lm.utils import load_model

        self._mx = mx
        self._model, config = load_model(path)
        self.vocab_size = int(config["vocab_size"])
        self.reset()

    def reserve(self, n_ctx: int) -> None:
        """Nothing to do: mlx-lm's KV cache grows as tokens arrive."""

    def reset(self) -> None:
        from mlx_lm.models.cache import make_prompt_cache

        self._cache = make_prompt_cache(self._model)

    def _run(self, tokens: list[int], cache: Any) -> Any:
        out = self._model(self._mx.array(tokens, dtype=self._mx.int32)[None], cache=cache)
        return out.astype(self._mx.float32)

    def prefill(self, tokens: list[int]) -> np.ndarray:
        return np.array(self._run(tokens, self._cache)[0, -1])

    def step(self, token: int) -> np.ndarray:
        return np.array(self._run([token], self._cache)[0, -1])

    def run(self, feeds: Mapping[str, np.ndarray]) -> np.ndarray:
        tokens = [int(t) for t in np.asarray(feeds["tokens"]).reshape(-1)]
        return np.array(self._run(tokens, None))


class MlxBackend:
    """The ``mlx`` backend (see the module docstring)."""

    name = "mlx"
    #: Tasks it builds candidates for, and baselines for (checked when a manifest loads).
    candidate_tasks = frozenset({"text-generation"})
    #: Python distributions whose versions are DVC params of its stages (a bump reruns them).
    distributions = ("mlx", "mlx-lm")
    baseline_tasks: frozenset[str] = frozenset()
    recipe_model = MlxRecipe

    def versions(self) -> dict[str, str]:
        from importlib.metadata import version

        import mlx.core as mx

        return {"mlx": mx.__version__,  # type: ignore[attr-defined]
                "mlx-lm": version("mlx-lm"), "mlx-device": str(mx.default_device())}

    def make_baseline(self, source: Path, ctx: BuildContext, out: Path) -> Artifact:
        raise BackendError("mlx builds candidates from an F16 GGUF baseline; use baseline backend llamacpp")

    def optimize(self, baseline: Path, recipe: Strict, ctx: BuildContext, out: Path) -> Artifact:
        """Convert the F16 GGUF baseline to MLX and quantize it (see the module docstring)."""
        import mlx.core as mx
        from mlx_lm.utils import compute_bits_per_weight, load_model, quantize_model, save_config, save_model

        if not isinstance(recipe, MlxRecipe):
            raise BackendError(f"mlx got a {type(recipe).__name__} recipe")
        base = Artifact.read(baseline)
        info = read_gguf(baseline / base.entry)
        requant = check_requantize({**info.summary(), "upcast_from": base.details.get("upcast_from")},
                                   recipe.allow_requantize, self.name)
        weights, config = gguf_to_hf_weights(baseline / base.entry, recipe.dtype)
        with tempfile.TemporaryDirectory(prefix="gate-mlx-") as tmp:
            f16 = Path(tmp)
            mx.save_safetensors(str(f16 / "model.safetensors"), {k: mx.array(v) for k, v in weights.items()},
                                metadata={"format": "mlx"})
            (f16 / "config.json").write_text(json.dumps(config))
            model, cfg = load_model(f16)
            model, cfg = quantize_model(model, cfg, recipe.group_size, recipe.bits)
            bpw = float(compute_bits_per_weight(model))  # type: ignore[no-untyped-call]
            shutil.rmtree(out, ignore_errors=True)
            save_model(out, model)
            save_config(cfg, out / "config.json")
        files = sorted(p.name for p in out.iterdir() if p.is_file())
        weight_files = [f for f in files if f.endswith(".safetensors")]
        shape = {"layers": config["num_hidden_layers"], "heads": config["num_attention_heads"],
                 "kv_heads": config["num_key_value_heads"], "head_dim": config["head_dim"],
                 "tied_embeddings": config["tie_word_embeddings"]}
        return Artifact.describe(
            out, fmt="mlx", backend=self.name, precision=f"{recipe.bits}bit-g{recipe.group_size}",
            entry="config.json", extra_files=[f for f in files if f != "config.json"],
            details={"bits": recipe.bits, "group_size": recipe.group_size, "mode": "affine",
                     "dtype": recipe.dtype,
                     "bits_per_weight": round(bpw, 4), "requantize": requant, "shape": shape,
                     "weight_bytes_per_token": sum((out / f).stat().st_size for f in weight_files),
                     "converted_from": f"{base.entry} (F16 GGUF baseline): renamed, Q/K un-permuted"},
        )

    def open(self, artifact: Path, threads: int) -> LlmSession:
        """The MLX model folder as an :class:`~gate.backends.llm.LlmSession`. MLX's CPU backend
        picks its own thread count; the figures record the setting asked for."""
        Artifact.read(artifact)  # a folder that is not an artifact is an error here
        return _MlxSession(artifact)


BACKEND = MlxBackend()

__all__ = ["BACKEND", "MlxBackend", "MlxRecipe", "gguf_to_hf_weights", "unpermute"]
