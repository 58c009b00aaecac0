"""What a candidate file holds, read back from the file, not from the recipe that asked for it.

Quantization tools quietly do less than they are asked: ONNX Runtime writes per-tensor scales
for a per-channel request on ops it cannot quantize per channel, NNCF keeps some weights in a
backup precision, llama.cpp substitutes types for rows that do not divide into its blocks.
The artifact record states both the request and what the file contains, and a backend sets
``details.quantization_mismatch`` (one line) when they differ; ``gate decide`` repeats it in
the decision's notes.

Weights are initializers (ONNX) or constants (OpenVINO IR) with at least
:data:`MIN_WEIGHT_ELEMENTS` elements and rank >= 2; smaller tensors (biases, scales, shapes)
are not weights.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

#: Tensors smaller than this (or of rank < 2) are biases, scales or shapes, not weights.
MIN_WEIGHT_ELEMENTS = 1024
#: ONNX ops whose second input is a weight matrix or kernel.
WEIGHT_OPS = {"MatMul", "Gemm", "Conv", "ConvTranspose", "MatMulInteger", "ConvInteger",
              "QLinearMatMul", "QLinearConv", "DynamicQuantizeMatMul", "MatMulIntegerToFloat",
              "Gather", "DequantizeLinear"}


def _elements(dims: Any) -> int:
    n = 1
    for d in dims:
        n *= int(d)
    return n


def onnx_quantization(path: Path) -> dict[str, Any]:
    """Read back the weight quantization of an ONNX file (external data is not loaded).

    Returns ``weights`` (count), ``quantized`` (count of integer weight initializers),
    ``quantized_share`` (their share of all weight elements, 0-1), ``weight_types``
    (element type name -> count, quantized weights only), ``per_channel`` and ``per_tensor``
    (quantized weights whose scale has more than one element, or one), ``float_weights``
    (names of the 5 largest float weights left, beside their count under ``float_count``).
    """
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for i, name in enumerate(node.input):
            consumers.setdefault(name, []).append((node, i))
    integer = {onnx.TensorProto.INT8, onnx.TensorProto.UINT8, onnx.TensorProto.INT4, onnx.TensorProto.UINT4}
    floats = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16, onnx.TensorProto.DOUBLE}
    types: Counter[str] = Counter()
    per_channel = per_tensor = 0
    q_elements = f_elements = 0
    float_left: list[tuple[int, str]] = []
    for name, t in inits.items():
        n = _elements(t.dims)
        if n < MIN_WEIGHT_ELEMENTS or len(t.dims) < 2:
            continue
        uses = consumers.get(name, [])
        if not any(node.op_type in WEIGHT_OPS for node, _ in uses):
            continue
        if t.data_type in integer:
            q_elements += n
            types[onnx.TensorProto.DataType.Name(t.data_type).lower()] += 1
            scale = _scale_of(name, uses, inits)
            if scale is not None and _elements(scale.dims) > 1:
                per_channel += 1
            else:
                per_tensor += 1
        elif t.data_type in floats:
            f_elements += n
            float_left.append((n, name))
    total = q_elements + f_elements
    return {
        "weights": per_channel + per_tensor + len(float_left), "quantized": per_channel + per_tensor,
        "quantized_share": q_elements / total if total else 0.0, "weight_types": dict(types),
        "per_channel": per_channel, "per_tensor": per_tensor, "float_count": len(float_left),
        "float_weights": [name for _, name in sorted(float_left, reverse=True)[:5]],
    }


def _scale_of(name: str, uses: list[Any], inits: dict[str, Any]) -> Any | None:
    """The scale initializer of quantized weight ``name``: the scale input of the
    DequantizeLinear consuming it (QDQ), else ORT's ``<weight>_scale`` naming (QOperator and
    dynamic quantization write ``<weight>_quantized`` beside ``<weight>_scale``)."""
    for node, i in uses:
        if node.op_type == "DequantizeLinear" and i == 0 and len(node.input) > 1:
            return inits.get(node.input[1])
    base = name.removesuffix("_quantized")
    return inits.get(f"{base}_scale")


def ort_mismatch(request: dict[str, Any], found: dict[str, Any]) -> str | None:
    """One line when an ONNX Runtime INT8 file differs from the recipe ``request``
    (``per_channel``, ``weight_type``): per-tensor scales for a per-channel request, another
    integer type, or no quantized weight at all."""
    problems = []
    if found["quantized"] == 0:
        problems.append(f"no weight is quantized ({found['weights']} weights stay floating point)")
    elif request.get("per_channel") and found["per_tensor"]:
        problems.append(f"per_channel was requested, but {found['per_tensor']} of {found['quantized']} "
                        "quantized weights have one scale per tensor")
    want = {"qint8": "int8", "quint8": "uint8"}.get(str(request.get("weight_type")))
    other = sorted(k for k in found["weight_types"] if k != want)
    if want and other:
        problems.append(f"weight_type {want} was requested, the file holds {', '.join(other)} weights")
    if found["float_count"] and found["quantized"]:
        problems.append(f"{found['float_count']} weights stay floating point "
                        f"({1 - found['quantized_share']:.1%} of weight elements)")
    return "the candidate file differs from its recipe: " + "; ".join(problems) if problems else None


def openvino_quantization(xml: Path) -> dict[str, Any]:
    """Read back an OpenVINO IR's weight types from its ``.xml`` (the weights file is not read).

    Returns ``weight_types`` (element type -> ``{"tensors": n, "elements": m}`` over weight
    constants), ``fake_quantize`` (FakeQuantize layers: activations quantized, as NNCF's INT8
    does), and ``integer_share`` (share of weight elements stored as integers, 0-1).
    """
    import xml.etree.ElementTree as ET

    root = ET.parse(xml).getroot()
    types: dict[str, dict[str, int]] = {}
    fake_quantize = 0
    for layer in root.iter("layer"):
        kind = layer.get("type")
        if kind == "FakeQuantize":
            fake_quantize += 1
        if kind != "Const":
            continue
        data = layer.find("data")
        if data is None:
            continue
        shape = [int(d) for d in (data.get("shape") or "").split(",") if d.strip().isdigit()]
        n = _elements(shape)
        if len(shape) < 2 or n < MIN_WEIGHT_ELEMENTS:
            continue
        kind_of = str(data.get("element_type"))
        entry = types.setdefault(kind_of, {"tensors": 0, "elements": 0})
        entry["tensors"] += 1
        entry["elements"] += n
    total = sum(v["elements"] for v in types.values())
    integer = sum(v["elements"] for k, v in types.items() if k[:1] in ("i", "u"))
    return {"weight_types": types, "fake_quantize": fake_quantize,
            "integer_share": integer / total if total else 0.0}


def openvino_mismatch(method: str, found: dict[str, Any]) -> str | None:
    """One line when an NNCF candidate differs from its ``method``: INT8 without FakeQuantize
    layers, or weight compression that left weights outside the requested type (counting only
    those tensors: NNCF's backup precision for int4 shows up here)."""
    wanted = {"weights-int8": ("u8", "i8"), "weights-int4": ("u4", "i4")}.get(method)
    if method.startswith("int8") and found["fake_quantize"] == 0:
        return "the candidate file differs from its recipe: int8 was requested, the IR has no FakeQuantize layer"
    if wanted is None:
        return None
    types = found["weight_types"]
    total = sum(v["elements"] for v in types.values())
    outside = {k: v for k, v in types.items() if k not in wanted}
    if not outside or not total:
        return None
    tensors = sum(v["tensors"] for v in outside.values())
    share = sum(v["elements"] for v in outside.values()) / total
    kinds = ", ".join(sorted(outside))
    return (f"the candidate file differs from its recipe: {method} was requested, {tensors} weight tensors "
            f"({share:.1%} of weight elements) are stored as {kinds}")
