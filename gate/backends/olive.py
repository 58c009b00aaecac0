"""Microsoft Olive backend: an Olive workflow generated from the target's recipe.

The candidate is built by Olive (``olive.workflows.run``) from the baseline ONNX; the gate
then measures Olive's output with its own harness like any candidate. Olive's own footprint
(passes, their resolved settings, durations) is kept beside the candidate as
``olive-footprint.json`` and summarised in ``artifact.json`` details; it is never used for the
verdict.

Recipe -> Olive passes (Olive 0.13 pass names, https://microsoft.github.io/Olive/):

* ``preprocess: true`` (default): ``OnnxQuantizationPreprocess`` first (ORT's
  ``quant_pre_process``; symbolic shape inference is skipped because it fails on
  dynamo-exported graphs, as in :mod:`gate.backends.onnxruntime`);
* ``quantization: dynamic``: ``OnnxDynamicQuantization`` (INT8 weights, activations quantized
  at run time) with ``per_channel``, ``reduce_range``, ``weight_type``;
* ``quantization: blockwise_rtn``: ``OnnxBlockWiseRtnQuantization`` (INT4 round-to-nearest of
  MatMul weights in blocks of ``block_size``, ORT's ``MatMulNBits``).

The output is ONNX, so measurement opens it with ONNX Runtime's session logic
(:meth:`gate.backends.onnxruntime.OnnxRuntimeBackend.open`). Olive runs offline on local ONNX
models; ``CI=true`` is set before it is imported, since offline it otherwise waits ~10 s at
exit retrying telemetry.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from gate.backends.base import Artifact, BuildContext, Session
from gate.backends.onnxruntime import BACKEND as ORT
from gate.backends.onnxruntime import check_onnx_file
from gate.config.schema import Strict
from gate.errors import BackendError, ConfigError

PASS_TYPES = {"dynamic": "OnnxDynamicQuantization", "blockwise_rtn": "OnnxBlockWiseRtnQuantization"}
PRECISION = {"dynamic": "int8", "blockwise_rtn": "int4"}


class OliveRecipe(Strict):
    """Olive workflow settings (see the module docstring for the passes they select).

    ``per_channel``, ``reduce_range`` and ``weight_type`` apply to ``dynamic``;
    ``block_size`` and ``is_symmetric`` to ``blockwise_rtn`` (Olive's defaults: 128, true).
    """

    quantization: Literal["dynamic", "blockwise_rtn"] = "dynamic"
    preprocess: bool = True
    per_channel: bool = False
    reduce_range: bool = False
    weight_type: Literal["QInt8", "QUInt8"] = "QInt8"
    block_size: int = Field(default=128, ge=16, le=4096)
    is_symmetric: bool = True


def workflow_config(recipe: OliveRecipe, model_path: Path, work: Path) -> dict[str, Any]:
    """The Olive run config (a dict for ``olive.workflows.run``) for ``recipe``.

    ``model_path`` is the baseline ONNX; Olive's cache and output go under ``work``. Pure: no
    Olive import, so tests can check it cheaply.
    """
    passes: dict[str, dict[str, Any]] = {}
    if recipe.preprocess:
        passes["preprocess"] = {"type": "OnnxQuantizationPreprocess", "skip_symbolic_shape": True}
    if recipe.quantization == "dynamic":
        passes["quantize"] = {"type": PASS_TYPES["dynamic"], "per_channel": recipe.per_channel,
                              "reduce_range": recipe.reduce_range, "weight_type": recipe.weight_type}
    else:
        passes["quantize"] = {"type": PASS_TYPES["blockwise_rtn"], "block_size": recipe.block_size,
                              "is_symmetric": recipe.is_symmetric}
    return {
        "input_model": {"type": "ONNXModel", "model_path": str(model_path)},
        "systems": {"local": {"type": "LocalSystem", "accelerators": [
            {"device": "cpu", "execution_providers": ["CPUExecutionProvider"]}]}},
        "passes": passes,
        "host": "local",
        "target": "local",
        "log_severity_level": 3,
        "evaluate_input_model": False,
        "cache_dir": str(work / "cache"),
        "output_dir": str(work / "output"),
    }


def _footprint_summary(footprint: dict[str, Any]) -> list[dict[str, Any]]:
    """Each pass Olive ran: its name, resolved settings and duration in seconds."""
    out = []
    for node in footprint.values():
        if not node.get("from_pass"):
            continue
        start, end = node.get("start_time") or 0.0, node.get("end_time") or 0.0
        out.append({"pass": node["from_pass"], "config": node.get("pass_run_config") or {},
                    "duration_s": round(end - start, 3) if end and start else None})
    return out


class OliveBackend:
    """The ``olive`` backend (see the module docstring)."""

    name = "olive"
    #: Tasks it builds candidates for, and baselines for (checked when a manifest loads).
    candidate_tasks = frozenset({"sentence-embedding", "image-classification"})
    #: Python distributions whose versions are DVC params of its stages (a bump reruns them).
    distributions = ("olive-ai", "onnxruntime", "onnx", "torch", "transformers")
    baseline_tasks = frozenset({"sentence-embedding", "image-classification"})
    recipe_model = OliveRecipe

    def versions(self) -> dict[str, str]:
        from importlib.metadata import version

        # olive's own import takes seconds; its version comes from the package metadata
        return {"olive-ai": version("olive-ai"), **ORT.versions()}

    def make_baseline(self, source: Path, ctx: BuildContext, out: Path) -> Artifact:
        """Olive starts from an ONNX baseline: the ONNX Runtime backend builds it."""
        return ORT.make_baseline(source, ctx, out)

    def optimize(self, baseline: Path, recipe: Strict, ctx: BuildContext, out: Path) -> Artifact:
        """Run the Olive workflow of ``recipe`` (an :class:`OliveRecipe`) on the baseline ONNX.

        Raises:
            ConfigError: the recipe is not an :class:`OliveRecipe`.
            BackendError: the baseline is not ONNX, or Olive produced no ONNX model.
        """
        if not isinstance(recipe, OliveRecipe):
            raise ConfigError(f"olive needs an OliveRecipe, got {type(recipe).__name__}")
        base = Artifact.read(baseline)
        if base.format != "onnx":
            raise BackendError(f"olive optimizes ONNX baselines; this baseline is {base.format}")
        os.environ.setdefault("CI", "true")
        from importlib.metadata import version

        from olive.workflows import run as olive_run  # olive ships no types

        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="olive-") as tmp:
            work = Path(tmp)
            config = workflow_config(recipe, baseline / base.entry, work)
            olive_run(copy.deepcopy(config), tempdir=str(work))  # Olive rewrites the dict it gets
            produced = work / "output" / "model.onnx"
            if not produced.is_file():
                raise BackendError(f"Olive produced no model.onnx (output folder: "
                                   f"{sorted(p.name for p in (work / 'output').glob('*'))})")
            sidecars = check_onnx_file(produced)
            for rel in ["model.onnx", *sidecars]:
                shutil.copy2(produced.parent / rel, out / rel)
            footprint_file = work / "output" / "footprint.json"
            footprint = json.loads(footprint_file.read_text()) if footprint_file.is_file() else {}
        (out / "olive-footprint.json").write_text(json.dumps(footprint, indent=2) + "\n")
        from gate.backends.readback import onnx_quantization, ort_mismatch

        found = onnx_quantization(out / "model.onnx")
        details: dict[str, Any] = {
            "olive_passes": [p["type"] for p in config["passes"].values()],
            "olive_footprint": _footprint_summary(footprint), "olive": version("olive-ai"),
            **recipe.model_dump(mode="json"), "effective_quantization": found}
        if recipe.quantization == "dynamic":  # blockwise RTN packs int4 into MatMulNBits: not read here
            requested = {"per_channel": recipe.per_channel, "weight_type": recipe.weight_type.lower()}
            mismatch = ort_mismatch(requested, found)
            if mismatch:
                details["quantization_mismatch"] = mismatch
        return Artifact.describe(
            out, fmt="onnx", backend=self.name, precision=PRECISION[recipe.quantization], entry="model.onnx",
            extra_files=sidecars, details=details,
        )

    def open(self, artifact: Path, threads: int) -> Session:
        """Olive's outputs here are ONNX: opened exactly as ONNX Runtime candidates are."""
        return ORT.open(artifact, threads)


BACKEND = OliveBackend()

__all__ = ["BACKEND", "OliveBackend", "OliveRecipe", "workflow_config"]
