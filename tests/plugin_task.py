"""A third-party task as a plugin would ship it: one object on the Task protocol, registered
through ``EDGE_GATE_TASKS=row-sum=plugin_task:TASK`` (this folder on PYTHONPATH), the same
path as the built-in tasks. Its "model" sums each input row; it is scored by absolute error."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gate.tasks.protocol import Direction, InputContext, TaskBase


class RowSumTask(TaskBase):
    name = "row-sum"
    module = __name__
    metrics: Mapping[str, Direction] = {"abs_error_mean": "lower"}
    item_statistics: Mapping[str, tuple[str, str]] = {"abs_error_mean": ("abs_error", "mean")}
    source_formats = ("onnx",)

    def read_items(self, path: Path) -> list[str] | None:
        return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def build_inputs(self, ctx: InputContext) -> dict[str, np.ndarray]:
        rows = np.array([[float(len(w)) for w in item.split()[:4]] for item in ctx.items or []])
        return {"eval.x": rows, "latency.x": rows[:1]}

    def check_conversion(self, ctx: InputContext) -> dict[str, Any]:
        return {}

    def latency_feeds(self, inputs: Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]:
        return {"x": inputs["latency.x"]}

    def eval_feeds(self, inputs: Mapping[str, np.ndarray]) -> Sequence[Mapping[str, np.ndarray]]:
        return [{"x": row[None]} for row in inputs["eval.x"]]

    def item_scores(self, reference: np.ndarray, outputs: np.ndarray,
                    inputs: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        return {"abs_error": np.abs(reference - outputs).reshape(len(reference), -1).mean(axis=1)}

    def score(self, reference: np.ndarray, outputs: np.ndarray,
              inputs: Mapping[str, np.ndarray] | None = None) -> dict[str, float]:
        return {"abs_error_mean": float(self.item_scores(reference, outputs)["abs_error"].mean())}


TASK = RowSumTask()
