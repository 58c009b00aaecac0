"""Read back, do not trust the request (the gate must not be fooled, second list).

Quantization is read from the candidate file itself, with ONNX Runtime's own quantizer on a
small real graph, NNCF on a small real OpenVINO model, and a GGUF written with the gguf
package. A classifier whose predictions collapse onto one class is flagged in the decision's
notes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gate.backends.readback import (
    onnx_quantization,
    openvino_mismatch,
    openvino_quantization,
    ort_mismatch,
)
from gate.measure.summary import prediction_histogram
from gate.documents import Measurements
from gate.verdict.decision import collapse_note
from tests.factories import PASSING, measurements

onnx = pytest.importorskip("onnx")


def _matmul_model(path: Path, layers: int = 3, dim: int = 64) -> Path:
    """``layers`` MatMuls of [dim, dim] float weights in a chain: x [N, dim] -> y [N, dim]."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes, inits = [], []
    prev = "x"
    for i in range(layers):
        w = rng.standard_normal((dim, dim)).astype(np.float32) * (1 + 3 * rng.random(dim)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        nodes.append(helper.make_node("MatMul", [prev, f"w{i}"], [f"h{i}"]))
        prev = f"h{i}"
    nodes[-1].output[0] = "y"
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", dim])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", dim])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_fp32_onnx_reads_back_as_unquantized(tmp_path: Path) -> None:
    found = onnx_quantization(_matmul_model(tmp_path / "fp32.onnx"))
    assert found["quantized"] == 0 and found["float_count"] == 3 and found["quantized_share"] == 0.0
    assert "no weight is quantized" in str(ort_mismatch({"per_channel": False, "weight_type": "qint8"}, found))


@pytest.mark.parametrize("per_channel", [False, True])
def test_ort_static_qdq_scales_are_read_per_channel_or_per_tensor(tmp_path: Path, per_channel: bool) -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._items = iter([{"x": np.random.default_rng(i).standard_normal((1, 64)).astype(np.float32)}
                                for i in range(8)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._items, None)

    out = tmp_path / "q.onnx"
    quantize_static(str(_matmul_model(tmp_path / "fp32.onnx")), str(out), Reader(), quant_format=QuantFormat.QDQ,
                    weight_type=QuantType.QInt8, activation_type=QuantType.QInt8, per_channel=per_channel)
    found = onnx_quantization(out)
    assert found["quantized"] == 3 and found["weight_types"] == {"int8": 3}
    assert (found["per_channel"], found["per_tensor"]) == ((3, 0) if per_channel else (0, 3))
    assert ort_mismatch({"per_channel": per_channel, "weight_type": "qint8"}, found) is None
    # the same file, described as if per-tensor had been asked for uint8: both differences named
    note = str(ort_mismatch({"per_channel": True, "weight_type": "quint8"}, found))
    assert "weight_type uint8 was requested, the file holds int8" in note
    assert ("one scale per tensor" in note) is (not per_channel)


def test_ort_dynamic_per_channel_request_is_recorded_as_what_the_file_holds(tmp_path: Path) -> None:
    """The backend's artifact record states the scales the file holds, whatever was asked."""
    from gate.backends.base import Artifact, BuildContext
    from gate.backends.onnxruntime import BACKEND, OrtRecipe

    base = tmp_path / "baseline"
    base.mkdir()
    _matmul_model(base / "model.onnx")
    Artifact.describe(base, fmt="onnx", backend="onnxruntime", precision="fp32", entry="model.onnx").write(base)
    ctx = BuildContext(task="sentence-embedding", input={"dynamic_axes": []})
    art = BACKEND.optimize(base, OrtRecipe(per_channel=True), ctx, tmp_path / "cand")
    found = art.details["effective_quantization"]
    assert art.details["requested"]["per_channel"] is True
    assert found == onnx_quantization(tmp_path / "cand" / "model.onnx")
    assert found["quantized"] == 3
    if found["per_tensor"]:
        assert "one scale per tensor" in art.details["quantization_mismatch"]
    else:
        assert "quantization_mismatch" not in art.details


def test_openvino_weight_types_are_read_from_the_ir(tmp_path: Path) -> None:
    ov = pytest.importorskip("openvino")
    nncf = pytest.importorskip("nncf")

    model = ov.convert_model(str(_matmul_model(tmp_path / "fp32.onnx", dim=128)))
    fp32 = tmp_path / "fp32.xml"
    ov.save_model(model, str(fp32), compress_to_fp16=False)
    found = openvino_quantization(fp32)
    assert found["weight_types"] == {"f32": {"tensors": 3, "elements": 3 * 128 * 128}}
    assert found["integer_share"] == 0.0
    assert "3 weight tensors (100.0% of weight elements) are stored as f32" in str(
        openvino_mismatch("weights-int8", found))
    assert "no FakeQuantize layer" in str(openvino_mismatch("int8", found))

    compressed = nncf.compress_weights(ov.Core().read_model(str(fp32)))
    int8 = tmp_path / "int8.xml"
    ov.save_model(compressed, str(int8), compress_to_fp16=False)
    found = openvino_quantization(int8)
    assert found["integer_share"] == 1.0
    assert set(found["weight_types"]) <= {"u8", "i8"}
    assert openvino_mismatch("weights-int8", found) is None


def test_gguf_tensors_outside_the_scheme_are_counted(tmp_path: Path) -> None:
    pytest.importorskip("gguf")
    from tests.unit.test_gguf import write_tiny

    from gate.backends.gguf import read_gguf
    from gate.backends.llamacpp import SCHEMES

    info = read_gguf(write_tiny(tmp_path / "tiny.gguf"))  # a Q8_0 matrix and an F16 matrix, 256 el. each
    assert info.outside(SCHEMES["Q8_0"]) == ({"F16": 1}, 0.5)
    assert info.outside(frozenset({"Q8_0", "F16"})) == ({}, 0.0)


def _doc(base: list[int], cand: list[int]) -> Measurements:
    """Measurements through the typed document, with each side's top-1 class histogram."""
    m = measurements("m", "ov-int8", "c" * 16, PASSING)
    m.baseline.predictions, m.candidate.predictions = prediction_histogram(base), prediction_histogram(cand)
    return m


def test_prediction_collapse_is_flagged() -> None:
    spread = [i % 40 for i in range(200)]
    collapsed = [7] * 150 + spread[:50]
    note = collapse_note("ov-int8", _doc(spread, collapsed))
    assert note is not None
    assert "ov-int8: predictions collapse: class 7 takes 76% of 200 eval items" in note
    assert "the baseline's most frequent class takes 2%" in note
    assert collapse_note("ov-int8", _doc(spread, spread)) is None
    # a baseline that itself predicts one class mostly is not a candidate's collapse
    assert collapse_note("ov-int8", _doc(collapsed, collapsed)) is None


def test_prediction_histogram_shape() -> None:
    h = prediction_histogram([3, 3, 1, 2, 3])
    assert h == {"items": 5, "distinct_classes": 3, "top_class": 3, "top_share": 0.6,
                 "counts": [[3, 3], [1, 1], [2, 1]]}
    with pytest.raises(ValueError):
        prediction_histogram([])
