"""Sentence embeddings (e.g. all-MiniLM-L6-v2): inputs, export wrapper and fidelity metrics.

The artifact maps token ids to one L2-normalised embedding per sentence (mean pooling over the
attention mask, as sentence-transformers does for all-MiniLM-L6-v2:
https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2). Fidelity of a candidate is
measured against the baseline's embeddings of the same eval sentences:

* ``cosine_mean`` / ``cosine_p5``: mean and 5th percentile of per-sentence cosine similarity;
* ``nn10_overlap``: mean fraction of each sentence's 10 nearest neighbours (by cosine, among
  the other eval sentences) that the candidate's embeddings also rank in the top 10. It is the
  retrieval result a user of the embeddings would see change, so manifests use it as primary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

FEEDS = ("input_ids", "attention_mask", "token_type_ids")
#: Output name of exported artifacts ("embedding" collides with a node name of BERT graphs).
OUTPUT = "sentence_embedding"
#: Which dimension of which input each axis name of ``InputSpec.dynamic_axes`` is.
AXES: dict[str, dict[str, int]] = {
    "batch": dict.fromkeys(FEEDS, 0),
    "sequence": dict.fromkeys(FEEDS, 1),
}


def export_spec(input_spec: dict[str, Any]) -> tuple[tuple[Any, ...], list[str], list[str], dict[str, dict[int, str]]]:
    """What ``torch.onnx.export`` needs: dummy inputs (int64 ones of shape [batch, sequence]),
    input names, output names and dynamic axes (batch and sequence of every input)."""
    import torch

    shape = (input_spec["batch_size"], input_spec["sequence_length"])
    dummy = tuple(torch.ones(shape, dtype=torch.int64) for _ in FEEDS)
    axes = {name: {0: "batch", 1: "sequence"} for name in FEEDS}
    axes[OUTPUT] = {0: "batch"}
    return dummy, list(FEEDS), [OUTPUT], axes


def read_items(path: Path) -> list[str]:
    """Non-empty stripped lines of a UTF-8 text file."""
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def build_inputs(tokenizer_dir: Path, items: list[str], batch_size: int, seq_len: int) -> dict[str, np.ndarray]:
    """Tokenize the eval set and the fixed latency input.

    Returns arrays for ``np.savez``: ``latency.<feed>`` of shape [batch_size, seq_len] (real
    text, no padding) and the eval set as ragged rows, ``eval.<feed>`` (concatenated int64 ids)
    with ``eval.offsets`` of shape [n + 1].
    """
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    tok.enable_truncation(max_length=seq_len)
    tok.no_padding()
    out: dict[str, np.ndarray] = {}
    encodings = tok.encode_batch(items)
    offsets = np.zeros(len(items) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(e.ids) for e in encodings])
    out["eval.offsets"] = offsets
    out["eval.input_ids"] = np.concatenate([np.asarray(e.ids, dtype=np.int64) for e in encodings])
    out["eval.attention_mask"] = np.concatenate(
        [np.asarray(e.attention_mask, dtype=np.int64) for e in encodings]
    )
    out["eval.token_type_ids"] = np.concatenate(
        [np.asarray(e.type_ids, dtype=np.int64) for e in encodings]
    )
    long_text = " ".join(items)
    enc = tok.encode(long_text)
    if len(enc.ids) < seq_len:
        raise ValueError(f"eval set has {len(enc.ids)} tokens; the latency input needs {seq_len}")
    for feed, values in zip(FEEDS, (enc.ids, enc.attention_mask, enc.type_ids), strict=True):
        row = np.asarray(values[:seq_len], dtype=np.int64)
        out[f"latency.{feed}"] = np.tile(row, (batch_size, 1))
    return out


def latency_feeds(inputs: Any) -> dict[str, np.ndarray]:
    """The fixed latency input from a loaded ``inputs.npz``."""
    return {feed: inputs[f"latency.{feed}"] for feed in FEEDS}


def eval_feeds(inputs: Any) -> list[dict[str, np.ndarray]]:
    """One batch-1 feed dict per eval item from a loaded ``inputs.npz``."""
    offsets = inputs["eval.offsets"]
    columns = {feed: inputs[f"eval.{feed}"] for feed in FEEDS}
    return [
        {feed: col[offsets[i] : offsets[i + 1]][None, :] for feed, col in columns.items()}
        for i in range(len(offsets) - 1)
    ]


def item_scores(reference: np.ndarray, outputs: np.ndarray, k: int = 10, inputs: Any = None) -> dict[str, np.ndarray]:
    """Per-item fidelity of ``outputs`` to ``reference``, both of shape [n_items, dim]
    (``inputs`` is unused: embeddings have no labels).

    Returns ``cosine`` (cosine similarity of each item's two embeddings) and ``overlap`` (the
    fraction of each item's ``k`` nearest neighbours, by cosine among the other items, that
    both embeddings share), each of shape [n_items].

    Raises:
        ValueError: shapes differ, ``k + 1`` items or fewer, or non-finite values.
    """
    if reference.shape != outputs.shape:
        raise ValueError(f"output shape {outputs.shape} differs from the baseline's {reference.shape}")
    n = reference.shape[0]
    if n <= k:
        raise ValueError(f"need more than {k} eval items for top-{k} overlap, got {n}")
    if not (np.isfinite(reference).all() and np.isfinite(outputs).all()):
        raise ValueError("embeddings contain NaN or infinite values")
    ref = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    out = outputs / np.linalg.norm(outputs, axis=1, keepdims=True)
    cosine = np.sum(ref * out, axis=1)

    def neighbours(emb: np.ndarray) -> np.ndarray:
        sim = emb @ emb.T
        np.fill_diagonal(sim, -np.inf)
        return np.argsort(-sim, axis=1, kind="stable")[:, :k]

    nn_ref, nn_out = neighbours(ref), neighbours(out)
    overlap = np.array([len(set(a) & set(b)) / k for a, b in zip(nn_ref.tolist(), nn_out.tolist(), strict=True)])
    return {"cosine": cosine, "overlap": overlap}


def score(reference: np.ndarray, outputs: np.ndarray, k: int = 10, inputs: Any = None) -> dict[str, float]:
    """The task's metrics (see the module docstring) from :func:`item_scores`. ``inputs`` (the
    loaded ``inputs.npz``) is unused: embeddings have no labels."""
    items = item_scores(reference, outputs, k)
    return {
        "cosine_mean": float(np.mean(items["cosine"])),
        "cosine_p5": float(np.percentile(items["cosine"], 5)),
        "nn10_overlap": float(np.mean(items["overlap"])),
    }


def per_item_fidelity(reference: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """Cosine of each output row to its reference row, shape [n_items] (for NNCF's
    accuracy-aware ranking, which needs one value per item)."""
    num = np.sum(reference * outputs, axis=1)
    return np.asarray(num / (np.linalg.norm(reference, axis=1) * np.linalg.norm(outputs, axis=1)))


def torch_module(source: Path, allow_pickle: bool = False) -> Any:
    """A torch module mapping (input_ids, attention_mask, token_type_ids) to normalised
    sentence embeddings [batch, dim], built from a transformers checkpoint folder.

    transformers 5 changed BertModel's positional arguments, so the wrapper passes keywords.
    """
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]  # quiets the load report
    model = AutoModel.from_pretrained(str(source), local_files_only=True)
    model.eval()

    class SentenceEmbedding(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    return SentenceEmbedding().eval()


def _task() -> Any:
    from gate.tasks.torch_source import TorchSourceTask

    return TorchSourceTask(
        "sentence-embedding", __name__,
        {"cosine_mean": "higher", "cosine_p5": "higher", "nn10_overlap": "higher"},
        item_statistics={"cosine_mean": ("cosine", "mean"), "cosine_p5": ("cosine", "p5"),
                         "nn10_overlap": ("overlap", "mean")},
        axes=("batch", "sequence"), source_formats=("transformers",),
    )


#: The registered task (:mod:`gate.tasks`).
TASK = _task()
