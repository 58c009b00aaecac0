"""A tiny attention-like sentence encoder, exported to ONNX, with an inputs.npz in the
embedding task's layout: real frameworks on a model small enough for unit tests."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

VOCAB, DIM, SEQ = 64, 32, 16


def tiny_module() -> object:
    """Embedding + one softmax attention + MLP + mean pooling + L2 norm, seeded weights."""
    import torch

    torch.manual_seed(0)

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = torch.nn.Embedding(VOCAB, DIM)
            self.q = torch.nn.Linear(DIM, DIM)
            self.k = torch.nn.Linear(DIM, DIM)
            self.v = torch.nn.Linear(DIM, DIM)
            self.mlp = torch.nn.Sequential(torch.nn.Linear(DIM, 4 * DIM), torch.nn.ReLU(),
                                           torch.nn.Linear(4 * DIM, DIM))

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            h = self.emb(input_ids + token_type_ids)
            mask = attention_mask.unsqueeze(-1).to(h.dtype)
            att = torch.softmax(self.q(h) @ self.k(h).transpose(1, 2) / DIM**0.5, dim=-1)
            h = h + att @ self.v(h)
            h = h + self.mlp(h)
            pooled = (h * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    return Tiny().eval()


def export(path: Path, *, dynamic: bool) -> Path:
    """Export to ONNX at batch 1 x ``SEQ``; ``dynamic=False`` bakes the sequence length."""
    import torch

    from gate.tasks import embedding

    dummy = tuple(torch.ones((1, SEQ), dtype=torch.int64) for _ in embedding.FEEDS)
    axes = {n: {0: "batch", 1: "sequence"} for n in embedding.FEEDS} if dynamic else None
    path.parent.mkdir(parents=True, exist_ok=True)
    # test-data generation only: the exporter's deprecation and axis-naming warnings are noise
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(tiny_module(), dummy, str(path), input_names=list(embedding.FEEDS),
                          output_names=[embedding.OUTPUT], dynamic_axes=axes, dynamo=True,
                          external_data=False, verbose=False)
    return path


def inputs_npz(path: Path, items: int = 60) -> Path:
    """Random token rows of 4..SEQ tokens (seeded) and a [1, SEQ] latency input."""
    rng = np.random.default_rng(0)
    lengths = rng.integers(4, SEQ + 1, size=items)
    ids = [rng.integers(1, VOCAB // 2, size=n) for n in lengths]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    flat = np.concatenate(ids).astype(np.int64)
    arrays = {
        "eval.offsets": offsets, "eval.input_ids": flat,
        "eval.attention_mask": np.ones_like(flat), "eval.token_type_ids": np.zeros_like(flat),
        "latency.input_ids": flat[None, :SEQ].copy(),
        "latency.attention_mask": np.ones((1, SEQ), dtype=np.int64),
        "latency.token_type_ids": np.zeros((1, SEQ), dtype=np.int64),
    }
    np.savez(path, **arrays)
    return path
