"""The dynamic-axes sweep runs for every backend against the source framework.

The attack: an ONNX file whose Reshape bakes the batch agrees with itself when the reference
is the same file in another runtime. Here the source is a real torch module, the baked file a
real ONNX graph run in ONNX Runtime, and the sweep refuses it at batch 3, naming the axis.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gate.errors import BackendError
from gate.tasks.sweep import SWEEP_FILE, check_candidate, load_points, sweep_baseline, sweep_points

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

AXES = {"batch": {"x": 0}, "sequence": {"x": 1}}
DIM = 16


def _weights() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((DIM, 8)).astype(np.float32)


def _source(feeds: dict[str, np.ndarray]) -> np.ndarray:
    """The source framework: mean over the sequence, then a linear map; [B, S, DIM] -> [B, 8]."""
    with torch.no_grad():
        x = torch.from_numpy(feeds["x"])
        return (x.mean(dim=1) @ torch.from_numpy(_weights())).numpy()


def _onnx(path: Path, *, baked_batch: bool) -> Path:
    """The same computation in ONNX; with ``baked_batch`` the mean is a Reshape to [1, -1, DIM]
    (the batch fixed at 1, as an export traced at batch 1 can leave it)."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = []
    inits = [numpy_helper.from_array(_weights(), "w")]
    if baked_batch:
        inits.append(numpy_helper.from_array(np.array([1, -1, DIM], dtype=np.int64), "shape"))
        nodes.append(helper.make_node("Reshape", ["x", "shape"], ["r"]))
        src = "r"
    else:
        src = "x"
    inits.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "axes"))
    nodes += [helper.make_node("ReduceMean", [src, "axes"], ["m"], keepdims=0),
              helper.make_node("MatMul", ["m", "w"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", "S", DIM])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["B", 8])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _ort(path: Path):  # type: ignore[no-untyped-def]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda feeds: session.run(None, feeds)[0]


def _points() -> list[tuple[str, int, dict[str, np.ndarray]]]:
    base = {"x": np.random.default_rng(1).standard_normal((1, 6, DIM)).astype(np.float32)}
    return sweep_points(AXES, ["batch", "sequence"], base)


def test_points_are_two_sizes_of_each_axis() -> None:
    shapes = [(axis, size, feeds["x"].shape) for axis, size, feeds in _points()]
    assert shapes == [("batch", 1, (1, 6, DIM)), ("batch", 3, (3, 6, DIM)),
                      ("sequence", 6, (1, 6, DIM)), ("sequence", 3, (1, 3, DIM))]


def test_a_faithful_baseline_and_candidate_pass_and_the_sweep_is_kept(tmp_path: Path) -> None:
    good = _ort(_onnx(tmp_path / "good.onnx", baked_batch=False))
    records = sweep_baseline(_source, good, _points(), tmp_path)
    assert [r["output_shape"] for r in records] == [[1, 8], [3, 8], [1, 8], [1, 8]]
    assert min(r["cosine_min"] for r in records) > 0.9999
    assert (tmp_path / SWEEP_FILE).is_file() and len(load_points(tmp_path)) == 4
    assert [r["size"] for r in check_candidate(good, tmp_path)] == [1, 3, 6, 3]


def test_a_baked_batch_is_refused_at_the_baseline(tmp_path: Path) -> None:
    baked = _ort(_onnx(tmp_path / "baked.onnx", baked_batch=True))
    with pytest.raises(BackendError, match=r"the baseline gives output shape \(1, 8\) at batch=3, the source \(3, 8\)"):
        sweep_baseline(_source, baked, _points(), tmp_path)
    assert not (tmp_path / SWEEP_FILE).exists()


def test_a_candidate_with_a_baked_batch_is_refused_against_the_source(tmp_path: Path) -> None:
    """The baseline is right; the candidate (another backend's file) bakes the batch."""
    sweep_baseline(_source, _ort(_onnx(tmp_path / "good.onnx", baked_batch=False)), _points(), tmp_path)
    with pytest.raises(BackendError, match=r"the candidate gives output shape \(1, 8\) at batch=3, the source \(3, 8\)"):
        check_candidate(_ort(_onnx(tmp_path / "baked.onnx", baked_batch=True)), tmp_path)


def test_a_candidate_right_only_at_the_measured_length_is_refused(tmp_path: Path) -> None:
    sweep_baseline(_source, _source, _points(), tmp_path)

    def padded(feeds: dict[str, np.ndarray]) -> np.ndarray:  # pads every input to 6 positions, no mask
        x = feeds["x"]
        pad = np.full((x.shape[0], 6 - x.shape[1], DIM), 5.0, dtype=np.float32)
        return _source({"x": np.concatenate([x, pad], axis=1)})

    with pytest.raises(BackendError, match=r"disagrees with the source at sequence=3 \(dynamic axis 'sequence'\)"):
        check_candidate(padded, tmp_path)


def test_without_declared_axes_nothing_is_swept(tmp_path: Path) -> None:
    base = {"x": np.zeros((1, 6, DIM), dtype=np.float32)}
    assert sweep_points(AXES, [], base) == []
    assert load_points(tmp_path) == [] and check_candidate(_source, tmp_path) == []
