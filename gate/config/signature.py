"""A model's input and output signature, read from the file without loading its weights.

For an ONNX file the signature is the graph's declared inputs (initializers that are also
listed as inputs, as older exporters do, are left out: they carry weights, not data) and
outputs, each with its element type as a numpy dtype name and its shape, where a dimension is
an ``int`` when fixed and a ``str`` (the symbolic name, or ``"?"``) when dynamic. The graph is
parsed with ``onnx.load(load_external_data=False)``, so external weight files are not read.
``onnx`` is imported when a signature is asked for, never at ``gate --help``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gate.errors import ConfigError

#: ONNX ``TensorProto`` element types (onnx.proto3 ``DataType``) to numpy dtype names.
ONNX_DTYPES = {
    1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64",
    9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64",
}

Dim = int | str


@dataclass(frozen=True)
class TensorSig:
    """One named input or output: numpy dtype name and shape (``int`` fixed, ``str`` dynamic)."""

    name: str
    dtype: str
    shape: tuple[Dim, ...]

    def shape_text(self) -> str:
        """``[1, 3, ?, ?]`` style."""
        return "[" + ", ".join(str(d) for d in self.shape) + "]"


@dataclass(frozen=True)
class Signature:
    """A model's inputs and outputs, in graph order."""

    inputs: tuple[TensorSig, ...]
    outputs: tuple[TensorSig, ...]

    def input(self, name: str) -> TensorSig | None:
        """The input called ``name``, or None."""
        return next((t for t in self.inputs if t.name == name), None)

    def input_names(self) -> list[str]:
        return [t.name for t in self.inputs]


def _sig(value_info: object) -> TensorSig:
    vi = value_info
    ttype = vi.type.tensor_type  # type: ignore[attr-defined]
    dims: list[Dim] = []
    for d in ttype.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        else:
            dims.append(d.dim_param or "?")
    dtype = ONNX_DTYPES.get(int(ttype.elem_type), f"onnx-type-{ttype.elem_type}")
    return TensorSig(name=vi.name, dtype=dtype, shape=tuple(dims))  # type: ignore[attr-defined]


def onnx_signature(path: Path, where: str | None = None) -> Signature:
    """The signature of the ONNX model at ``path`` (weights and external data not loaded).

    Raises:
        ConfigError (at ``where``, else the file): the file is not an ONNX protobuf, an
            input or output is not a tensor (sequences and maps are not supported), or its
            external data leaves the model's folder or is missing.
    """
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"cannot read the ONNX graph of {path.name}: {first}", location=where or str(path)) from None
    weights = {t.name for t in model.graph.initializer}
    inputs: list[TensorSig] = []
    outputs: list[TensorSig] = []
    for kind, values, out in (("input", model.graph.input, inputs), ("output", model.graph.output, outputs)):
        for vi in values:
            if kind == "input" and vi.name in weights:
                continue
            if not vi.type.HasField("tensor_type"):
                raise ConfigError(f"model {kind} {vi.name!r} of {path.name} is not a tensor; the tensor task "
                                  f"feeds and reads tensors only", location=where or str(path))
            out.append(_sig(vi))
    if not inputs:
        raise ConfigError(f"the ONNX graph of {path.name} declares no inputs", location=where or str(path))
    from gate.backends.onnxruntime import external_data_files

    try:  # external data must stay beside the model and exist: checked before anything is built
        external_data_files(path)
    except ConfigError as exc:
        problem = exc.message.removeprefix(f"{exc.location}: ") if exc.location else exc.message
        raise ConfigError(f"{path.name}: {problem}", location=where or str(path)) from None
    return Signature(inputs=tuple(inputs), outputs=tuple(outputs))


def source_signature(fmt: str, path: Path, where: str | None = None) -> Signature | None:
    """The signature of a source in ``fmt``, or None where the format does not declare one
    without running code (a torch state_dict, a transformers folder, a GGUF file)."""
    if fmt == "onnx":
        return onnx_signature(path, where)
    return None
