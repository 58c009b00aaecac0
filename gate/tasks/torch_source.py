"""Tasks whose source is a torch module (a transformers checkpoint or a state_dict) and whose
artifacts take named tensors: the shared part of sentence embedding and image classification.

A :class:`TorchSourceTask` binds the functions of one task module (``read_items``,
``build_inputs``, ``latency_feeds``, ``eval_feeds``, ``item_scores``, ``score``,
``torch_module``, optional ``item_labels`` and ``predictions``) to the
:class:`~gate.tasks.protocol.Task` protocol, and checks the converted baseline against the
source framework (:meth:`TorchSourceTask.check_conversion`).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gate.tasks.protocol import Direction, InputContext, InputsFrom, TaskBase

#: Eval items used to compare the converted baseline with the source framework.
CONVERSION_CHECK_ITEMS = 32


class TorchSourceTask(TaskBase):
    """A task implemented by the functions of the module ``module`` (see the module docstring)."""

    inputs_from: InputsFrom = "source"

    def __init__(self, name: str, module: str, metrics: Mapping[str, Direction], *,
                 item_statistics: Mapping[str, tuple[str, str]], axes: tuple[str, ...],
                 source_formats: tuple[str, ...]) -> None:
        self.name = name
        self.module = module
        self.metrics = dict(metrics)
        self.item_statistics = dict(item_statistics)
        self.axes = axes
        self.source_formats = source_formats
        self.settings_section = None
        #: the module's label of an item line (for the degenerate-label check), if it has labels
        self.item_labels = getattr(self._mod(), "item_labels", None)

    def _mod(self) -> Any:
        # the task object is built at the end of its own module, so this is a dictionary lookup
        return importlib.import_module(self.module)

    def read_items(self, path: Path) -> list[str] | None:
        items: list[str] = self._mod().read_items(path)
        return items

    def build_inputs(self, ctx: InputContext) -> dict[str, np.ndarray]:
        arrays: dict[str, np.ndarray] = self._mod().build_inputs(
            ctx.source, list(ctx.items or []), ctx.input["batch_size"], ctx.input["sequence_length"])
        return arrays

    def latency_feeds(self, inputs: Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]:
        feeds: Mapping[str, np.ndarray] = self._mod().latency_feeds(inputs)
        return feeds

    def eval_feeds(self, inputs: Mapping[str, np.ndarray]) -> Sequence[Mapping[str, np.ndarray]]:
        feeds: Sequence[Mapping[str, np.ndarray]] = self._mod().eval_feeds(inputs)
        return feeds

    def item_scores(self, reference: np.ndarray, outputs: np.ndarray,
                    inputs: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        items: dict[str, np.ndarray] = self._mod().item_scores(reference, outputs, inputs=inputs)
        return items

    def score(self, reference: np.ndarray, outputs: np.ndarray,
              inputs: Mapping[str, np.ndarray] | None = None) -> dict[str, float]:
        metrics: dict[str, float] = self._mod().score(reference, outputs, inputs=inputs)
        return metrics

    def predictions(self, outputs: np.ndarray, inputs: Mapping[str, np.ndarray] | None = None) -> np.ndarray | None:
        fn = getattr(self._mod(), "predictions", None)
        return None if fn is None else np.asarray(fn(outputs))

    def check_conversion(self, ctx: InputContext) -> dict[str, Any]:
        """Compare the baseline artifact with the source framework (the module's torch module).

        On the first :data:`CONVERSION_CHECK_ITEMS` eval items: per-item cosine of the outputs
        (``items``, ``cosine_mean``, ``cosine_min``, ``max_abs_diff``). Then the dynamic-axes
        sweep (:func:`gate.tasks.sweep.sweep_baseline`, records under ``shape_sweep``), which
        also keeps the swept feeds and the source's outputs in the baseline folder for every
        candidate.

        Raises:
            BackendError: the baseline fails, or disagrees with the source, at a swept size.
        """
        import torch

        from gate.tasks.sweep import sweep_baseline, sweep_points

        if ctx.baseline is None or ctx.inputs is None:
            raise ValueError("check_conversion needs the built baseline and inputs")
        mod = self._mod()
        module = mod.torch_module(ctx.source, allow_pickle=ctx.allow_pickle)
        session = ctx.open(ctx.baseline)

        def source(feeds: Mapping[str, Any]) -> Any:
            with torch.no_grad():
                return module(**{k: torch.from_numpy(v) for k, v in feeds.items()}).numpy()

        with np.load(ctx.inputs) as data:
            feeds = list(mod.eval_feeds(data)[:CONVERSION_CHECK_ITEMS])
            latency = {k: np.asarray(v) for k, v in mod.latency_feeds(data).items()}
        a = np.stack([source(f)[0] for f in feeds])
        b = np.stack([np.asarray(session.run(f))[0] for f in feeds])
        cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        points = sweep_points(getattr(mod, "AXES", {}), list(ctx.input.get("dynamic_axes", [])), latency)
        return {"items": len(feeds), "cosine_mean": float(cos.mean()), "cosine_min": float(cos.min()),
                "max_abs_diff": float(np.abs(a - b).max()),
                "shape_sweep": sweep_baseline(source, session.run, points, ctx.baseline)}
