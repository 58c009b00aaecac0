"""The baseline stage for task ``text-generation`` (called by ``gate baseline``).

Writes ``build/gate/<model>/baseline/`` (the F16 GGUF artifact, plus ``reference_logits.npy``:
the baseline's next-token logits on the eval tokens, float32 [eval_tokens, vocab], computed
once here and reused by every candidate of every backend) and ``build/gate/<model>/inputs.npz``
(``eval.tokens`` and ``prompt.tokens``, int64, tokenized once with the baseline's tokenizer,
with a BOS token first where the model's vocabulary asks for one: :func:`tokenize`).

The conversion is checked against the source file itself: both run in llama.cpp on the eval
tokens, and top-1 agreement, KL and both perplexities are recorded. For an upcast of a
quantized source they should agree almost exactly (llama.cpp quantizes activations for
quantized matmuls, so not bit for bit).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from gate.errors import ConfigError, ExitCode

REFERENCE_LOGITS = "reference_logits.npy"


def tokenize(gguf_path: Path, text: str) -> tuple[list[int], bool]:
    """Token ids of ``text`` with the GGUF's own tokenizer (llama.cpp, vocabulary only), and
    whether a BOS token was put first.

    BOS follows the model: ``llama_vocab_get_add_bos`` (the GGUF's
    ``tokenizer.ggml.add_bos_token``, else its vocabulary type's default), as llama.cpp does
    when it serves the model. Scoring without it measured another model: on Gemma3-270M the
    perplexity came out 1144 without BOS against 44 with it, and Q8_0's perplexity ratio
    went from 1.009 (PASS) to 1.059 (FAIL).
    """
    import llama_cpp
    from llama_cpp import Llama

    vocab = Llama(model_path=str(gguf_path), vocab_only=True, verbose=False)
    add_bos = bool(llama_cpp.llama_vocab_get_add_bos(llama_cpp.llama_model_get_vocab(vocab.model)))
    ids = [int(t) for t in vocab.tokenize(text.encode("utf-8"), add_bos=add_bos, special=False)]
    return ids, add_bos


def run_baseline(loaded: Any, root: Path) -> int:
    """Build the baseline, inputs and reference logits of an LLM manifest (see module doc).

    Raises:
        ConfigError: the source GGUF is invalid, or the eval text is shorter than the
            manifest asks for (``generation.eval_tokens``, ``eval.min_items`` tokens).
    """
    from gate import layout, progress
    from gate.backends import get_backend
    from gate.backends.base import write_json_atomic
    from gate.backends.llamacpp import _LlamaSession
    from gate.stages.context import build_context
    from gate.tasks import generation

    m = loaded.manifest
    gen = m.generation
    out = root / layout.baseline_dir(m.name)
    inputs = root / layout.inputs_file(m.name)
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    backend = get_backend(m.baseline.backend)
    source = loaded.source_path()
    with progress.step(f"{m.name}: converting {source.name} to the {m.baseline.precision} baseline ({backend.name})"):
        artifact = backend.make_baseline(source, build_context(loaded, None), out)
        artifact.write(out)
    entry = out / artifact.entry
    tokens, add_bos = tokenize(entry, generation.read_text(loaded.eval_path()))
    need = max(gen.eval_tokens, gen.prompt_tokens, m.eval.min_items)
    if len(tokens) < need:
        raise ConfigError(f"eval text has {len(tokens)} tokens; the manifest needs {need}",
                          location=loaded.where("eval", "data"))
    eval_tokens, prompt = tokens[: gen.eval_tokens], tokens[: gen.prompt_tokens]
    tmp = inputs.with_name(".inputs.tmp.npz")
    arrays = {"eval.tokens": np.asarray(eval_tokens, dtype=np.int64),
              "prompt.tokens": np.asarray(prompt, dtype=np.int64)}
    np.savez(tmp, **arrays)  # type: ignore[arg-type]
    tmp.replace(inputs)
    threads = m.measure.threads
    with progress.step(f"{m.name}: reference logits of the baseline on {len(eval_tokens)} eval tokens"):
        reference = _LlamaSession(entry, threads, len(eval_tokens)).logits(eval_tokens)
        np.save(out / REFERENCE_LOGITS, reference)
    with progress.step(f"{m.name}: checking the baseline against the source file"):
        src_logits = _LlamaSession(source, threads, len(eval_tokens)).logits(eval_tokens)
        check = generation.score(reference, src_logits, np.asarray(eval_tokens))
    ids = np.asarray(eval_tokens)
    fidelity = {"items": len(eval_tokens), "baseline_perplexity": generation.perplexity(reference, ids),
                "source_perplexity": check["perplexity"], "kl_mean": check["kl_mean"],
                "kl_p99": check["kl_p99"], "top1_agreement": check["top1_agreement"]}
    artifact.details["conversion_fidelity"] = fidelity
    artifact.details["source"] = {**m.source.model_dump(), "resolved": str(source), "sha256": loaded.source_sha256}
    artifact.details["add_bos"] = add_bos
    artifact.write(out)
    write_json_atomic(out / "eval_items.json", {"count": len(eval_tokens), "unit": "tokens",
                                                "vocab_size": int(reference.shape[1]), "add_bos": add_bos})
    progress.log(
        f"{m.name}: baseline {artifact.size_bytes} bytes ({artifact.details.get('note', 'not an upcast')}); "
        f"perplexity baseline {fidelity['baseline_perplexity']:.3f} vs source {fidelity['source_perplexity']:.3f}, "
        f"top-1 agreement {fidelity['top1_agreement']:.4f}"
    )
    return ExitCode.PASS
