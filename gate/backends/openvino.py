"""OpenVINO backend (with NNCF): fp32 IR conversion, INT8 / weight-compressed candidates, CPU runs.

Conversion (``ov.convert_model``) takes an ONNX file (the manifest's source, or the baseline
artifact another backend built) or the task's PyTorch module. The fp32 IR is saved with
``compress_to_fp16=False`` (``ov.save_model`` halves weights to FP16 by default) and every
artifact is compiled with ``INFERENCE_PRECISION_HINT`` set explicitly: on CPUs with
avx512_bf16 (these machines) the CPU plugin's default is bf16, so an fp32 "baseline" would
silently run in bf16. The precision, streams and threads the compiled model
reports back are recorded with every measurement, and an fp32 artifact that compiles to
anything but f32 is an error.

Latency is measured as OpenVINO's latency mode documents it: ``PERFORMANCE_HINT=LATENCY``,
one stream, ``INFERENCE_NUM_THREADS`` = the manifest's thread count, CPU pinning off (see
:func:`compile_model`)
(https://docs.openvino.ai/2026/openvino-workflow/running-inference/optimize-inference/high-level-performance-hints.html).

Recipes (``method``, see :class:`OvRecipe` and :mod:`gate.backends.ov_nncf`):

* ``int8``: post-training quantization, ``nncf.quantize`` with ``calibration_size`` eval items;
* ``int8-accuracy-aware``: ``nncf.quantize_with_accuracy_control``, keeping layers in fp32
  until the validation metric drops by at most ``max_drop`` (``drop_type`` absolute/relative);
* ``weights-int8`` / ``weights-int4``: weight-only compression, ``nncf.compress_weights``
  (``sym``, ``group_size`` and ``ratio`` for INT4).

Every conversion runs the shape sweep of :mod:`gate.backends.ov_checks` over the manifest's
``input.dynamic_axes``, and every candidate records where accuracy went (source -> baseline ->
fp32 IR -> candidate) in ``artifact.json`` ``details["accuracy_trail"]``.
"""

from __future__ import annotations

import importlib
from importlib.metadata import version
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from gate.backends.base import Artifact, BuildContext, Session
from gate.backends.ov_runtime import IR_ENTRY, OvSession, compile_model, save_ir
from gate.config.schema import Strict
from gate.errors import BackendError

IR_WEIGHTS = "model.bin"
#: Map of the recipe's ``inference_precision`` to the CPU plugin's hint ("default": no hint).
PRECISIONS = ("f32", "bf16", "default")


class OvIgnoredScope(Strict):
    """Nodes NNCF leaves in floating point (``nncf.IgnoredScope``): exact node names, regular
    expressions over names, and op types (e.g. ``Softmax``). Names that match nothing fail."""

    names: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)
    types: list[str] = Field(default_factory=list)


class OvRecipe(Strict):
    """OpenVINO + NNCF settings (defaults are NNCF's own, https://docs.openvino.ai/nncf).

    ``calibration_size``: eval items NNCF calibrates on (NNCF default subset 300).
    ``model_type: transformer`` selects NNCF's transformer scheme (keeps e.g. softmax inputs
    unquantized). ``validation_size``: eval items the accuracy-aware loop validates on.
    ``inference_precision``: the CPU plugin hint for the float ops left in the candidate
    (``f32`` default, so a speed-up comes from the recipe, not from bf16).
    """

    method: Literal["int8", "int8-accuracy-aware", "weights-int8", "weights-int4"] = "int8"
    calibration_size: int = Field(default=300, ge=1, le=10_000)
    preset: Literal["performance", "mixed"] = "performance"
    model_type: Literal["transformer"] | None = None
    fast_bias_correction: bool = True
    max_drop: float = Field(default=0.01, gt=0, lt=1)
    drop_type: Literal["absolute", "relative"] = "absolute"
    validation_size: int = Field(default=100, ge=11, le=10_000)
    sym: bool = False
    group_size: int | None = Field(default=None, ge=-1)
    ratio: float | None = Field(default=None, gt=0, le=1)
    ignored_scope: OvIgnoredScope | None = None
    inference_precision: Literal["f32", "bf16", "default"] = "f32"

    @model_validator(mode="after")
    def _fits_method(self) -> OvRecipe:
        if self.method != "weights-int4" and (self.group_size is not None or self.ratio is not None):
            raise ValueError("group_size and ratio apply to method weights-int4 only")
        return self


class OpenVinoBackend:
    """The ``openvino`` backend (see the module docstring)."""

    name = "openvino"
    #: Tasks it builds candidates for, and baselines for (checked when a manifest loads).
    candidate_tasks = frozenset({"sentence-embedding", "image-classification", "tensor"})
    #: Python distributions whose versions are DVC params of its stages (a bump reruns them).
    distributions = ("openvino", "nncf", "onnx")
    baseline_tasks = frozenset({"sentence-embedding", "image-classification", "tensor"})
    recipe_model = OvRecipe

    def versions(self) -> dict[str, str]:
        import openvino as ov

        return {"openvino": ov.get_version(), "nncf": version("nncf")}

    def make_baseline(self, source: Path, ctx: BuildContext, out: Path) -> Artifact:
        """Convert an ONNX file or the task's torch module to an fp32 IR, shape-checked.

        Raises:
            BackendError: conversion failed, or a declared dynamic axis is static.
        """
        from gate.backends import ov_checks

        if source.suffix == ".onnx":
            model, reference, how = ov_checks.convert_onnx(source)
        else:
            model, reference, how = ov_checks.convert_torch(source, ctx)
        sweep = ov_checks.shape_sweep(model, reference, ctx)
        save_ir(model, out)
        return Artifact.describe(
            out, fmt="openvino-ir", backend=self.name, precision="fp32", entry=IR_ENTRY,
            extra_files=[IR_WEIGHTS],
            details={"converted_from": how, "compress_to_fp16": False, "shape_sweep": sweep,
                     "inference_precision": "f32"},
        )

    def optimize(self, baseline: Path, recipe: Strict, ctx: BuildContext, out: Path) -> Artifact:
        """Build an NNCF candidate from the baseline folder (fp32 IR or fp32 ONNX).

        Raises:
            BackendError: conversion, shape sweep or NNCF failed.
        """
        import openvino as ov

        from gate.backends import ov_checks, ov_nncf

        if not isinstance(recipe, OvRecipe):
            raise BackendError(f"openvino got a {type(recipe).__name__} recipe")
        if ctx.calibration_inputs is None:
            raise BackendError("openvino needs the baseline stage's inputs.npz")
        base = Artifact.read(baseline)
        details: dict[str, Any] = {"method": recipe.method, "baseline_format": base.format}
        if base.format == "onnx":
            fp32_ir, reference, how = ov_checks.convert_onnx(baseline / base.entry)
            details["converted_from"] = how
            details["shape_sweep"] = ov_checks.shape_sweep(fp32_ir, reference, ctx)
        elif base.format == "openvino-ir":
            fp32_ir = ov.Core().read_model(str(baseline / base.entry))
        else:
            raise BackendError(f"openvino cannot optimize a {base.format} baseline")
        task = importlib.import_module(_task_module(ctx.task))
        candidate, precision, nncf_details = ov_nncf.apply(fp32_ir.clone(), recipe, ctx, task)
        details.update(nncf_details)
        details["inference_precision"] = recipe.inference_precision
        save_ir(candidate, out)
        from gate.backends.readback import openvino_mismatch, openvino_quantization

        details["effective_quantization"] = openvino_quantization(out / IR_ENTRY)
        mismatch = openvino_mismatch(recipe.method, details["effective_quantization"])
        if mismatch:
            details["quantization_mismatch"] = mismatch
        details["accuracy_trail"] = ov_checks.accuracy_trail(
            baseline, base, fp32_ir, out / IR_ENTRY, recipe.inference_precision, ctx, task,
        )
        return Artifact.describe(
            out, fmt="openvino-ir", backend=self.name, precision=precision, entry=IR_ENTRY,
            extra_files=[IR_WEIGHTS], details=details,
        )

    def open(self, artifact: Path, threads: int) -> Session:
        """Compile an artifact (IR or ONNX) for latency; fp32 artifacts run in f32.

        Raises:
            BackendError: the model cannot be compiled, or an fp32 artifact would run in a
                lower precision (e.g. the CPU plugin's bf16 default).
        """
        import openvino as ov

        desc = Artifact.read(artifact)
        precision = "f32" if desc.precision == "fp32" else desc.details.get("inference_precision", "f32")
        try:
            compiled = compile_model(ov.Core().read_model(str(artifact / desc.entry)), threads, precision)
        except RuntimeError as exc:  # OpenVINO raises RuntimeError subclasses
            raise BackendError(f"openvino could not compile {artifact / desc.entry}: {exc}") from exc
        session = OvSession(compiled)
        got = session.properties()["inference_precision"]
        if desc.precision == "fp32" and got != "f32":
            raise BackendError(f"fp32 artifact {artifact} compiled to run in {got}, not f32")
        return session


def _task_module(task: str) -> str:
    from gate.tasks import get_task

    return get_task(task).module


BACKEND = OpenVinoBackend()

__all__ = ["BACKEND", "OpenVinoBackend", "OvIgnoredScope", "OvRecipe", "OvSession", "compile_model"]
