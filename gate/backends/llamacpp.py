"""llama.cpp backend (llama-cpp-python): F16 GGUF baselines, quantized GGUF candidates.

* Baseline: the source GGUF with every quantized tensor dequantized (``gguf.quants``) and
  written as F16 (1-D norms stay F32, as llama.cpp's converter writes them). When the source
  is quantized, the baseline is an **upcast** of it, not the original weights: the artifact
  records ``upcast_from`` and reports say so.
* Candidate: ``llama_cpp.llama_model_quantize`` to the recipe's ``type`` (llama.cpp's
  ``llama-quantize``). The output header is read back (:mod:`gate.backends.gguf`): tensor types,
  effective bits per weight, and requested vs effective types, since llama.cpp substitutes
  types for shapes a type cannot hold (e.g. Q4_K on rows of 576 falls back to Q5_0).
* Requantization (a baseline whose weights were already quantized) is refused unless the
  recipe sets ``allow_requantize: true``; the opt-in is recorded (shared case C12).

Inference runs through ``llama_cpp.Llama`` with a fixed thread count for prompt and decode;
``open`` returns an :class:`~gate.backends.llm.LlmSession` (token-level steps for timed
generation, ``run`` for the logits of a whole sequence, ``tokenize`` with the model's own
vocabulary).
"""

from __future__ import annotations

import ctypes
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from gate.backends.base import Artifact, BuildContext
from gate.backends.gguf import FLOAT_TYPES, GgufInfo, read_gguf
from gate.backends.llm import LlmSession, check_requantize
from gate.config.schema import Strict
from gate.errors import BackendError

#: Recipe type -> (llama_ftype id from llama.h, the type most weights should get).
FTYPES: dict[str, tuple[int, str]] = {
    "Q8_0": (7, "Q8_0"), "Q6_K": (18, "Q6_K"), "Q5_K_M": (17, "Q5_K"), "Q5_0": (8, "Q5_0"),
    "Q4_K_M": (15, "Q4_K"), "Q4_K_S": (14, "Q4_K"), "Q4_0": (2, "Q4_0"), "Q3_K_M": (12, "Q3_K"),
}
#: The tensor types each llama.cpp scheme uses by design: a ``_M`` or ``_S`` mix keeps some
#: tensors (attn_v, ffn_down, output) in a larger type (llama.cpp ``src/llama-quant.cpp``,
#: ``llama_tensor_get_type``). A weight matrix outside its scheme was substituted, typically
#: because its rows do not divide into the type's blocks (256 for the K types).
SCHEMES: dict[str, frozenset[str]] = {
    "Q8_0": frozenset({"Q8_0"}), "Q6_K": frozenset({"Q6_K"}), "Q5_K_M": frozenset({"Q5_K", "Q6_K"}),
    "Q5_0": frozenset({"Q5_0", "Q6_K"}), "Q4_K_M": frozenset({"Q4_K", "Q6_K"}),
    "Q4_K_S": frozenset({"Q4_K", "Q5_K", "Q6_K"}), "Q4_0": frozenset({"Q4_0", "Q6_K"}),
    "Q3_K_M": frozenset({"Q3_K", "Q4_K", "Q5_K", "Q6_K"}),
}
#: The type llama.cpp stores a tensor in when its rows do not divide into the blocks of the
#: type its scheme asks for (``llama_tensor_get_type`` in ``src/llama-quant.cpp``: Q4_K ->
#: Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, Q2_K / Q3_K -> IQ4_NL), so a file of that scheme holds these too.
FALLBACKS: dict[str, str] = {"Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0", "Q2_K": "IQ4_NL", "Q3_K": "IQ4_NL"}
ENTRY = "model.gguf"
#: KV cache of a session used before :meth:`LlamaSession.reserve` sized it.
DEFAULT_CTX = 512


class LlamaCppRecipe(Strict):
    """llama.cpp quantization settings: the ``llama-quantize`` type name and the opt-in to
    quantize weights that were already quantized."""

    type: Literal["Q8_0", "Q6_K", "Q5_K_M", "Q5_0", "Q4_K_M", "Q4_K_S", "Q4_0", "Q3_K_M"]
    allow_requantize: bool = False


def quantization_of(info: GgufInfo) -> str | None:
    """The quantization a GGUF holds, read from its tensors; None for a float file.

    The blocks' weight matrices decide (:meth:`GgufInfo.block_quantized_type`; the token
    embedding, often kept larger, is left out). The writer's declared file type
    (``general.file_type``) names the result only when the tensors bear it out: every block
    type belongs to that llama.cpp scheme (:data:`SCHEMES`) or to its shape fallbacks
    (:data:`FALLBACKS`), and some block holds one of the scheme's own types. Gemma3-270M's
    Q4_K_M file, for one, holds Q4_K, Q6_K and, for its 640-wide rows, Q5_0 and Q8_0.
    """
    block = info.block_quantized_type() or info.main_quantized_type()
    if block is None:
        return None
    declared = info.declared_file_type()
    scheme = SCHEMES.get(declared or "", frozenset())
    allowed = scheme | {FALLBACKS[t] for t in scheme if t in FALLBACKS} | FLOAT_TYPES
    types = info.block_weight_types()
    if scheme and types <= allowed and types & scheme:
        return declared
    return block


def model_shape(info: GgufInfo) -> dict[str, Any]:
    """``layers``, ``kv_heads``, ``head_dim``, ``tied_embeddings`` from a GGUF's metadata."""
    md = info.metadata
    arch = md.get("general.architecture", "llama")
    heads = int(md[f"{arch}.attention.head_count"])
    head_dim = md.get(f"{arch}.rope.dimension_count") or int(md[f"{arch}.embedding_length"]) // heads
    return {"layers": int(md[f"{arch}.block_count"]), "heads": heads,
            "kv_heads": int(md.get(f"{arch}.attention.head_count_kv", heads)), "head_dim": int(head_dim),
            "tied_embeddings": not any(t.name == "output.weight" for t in info.tensors)}


def weight_bytes_per_token(info: GgufInfo) -> int:
    """Tensor bytes one decode step reads: all, less the embedding table unless it is tied
    (then it is also the output projection and read in full)."""
    tied = model_shape(info)["tied_embeddings"]
    return sum(t.nbytes for t in info.tensors if tied or t.name != "token_embd.weight")


def upcast_to_f16(source: Path, target: Path) -> dict[str, Any]:
    """Write ``source`` GGUF as F16: dequantize every quantized tensor; keep the metadata.

    Returns what the source held (its :meth:`GgufInfo.summary`) for lineage.

    Raises:
        ConfigError: the source is not a valid GGUF (:func:`gate.backends.gguf.read_gguf`).
    """
    import gguf
    from gguf.quants import dequantize

    src = read_gguf(source)
    reader = gguf.GGUFReader(str(source))
    writer = gguf.GGUFWriter(str(target), src.metadata.get("general.architecture", "llama"))
    for f in reader.fields.values():
        if f.name.startswith("GGUF.") or f.name in ("general.architecture", "general.file_type"):
            continue
        vtype = f.types[0]
        sub = f.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(f.name, f.contents(), vtype, sub_type=sub)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    for t in reader.tensors:
        data = dequantize(t.data, t.tensor_type)
        # llama.cpp keeps 1-D tensors (norms) in F32; matrices become F16
        writer.add_tensor(t.name, data.astype(np.float32 if data.ndim == 1 else np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return src.summary()


class LlamaSession:
    """``llama_cpp.Llama`` as an :class:`~gate.backends.llm.LlmSession` (greedy argmax is the
    caller's). The model loads on :meth:`reserve` (or the first use, with a context of
    :data:`DEFAULT_CTX` tokens), so a session opened only to :meth:`tokenize` reads the
    vocabulary alone."""

    def __init__(self, path: Path, threads: int) -> None:
        self._path, self._threads = path, threads
        self._llm: Any = None
        self._scorer: Any = None
        self._n_ctx = 0

    def _args(self, n_ctx: int) -> dict[str, Any]:
        return {"model_path": str(self._path), "n_ctx": n_ctx, "n_batch": n_ctx, "n_ubatch": n_ctx,
                "n_threads": self._threads, "n_threads_batch": self._threads, "verbose": False}

    def reserve(self, n_ctx: int) -> None:
        """Load the model with a KV cache of at least ``n_ctx`` tokens (reloads if shorter)."""
        from llama_cpp import Llama

        if self._llm is None or n_ctx > self._n_ctx:
            self._n_ctx = max(n_ctx, 8)
            self._llm = Llama(**self._args(self._n_ctx), logits_all=False)

    def properties(self) -> dict[str, Any]:
        """What the loaded llama.cpp build runs with, for the measurements' ``runtime``:
        ``system_info`` (``llama_print_system_info``: the CPU kernels the build compiled in,
        e.g. ``AVX512 = 1``; llama-cpp-python is built per machine, so two machines' figures
        may come from different kernels), ``cpu_features`` (the features switched on,
        space-separated), and the thread counts the session uses."""
        import llama_cpp

        info = llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()
        features = " ".join(sorted(set(re.findall(r"([A-Z][A-Z0-9_]*) = 1\b", info))))
        return {"system_info": info, "cpu_features": features, "n_threads": self._threads,
                "n_threads_batch": self._threads}

    @property
    def vocab_size(self) -> int:
        if self._llm is None:
            self.reserve(DEFAULT_CTX)
        return int(self._llm.n_vocab())

    def tokenize(self, text: str) -> tuple[list[int], bool]:
        """Token ids of ``text`` with the GGUF's own tokenizer (vocabulary only), and whether a
        BOS token was put first.

        BOS follows the model: ``llama_vocab_get_add_bos`` (the GGUF's
        ``tokenizer.ggml.add_bos_token``, else its vocabulary type's default), as llama.cpp does
        when it serves the model. Scoring without it measures another model: on Gemma3-270M
        the perplexity came out 1144 without BOS against 44 with it, and Q8_0's perplexity
        ratio went from 1.009 (PASS) to 1.059 (FAIL).
        """
        import llama_cpp
        from llama_cpp import Llama

        vocab = Llama(model_path=str(self._path), vocab_only=True, verbose=False)
        add_bos = bool(llama_cpp.llama_vocab_get_add_bos(llama_cpp.llama_model_get_vocab(vocab.model)))
        ids = [int(t) for t in vocab.tokenize(text.encode("utf-8"), add_bos=add_bos, special=False)]
        return ids, add_bos

    def _last_logits(self) -> np.ndarray:
        import llama_cpp

        # Llama.eval no longer copies logits unless logits_all; read the context's last row
        ptr = llama_cpp.llama_get_logits_ith(self._llm._ctx.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(int(self._llm.n_vocab()),)).copy()

    def reset(self) -> None:
        self.reserve(DEFAULT_CTX)
        self._llm.reset()

    def prefill(self, tokens: list[int]) -> np.ndarray:
        self.reserve(DEFAULT_CTX)
        self._llm.eval(tokens)
        return self._last_logits()

    def step(self, token: int) -> np.ndarray:
        self._llm.eval([token])
        return self._last_logits()

    def run(self, feeds: Mapping[str, np.ndarray]) -> np.ndarray:
        """Logits of every position of ``feeds["tokens"]`` [1, n] as a new sequence: float32
        [1, n, vocab] (a second context that keeps every row's logits, sized on first use)."""
        from llama_cpp import Llama

        tokens = [int(t) for t in np.asarray(feeds["tokens"]).reshape(-1)]
        if self._scorer is None or len(tokens) > self._scorer.n_ctx():
            self._scorer = Llama(**self._args(max(len(tokens), 8)), logits_all=True)
        self._scorer.reset()
        self._scorer.eval(tokens)
        return np.array(self._scorer.scores[: len(tokens)], dtype=np.float32)[None]


class LlamaCppBackend:
    """The ``llamacpp`` backend (see the module docstring)."""

    name = "llamacpp"
    #: Tasks it builds candidates for, and baselines for (checked when a manifest loads).
    candidate_tasks = frozenset({"text-generation"})
    #: Python distributions whose versions are DVC params of its stages (a bump reruns them).
    distributions = ("llama-cpp-python", "gguf")
    baseline_tasks = frozenset({"text-generation"})
    recipe_model = LlamaCppRecipe

    def versions(self) -> dict[str, str]:
        from importlib.metadata import version

        import llama_cpp

        return {"llama-cpp-python": llama_cpp.__version__, "gguf": version("gguf")}

    def make_baseline(self, source: Path, ctx: BuildContext, out: Path) -> Artifact:
        """F16 GGUF from the source GGUF (an upcast when the source is quantized)."""
        if ctx.task != "text-generation":
            raise BackendError(f"llamacpp cannot build a baseline for task {ctx.task}")
        out.mkdir(parents=True, exist_ok=True)
        src = upcast_to_f16(source, out / ENTRY)
        info = read_gguf(out / ENTRY)
        upcast = quantization_of(read_gguf(source))
        details: dict[str, Any] = {
            "gguf": info.summary(), "source_gguf": src, "upcast_from": upcast,
            "shape": model_shape(info), "weight_bytes_per_token": weight_bytes_per_token(info),
        }
        if upcast:
            details["note"] = (f"F16 baseline upcast from the {upcast} source: the same weights as "
                               f"the {upcast} file, not the original full-precision ones")
        return Artifact.describe(out, fmt="gguf", backend=self.name, precision="f16", entry=ENTRY,
                                 details=details)

    def optimize(self, baseline: Path, recipe: Strict, ctx: BuildContext, out: Path) -> Artifact:
        """Quantize the baseline GGUF to ``recipe.type`` and read the result back."""
        import llama_cpp

        if not isinstance(recipe, LlamaCppRecipe):
            raise BackendError(f"llamacpp got a {type(recipe).__name__} recipe")
        base = Artifact.read(baseline)
        src = read_gguf(baseline / base.entry)
        requant = check_requantize({**src.summary(), "upcast_from": base.details.get("upcast_from")},
                                   recipe.allow_requantize, self.name)
        out.mkdir(parents=True, exist_ok=True)
        ftype, wanted = FTYPES[recipe.type]
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = ftype
        params.nthread = 2
        params.allow_requantize = recipe.allow_requantize
        rc = llama_cpp.llama_model_quantize(str(baseline / base.entry).encode(),
                                            str(out / ENTRY).encode(), ctypes.byref(params))
        if rc != 0 or not (out / ENTRY).is_file():
            raise BackendError(f"llama_model_quantize to {recipe.type} failed (status {rc})")
        info = read_gguf(out / ENTRY)
        subs = info.substitutions(wanted)
        off, off_share = info.outside(SCHEMES[recipe.type])
        details: dict[str, Any] = {}
        if off:
            kinds = ", ".join(f"{n} as {k}" for k, n in off.items())
            details["quantization_mismatch"] = (
                f"the candidate file differs from its recipe: {recipe.type} uses "
                f"{', '.join(sorted(SCHEMES[recipe.type]))}, "
                f"but {sum(off.values())} weight matrices ({off_share:.1%} of weight elements) are stored {kinds}")
        return Artifact.describe(out, fmt="gguf", backend=self.name, precision=recipe.type, entry=ENTRY, details={
            **details, "outside_scheme": {"tensors": off, "share_of_weight_elements": round(off_share, 4)},
            "requested_type": recipe.type, "requested_weight_type": wanted,
            "effective_main_weight_type": info.main_weight_type(),
            "substituted_weight_tensors": subs, "substituted_count": sum(subs.values()),
            "bits_per_weight": round(info.bits_per_weight(), 4), "gguf": info.summary(),
            "requantize": requant, "shape": model_shape(info),
            "weight_bytes_per_token": weight_bytes_per_token(info),
        })

    def open(self, artifact: Path, threads: int) -> LlmSession:
        """An artifact folder (or a bare ``.gguf`` file, e.g. the manifest's source) as a
        :class:`LlamaSession` running on ``threads`` threads for prompt and decode.

        Raises:
            ConfigError: the GGUF is invalid (:func:`gate.backends.gguf.read_gguf`): a corrupt
                file is an error here, not a native crash.
        """
        path = artifact if artifact.is_file() else artifact / Artifact.read(artifact).entry
        read_gguf(path)
        return LlamaSession(path, threads)


BACKEND = LlamaCppBackend()

__all__ = ["BACKEND", "FTYPES", "LlamaCppBackend", "LlamaCppRecipe", "upcast_to_f16"]
