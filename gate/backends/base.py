"""What a backend is: the protocol every backend implements, and the artifact it produces.

An artifact is a folder holding the model files and ``artifact.json`` (:class:`Artifact`, a
typed document of :mod:`gate.documents`, re-exported here).
A backend converts a source into a baseline artifact, optimizes a baseline into a candidate
artifact following a recipe, and opens an artifact for inference inside a measurement worker.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel

from gate.config.schema import Strict
from gate.documents import ARTIFACT_FILE, Artifact, FileRecord, write_json_atomic

__all__ = ["ARTIFACT_FILE", "Artifact", "Backend", "BuildContext", "FileRecord", "Session",
           "write_json_atomic"]


class Session(Protocol):
    """An artifact opened for inference. ``run`` takes named int64/float32 arrays.

    A session may also offer ``bind(feeds) -> Callable[[], object]``: the feeds bound to the
    runtime once (ONNX Runtime IOBinding, an OpenVINO infer request's tensors) and a call
    that runs the model on them and nothing else. The measurement worker times that call
    when it exists, else ``run`` (:func:`gate.measure.worker.timed_call`); outputs for
    fidelity always come from ``run`` on the same session.
    """

    def run(self, feeds: Mapping[str, np.ndarray]) -> np.ndarray:
        """Run once and return the first output (e.g. embeddings of shape [batch, dim])."""
        ...


@runtime_checkable
class Backend(Protocol):
    """A way to build and run artifacts: onnxruntime, openvino, olive, llamacpp, mlx."""

    name: str
    recipe_model: type[Strict]
    #: Capabilities as data, checked by ``load_manifest`` (exit 2 at the manifest's line) so a
    #: manifest a backend cannot serve never reaches a stage: the tasks it builds candidates
    #: for, and the tasks it builds a baseline for (empty: it never builds one). A plugin
    #: without these attributes is not checked (:func:`capabilities`).
    candidate_tasks: frozenset[str]
    baseline_tasks: frozenset[str]
    #: The Python distributions (PyPI names) it builds and runs with. Their installed versions
    #: are DVC params of its stages (:func:`gate.backends.runtime_versions`), so upgrading a
    #: runtime reruns what it built and measured. Optional for plugins.
    distributions: tuple[str, ...]

    def versions(self) -> dict[str, str]:
        """Versions of the frameworks this backend uses (without importing heavy ones twice)."""
        ...

    def make_baseline(self, source: Path, ctx: BuildContext, out: Path) -> Artifact:
        """Convert the manifest's source into the fp32 baseline artifact in ``out``."""
        ...

    def optimize(self, baseline: Path, recipe: Strict, ctx: BuildContext, out: Path) -> Artifact:
        """Build the candidate artifact in ``out`` from the baseline folder, per ``recipe``."""
        ...

    def open(self, artifact: Path, threads: int) -> Session:
        """Load an artifact for inference with a fixed thread count (in a worker process)."""
        ...


class BuildContext(BaseModel):
    """What a backend may need besides the artifact: the task, input shape, and data."""

    model_config = {"arbitrary_types_allowed": True}

    task: str
    input: dict[str, Any]  # InputSpec as a dict: sizes (int) and ``dynamic_axes`` (list of names)
    opset: int = 18
    allow_pickle: bool = False
    calibration_inputs: Path | None = None
    primary_metric: str | None = None  # the manifest's eval.primary (accuracy-aware recipes)
