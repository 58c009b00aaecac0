"""What a backend is: the protocol every backend implements, and the artifact it produces.

An artifact is a folder holding the model files and ``artifact.json`` (:class:`Artifact`).
A backend converts a source into a baseline artifact, optimizes a baseline into a candidate
artifact following a recipe, and opens an artifact for inference inside a measurement worker.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, Field

from gate.config.schema import Strict, sha256_file
from gate.errors import ConfigError

ARTIFACT_FILE = "artifact.json"


class FileRecord(BaseModel):
    """One file of an artifact: path relative to the artifact folder, size, sha256."""

    path: str
    size_bytes: int
    sha256: str


class Artifact(BaseModel):
    """Description of an artifact folder (written as its ``artifact.json``).

    ``files`` lists every file that makes up the model (e.g. an ``.onnx`` and its external
    data), so that size and hashes cover all of them.
    """

    format: str
    backend: str
    precision: str
    entry: str = Field(description="the file a runtime opens, relative to the folder")
    files: list[FileRecord]
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def size_bytes(self) -> int:
        return sum(f.size_bytes for f in self.files)

    @classmethod
    def describe(
        cls, folder: Path, *, fmt: str, backend: str, precision: str, entry: str,
        details: Mapping[str, Any] | None = None, extra_files: list[str] | None = None,
    ) -> Artifact:
        """Hash and size ``entry`` and ``extra_files`` inside ``folder``."""
        names = [entry, *(extra_files or [])]
        files = [
            FileRecord(path=n, size_bytes=(folder / n).stat().st_size, sha256=sha256_file(folder / n))
            for n in names
        ]
        return cls(format=fmt, backend=backend, precision=precision, entry=entry, files=files,
                   details=dict(details or {}))

    def write(self, folder: Path) -> None:
        """Write ``artifact.json`` atomically (a crash never leaves half a file)."""
        write_json_atomic(folder / ARTIFACT_FILE, self.model_dump(mode="json"))

    @classmethod
    def read(cls, folder: Path) -> Artifact:
        """Read ``folder/artifact.json``.

        Raises:
            ConfigError: the folder holds no artifact description, or it is malformed.
        """
        path = folder / ARTIFACT_FILE
        if not path.is_file():
            raise ConfigError(f"no {ARTIFACT_FILE} in {folder}: the stage that builds it has not run")
        try:
            return cls.model_validate_json(path.read_text())
        except ValueError as exc:
            raise ConfigError(f"malformed artifact description: {exc}", location=str(path)) from None


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to ``path`` through a temporary file and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


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
