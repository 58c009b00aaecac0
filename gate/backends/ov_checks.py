"""Checks around OpenVINO conversion: the dynamic-shape sweep and the accuracy trail.

* :func:`shape_sweep` (shared case C06): a model exported with a fixed sequence length
  converts without complaint and then fails, or silently truncates, at any other length. Every
  axis the manifest declares in ``input.dynamic_axes`` must be dynamic in the converted model,
  and the model is run at two or more sizes of it and compared with the source it came from.
* :func:`accuracy_trail` (shared case C07): when a candidate loses accuracy, the user must
  see whether conversion or quantization lost it, so the source framework, the fp32 baseline,
  the fp32 IR and the candidate are scored on the same eval items against the baseline.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gate.backends.base import Artifact, BuildContext
from gate.errors import BackendError
from gate.tasks.sweep import resize, row_cosine

#: Eval items the accuracy trail scores (first items of the eval set).
TRAIL_ITEMS = 64
#: Threads for conversion-time checks (not a measurement: latency is measured elsewhere).
CHECK_THREADS = 2
#: Per-item cosine an fp32 conversion must keep at every swept size (fp32 vs fp32 here differs
#: by ~1e-6 relative; a baked shape or a wrong slice gives far less).
SWEEP_MIN_COSINE = 0.9999

Reference = Callable[[dict[str, np.ndarray]], np.ndarray]


def _task(ctx: BuildContext) -> Any:
    from gate.tasks import get_task

    return importlib.import_module(get_task(ctx.task).module)


def convert_onnx(path: Path) -> tuple[Any, Reference, str]:
    """``ov.convert_model`` on an ONNX file; the reference runs the same file in ONNX Runtime.

    Raises:
        ConfigError: the file is not an ONNX model (see ``check_onnx_file``).
        BackendError: OpenVINO cannot convert it.
    """
    import onnxruntime as ort
    import openvino as ov
    from openvino.frontend import GeneralFailure, OpConversionFailure

    from gate.backends.onnxruntime import check_onnx_file

    check_onnx_file(path)
    try:
        model = ov.convert_model(str(path))
    except (RuntimeError, OpConversionFailure, GeneralFailure) as exc:
        raise BackendError(f"openvino could not convert {path}: {exc}") from exc
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def reference(feeds: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(session.run(None, {n: feeds[n] for n in names})[0])

    return model, reference, f"onnx ({path.name}) via ov.convert_model"


def convert_torch(source: Path, ctx: BuildContext) -> tuple[Any, Reference, str]:
    """``ov.convert_model`` on the task's torch module; the reference runs the module itself.

    Raises:
        BackendError: OpenVINO cannot convert the module.
    """
    import warnings

    import openvino as ov
    import torch
    from openvino.frontend import GeneralFailure, OpConversionFailure

    task = _task(ctx)
    module = task.torch_module(source, allow_pickle=ctx.allow_pickle)
    dummy, input_names, _, _ = task.export_spec(ctx.input)
    example = dict(zip(input_names, dummy, strict=True))
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # OpenVINO's PyTorch frontend traces with torch.jit.trace, which torch 2.13 deprecates
            warnings.filterwarnings("ignore", message=".*torch.jit.trace.* is deprecated", category=DeprecationWarning)
            model = ov.convert_model(module, example_input=example)
    except (RuntimeError, OpConversionFailure, GeneralFailure) as exc:
        raise BackendError(f"openvino could not convert the torch module: {exc}") from exc
    for port, name in zip(model.inputs, input_names, strict=True):
        port.get_tensor().set_names({name})

    def reference(feeds: dict[str, np.ndarray]) -> np.ndarray:
        with torch.no_grad():
            return np.asarray(module(**{n: torch.from_numpy(feeds[n]) for n in input_names}).numpy())

    return model, reference, f"torch module ({type(module).__name__}) via ov.convert_model"


def shape_sweep(model: Any, reference: Reference, ctx: BuildContext) -> list[dict[str, Any]]:
    """Check every declared dynamic axis of a converted ``ov.Model``.

    Each axis must be dynamic in the model's inputs, then the model (compiled f32) and the
    ``reference`` run at two sizes of the axis (the latency input's size and half of it; 1 and
    3 for a size-1 axis), built from the latency input cut or repeated along that axis; outputs
    must have the same shape and a per-row cosine >= :data:`SWEEP_MIN_COSINE`.

    Returns one record per (axis, size): ``axis``, ``size``, ``output_shape``, ``cosine_min``.

    Raises:
        BackendError: naming the axis, when it is static, or the model fails or disagrees with
            the reference at some size of it.
    """
    from gate.backends.ov_runtime import OvSession, compile_model

    task = _task(ctx)
    axes = list(ctx.input.get("dynamic_axes", []))
    if not axes:
        return []
    ports = {p.get_any_name(): p for p in model.inputs}
    for axis in axes:
        for feed, dim in task.AXES[axis].items():
            if feed not in ports:
                continue
            shape = ports[feed].get_partial_shape()
            if shape.rank.is_static and shape[dim].is_static:
                raise BackendError(
                    f"dynamic axis {axis!r} is static in the converted model: input {feed!r} "
                    f"dimension {dim} is fixed at {shape[dim].get_length()} (shape {shape}). The "
                    f"export baked a static shape; re-export with {axis!r} dynamic, or remove it "
                    "from the manifest's input.dynamic_axes"
                )
    if ctx.calibration_inputs is None:
        raise BackendError("the shape sweep needs the baseline stage's inputs.npz")
    with np.load(ctx.calibration_inputs) as data:
        base_feeds = {k: np.asarray(v) for k, v in task.latency_feeds(data).items()}
    session = OvSession(compile_model(model, CHECK_THREADS, "f32"))
    records = []
    for axis in axes:
        dims = {f: d for f, d in task.AXES[axis].items() if f in base_feeds}
        first = next(iter(dims))
        n = base_feeds[first].shape[dims[first]]
        sizes = (1, 3) if n == 1 else (n, max(1, n // 2))
        for size in sizes:
            feeds = dict(base_feeds)
            for feed, dim in dims.items():
                feeds[feed] = np.ascontiguousarray(resize(base_feeds[feed], dim, size))
            try:
                got = np.asarray(session.run(feeds))
            except RuntimeError as exc:
                raise BackendError(
                    f"converted model fails at {axis}={size} (dynamic axis {axis!r}): {exc}"
                ) from exc
            want = reference(feeds)
            if got.shape != want.shape:
                raise BackendError(
                    f"converted model gives output shape {got.shape} at {axis}={size}, the source "
                    f"{want.shape} (dynamic axis {axis!r})"
                )
            cos = row_cosine(want, got)
            if not cos >= SWEEP_MIN_COSINE:
                raise BackendError(
                    f"converted model disagrees with the source at {axis}={size} (dynamic axis "
                    f"{axis!r}): per-row cosine {cos:.6f} < {SWEEP_MIN_COSINE}"
                )
            records.append({"axis": axis, "size": size, "output_shape": list(got.shape), "cosine_min": cos})
    return records


def accuracy_trail(
    baseline: Path, base: Artifact, fp32_ir: Any, candidate_xml: Path, precision: str,
    ctx: BuildContext, task: Any,
) -> dict[str, Any]:
    """Score source, baseline, fp32 IR and candidate against the baseline's outputs.

    Uses :data:`TRAIL_ITEMS` eval items spread evenly over the eval set and the task's own
    ``score`` (so the same
    metrics the policy reads, incl. label accuracy where the task has labels). The source row
    needs the source path the baseline stage recorded and a task with ``torch_module``.

    Returns ``{"items": n, "reference": str, "stages": [{"stage": str, "metrics": {...}}]}``.
    """
    import openvino as ov

    from gate.backends import get_backend
    from gate.backends.ov_runtime import OvSession, compile_model

    if ctx.calibration_inputs is None:
        raise BackendError("the accuracy trail needs the baseline stage's inputs.npz")
    with np.load(ctx.calibration_inputs) as data:
        every = task.eval_feeds(data)
        # evenly spaced over the eval set, so every source of items (e.g. every photo) shows
        picks = np.unique(np.linspace(0, len(every) - 1, min(len(every), TRAIL_ITEMS)).astype(int))
        feeds = [every[int(i)] for i in picks]
        labels = {"eval.labels": np.asarray(data["eval.labels"])[picks]} if "eval.labels" in data else None
        runs: dict[str, Any] = {
            f"baseline ({base.backend} {base.precision})": get_backend(base.backend).open(baseline, CHECK_THREADS),
            "fp32 IR (openvino f32)": OvSession(compile_model(fp32_ir, CHECK_THREADS, "f32")),
            f"candidate (openvino, {precision} hint)": OvSession(compile_model(
                ov.Core().read_model(str(candidate_xml)), CHECK_THREADS, precision)),
        }
        outputs = {name: np.stack([np.asarray(s.run(f))[0] for f in feeds]) for name, s in runs.items()}
        source = base.details.get("source", {}).get("resolved")
        if source and hasattr(task, "torch_module"):
            import torch

            allow = bool(base.details.get("source", {}).get("allow_pickle"))
            module = task.torch_module(Path(source), allow_pickle=allow)
            with torch.no_grad():
                src = [module(**{k: torch.from_numpy(v) for k, v in f.items()}).numpy()[0] for f in feeds]
            outputs = {"source (torch)": np.stack(src), **outputs}
        reference = outputs[next(n for n in outputs if n.startswith("baseline"))]
        stages = [{"stage": name, "metrics": task.score(reference, out, inputs=labels)}
                  for name, out in outputs.items()]
    return {"items": len(feeds), "reference": "the baseline's outputs on the same items", "stages": stages}
