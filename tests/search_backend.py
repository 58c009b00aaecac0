"""A cheap candidate backend for the search tests: the baseline ONNX, run in ONNX Runtime, with
Gaussian noise of a recipe-given scale added to its outputs.

Registered through the real registry (``EDGE_GATE_BACKENDS=searchfake=search_backend:BACKEND``
with this folder on PYTHONPATH), so the DVC stages and the measurement workers load it like any
plugin. ``noise: 0`` is the baseline's own outputs (fidelity exactly 1); a large ``noise``
scrambles a classifier's top-1 class. ``variant`` only tells otherwise equal candidates apart.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field

from gate.backends.base import Artifact
from gate.backends.onnxruntime import BACKEND as ORT
from gate.config.schema import Strict


class NoiseRecipe(Strict):
    noise: float = Field(default=0.0, ge=0)
    variant: int = 0


class _Noisy:
    def __init__(self, session: Any, noise: float) -> None:
        import numpy as np

        self._session, self._noise, self._rng = session, noise, np.random.default_rng(0)

    def run(self, feeds: Mapping[str, Any]) -> Any:
        out = self._session.run(feeds)
        return out + self._rng.normal(0.0, self._noise, out.shape).astype(out.dtype) if self._noise else out


class SearchFakeBackend:
    name = "searchfake"
    recipe_model = NoiseRecipe
    candidate_tasks = frozenset({"image-classification", "sentence-embedding"})

    def versions(self) -> dict[str, str]:
        return ORT.versions()

    def make_baseline(self, source: Path, ctx: Any, out: Path) -> Artifact:
        raise NotImplementedError

    def optimize(self, baseline: Path, recipe: Strict, ctx: Any, out: Path) -> Artifact:
        if not isinstance(recipe, NoiseRecipe):
            raise TypeError("not a NoiseRecipe")
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy(baseline / Artifact.read(baseline).entry, out / "model.onnx")
        return Artifact.describe(out, fmt="onnx", backend=self.name, precision="fp32", entry="model.onnx",
                                 details=recipe.model_dump())

    def open(self, artifact: Path, threads: int) -> Any:
        return _Noisy(ORT.open(artifact, threads), float(Artifact.read(artifact).details["noise"]))


BACKEND = SearchFakeBackend()
