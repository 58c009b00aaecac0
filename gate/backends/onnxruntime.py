"""ONNX Runtime backend: fp32 ONNX baselines, INT8 candidates, CPU inference.

Recipes (``method``):

* ``dynamic``: weights quantized to INT8 ahead of time, activations quantized at run time
  (``onnxruntime.quantization.quantize_dynamic``). No calibration data.
* ``static``: QDQ format with activations calibrated on ``calibration_size`` eval items
  (``quantize_static``, MinMax). Seen here on a transformer: slower than fp32
  and much less faithful with default settings; measure before choosing it.

Sessions are opened with ``session.intra_op.allow_spinning=0`` for baseline and candidate
alike: spinning intra-op threads of one session slow the next one measured in the same job,
and the measurement alternates them.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from gate.backends.base import Artifact, BuildContext, Session
from gate.config.schema import Strict
from gate.errors import BackendError, ConfigError


class OrtRecipe(Strict):
    """ONNX Runtime INT8 quantization settings.

    ``op_types`` limits quantization to those ONNX op types (default: the library's default
    set); ``calibration_size`` is the number of eval items used to calibrate ``static``.
    """

    precision: Literal["int8"] = "int8"
    method: Literal["dynamic", "static"] = "dynamic"
    per_channel: bool = False
    reduce_range: bool = False
    weight_type: Literal["qint8", "quint8"] = "qint8"
    calibration_size: int = Field(default=100, ge=1, le=10_000)
    op_types: list[str] | None = None


def _tensors(graph: Any) -> Iterator[Any]:
    """Every tensor of an ONNX graph: initializers and node attributes, subgraphs included."""
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("g"):
                yield from _tensors(attr.g)
            for sub in attr.graphs:
                yield from _tensors(sub)


def external_data_files(path: Path) -> list[str]:
    """Files an ONNX model stores its tensors in (external data), relative to its folder.

    Raises:
        ConfigError: a location is absolute or leaves the model's folder (``../../x``), or a
            referenced file is missing: an ONNX file must not make the gate read other files.
    """
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    folder = path.parent.resolve()
    names: list[str] = []
    for tensor in _tensors(model.graph):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        target = (folder / location).resolve()
        if not location or Path(location).is_absolute() or not target.is_relative_to(folder):
            raise ConfigError(
                f"external data of tensor {tensor.name!r} points outside the model's folder ({location!r})",
                location=str(path),
            )
        if not target.is_file():
            raise ConfigError(f"external data file {location!r} of tensor {tensor.name!r} is missing",
                              location=str(path))
        rel = str(target.relative_to(folder))
        if rel not in names:
            names.append(rel)
    return names


def check_onnx_file(path: Path) -> list[str]:
    """Refuse files that are not ONNX protobufs before a runtime parses them.

    Returns the model's external-data files (see :func:`external_data_files`), which belong
    to the artifact: its size and hashes count them.

    Raises:
        ConfigError: empty files, zip archives (a common mistake: a renamed ``.zip`` or a
            PyTorch checkpoint saved under ``.onnx``), external data that leaves the folder,
            and files ``onnx`` cannot load.
    """
    import onnx
    from google.protobuf.message import DecodeError

    size = path.stat().st_size
    if size == 0:
        raise ConfigError("ONNX file is empty (0 bytes)", location=str(path))
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic == b"PK\x03\x04":
        raise ConfigError(
            "not an ONNX model: the file is a zip archive (a PyTorch checkpoint or a renamed .zip?)",
            location=str(path),
        )
    try:
        sidecars = external_data_files(path)
        onnx.checker.check_model(str(path))
    except (onnx.checker.ValidationError, DecodeError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"invalid ONNX model: {first}", location=str(path)) from None
    return sidecars


class _OrtSession:
    def __init__(self, session: Any) -> None:
        self._session = session
        self._names = [i.name for i in session.get_inputs()]

    def run(self, feeds: Mapping[str, Any]) -> Any:
        return self._session.run(None, {n: feeds[n] for n in self._names})[0]

    def bind(self, feeds: Mapping[str, Any]) -> Callable[[], None]:
        """A call that runs the model once on ``feeds`` bound ahead of time, for timing.

        Inputs and outputs are bound once through ONNX Runtime's IOBinding
        (https://onnxruntime.ai/docs/api/python/api_summary.html#iobinding): the inputs as
        the arrays themselves, the outputs into buffers of the shapes one plain run returned.
        The call is then ``run_with_iobinding`` alone, with no per-call dict, input check or
        output allocation, as ``onnxruntime_perf_test`` times it.
        """
        import numpy as np

        binding = self._session.io_binding()
        arrays = {n: np.array(feeds[n], order="C", copy=True) for n in self._names}  # owned by the binding
        for name, array in arrays.items():
            binding.bind_cpu_input(name, array)
        outputs = self._session.run(None, arrays)
        kept = [np.ascontiguousarray(o) for o in outputs]  # the call writes into these
        for meta, buf in zip(self._session.get_outputs(), kept, strict=True):
            binding.bind_output(meta.name, "cpu", 0, buf.dtype, list(buf.shape), buf.ctypes.data)
        self._bound = (binding, arrays, kept)  # the buffers live as long as the session
        return functools.partial(self._session.run_with_iobinding, binding)


class OnnxRuntimeBackend:
    """The ``onnxruntime`` backend (see the module docstring)."""

    name = "onnxruntime"
    #: Tasks it builds candidates for, and baselines for (checked when a manifest loads).
    candidate_tasks = frozenset({"sentence-embedding", "image-classification", "tensor"})
    #: Python distributions whose versions are DVC params of its stages (a bump reruns them).
    distributions = ("onnxruntime", "onnx", "torch", "transformers")
    baseline_tasks = frozenset({"sentence-embedding", "image-classification", "tensor"})
    recipe_model = OrtRecipe

    def versions(self) -> dict[str, str]:
        import onnx
        import onnxruntime

        return {"onnxruntime": onnxruntime.__version__, "onnx": onnx.__version__}

    def make_baseline(self, source: Path, ctx: BuildContext, out: Path) -> Artifact:
        """Export the task's torch module (from a transformers checkpoint or a torch
        state_dict) to fp32 ONNX with the dynamo exporter, as one file."""
        import importlib

        import torch

        from gate.tasks import get_task

        if source.is_file() and source.suffix == ".onnx":
            return self._copy_onnx(source, out)
        task = importlib.import_module(get_task(ctx.task).module)
        if hasattr(task, "torch_module_for"):  # task tensor: the team's module and declared inputs
            module = task.torch_module_for(source, ctx)
            dummy, input_names, output_names, axes = task.export_spec_for(ctx)
        else:
            module = task.torch_module(source, allow_pickle=ctx.allow_pickle)
            dummy, input_names, output_names, axes = task.export_spec(ctx.input)
        out.mkdir(parents=True, exist_ok=True)
        target = out / "model.onnx"
        with torch.no_grad():
            # The TorchScript exporter (dynamo=False) fails on transformers 5's mask helpers
            # here; the dynamo exporter works, written as one file (no external data).
            torch.onnx.export(
                module, dummy, str(target), input_names=input_names,
                output_names=output_names, dynamic_axes=axes, opset_version=ctx.opset,
                dynamo=True, external_data=False, verbose=False,
            )
        return Artifact.describe(
            out, fmt="onnx", backend=self.name, precision="fp32", entry="model.onnx",
            extra_files=check_onnx_file(target),
            details={"exporter": "torch.onnx.export(dynamo=True)", "opset": ctx.opset,
                     "torch": torch.__version__},
        )

    def _copy_onnx(self, source: Path, out: Path) -> Artifact:
        """An ONNX source as the baseline: the file and its external data, checked and copied."""
        sidecars = check_onnx_file(source)
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, out / "model.onnx")
        for rel in sidecars:
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source.parent / rel, out / rel)
        return Artifact.describe(out, fmt="onnx", backend=self.name, precision="fp32", entry="model.onnx",
                                 extra_files=sidecars, details={"copied_from": str(source)})

    def optimize(self, baseline: Path, recipe: Strict, ctx: BuildContext, out: Path) -> Artifact:
        """Quantize the baseline ONNX to INT8 as ``recipe`` (an :class:`OrtRecipe`) says."""
        from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process

        if not isinstance(recipe, OrtRecipe):
            raise BackendError(f"onnxruntime got a {type(recipe).__name__} recipe, not an OrtRecipe")
        base = Artifact.read(baseline)
        source = baseline / base.entry
        out.mkdir(parents=True, exist_ok=True)
        target = out / "model.onnx"
        weight_type = QuantType.QInt8 if recipe.weight_type == "qint8" else QuantType.QUInt8
        # ORT's quantization tools leave temporary files in the working directory: keep them
        # out of the user's repository
        with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):
            prepared = Path(tmp) / "prepared.onnx"
            # shape inference + graph optimisation first, as ORT's quantization guide advises
            # symbolic shape inference fails on dynamo-exported graphs; ONNX shape inference
            # and the graph optimisation still run
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
            if recipe.method == "dynamic":
                quantize_dynamic(
                    str(prepared), str(target), weight_type=weight_type,
                    per_channel=recipe.per_channel, reduce_range=recipe.reduce_range,
                    op_types_to_quantize=recipe.op_types,
                )
            else:
                if ctx.calibration_inputs is None:
                    raise BackendError("static quantization needs calibration inputs")
                reader = _CalibrationReader(ctx.calibration_inputs, recipe.calibration_size, ctx.task)
                quantize_static(
                    str(prepared), str(target), reader,
                    quant_format=QuantFormat.QDQ, weight_type=weight_type,
                    activation_type=QuantType.QInt8, per_channel=recipe.per_channel,
                    reduce_range=recipe.reduce_range, op_types_to_quantize=recipe.op_types,
                )
        from gate.backends.readback import onnx_quantization, ort_mismatch

        requested = {"method": recipe.method, "per_channel": recipe.per_channel, "weight_type": recipe.weight_type}
        found = onnx_quantization(target)
        details: dict[str, Any] = {**requested, "requested": requested, "effective_quantization": found}
        mismatch = ort_mismatch(requested, found)
        if mismatch:
            details["quantization_mismatch"] = mismatch
        return Artifact.describe(
            out, fmt="onnx", backend=self.name, precision="int8", entry="model.onnx",
            extra_files=check_onnx_file(target), details=details,
        )

    def open(self, artifact: Path, threads: int) -> Session:
        import onnxruntime as ort

        desc = Artifact.read(artifact)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            session = ort.InferenceSession(
                str(artifact / desc.entry), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ORT raises its own untyped errors; re-raised as ours
            raise BackendError(f"onnxruntime could not load {artifact / desc.entry}: {exc}") from exc
        return _OrtSession(session)


class _CalibrationReader:
    """Feeds the first ``limit`` eval items to ORT's static-quantization calibrator."""

    def __init__(self, inputs_npz: Path, limit: int, task_name: str) -> None:
        import importlib

        import numpy as np

        from gate.tasks import get_task

        task = importlib.import_module(get_task(task_name).module)
        with np.load(inputs_npz) as data:
            feeds = getattr(task, "calibration_feeds", task.eval_feeds)(data)  # a separate calibration set, if any
            self._items: Iterator[dict[str, Any]] = iter(list(feeds[:limit]))

    def get_next(self) -> dict[str, Any] | None:
        return next(self._items, None)

    def rewind(self) -> None:  # the MinMax calibrator reads once
        pass


BACKEND = OnnxRuntimeBackend()

__all__ = ["BACKEND", "OnnxRuntimeBackend", "OrtRecipe", "check_onnx_file"]
