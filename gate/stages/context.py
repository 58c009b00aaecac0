"""What every build stage hands its backend: the manifest's task, input and data as a BuildContext."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gate.backends.base import BuildContext


def build_context(loaded: Any, inputs: Path | None) -> BuildContext:
    """The :class:`~gate.backends.base.BuildContext` of a loaded manifest, calibrating on ``inputs``."""
    m = loaded.manifest
    return BuildContext(task=m.task, input=m.input.model_dump(), opset=m.baseline.opset,
                        calibration_inputs=inputs, primary_metric=m.eval.primary,
                        allow_pickle=m.source.allow_pickle)

