"""Hostile and unusual ONNX files (shared case C04): external data, escapes, zips, empties."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from gate.backends.base import BuildContext
from gate.backends.onnxruntime import BACKEND, check_onnx_file
from gate.errors import ConfigError


def tiny_model(weight: np.ndarray) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, weight.shape[0]])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, weight.shape[1]])
    w = numpy_helper.from_array(weight, name="w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g", [x], [y], [w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def save_external(model: onnx.ModelProto, path: Path, location: str) -> None:
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=location, size_threshold=0)


CTX = BuildContext(task="sentence-embedding", input={"batch_size": 1, "sequence_length": 8})


def test_external_data_is_sized_hashed_copied_and_loaded(tmp_path: Path) -> None:
    weight = np.arange(64 * 32, dtype=np.float32).reshape(64, 32) / 100
    src = tmp_path / "src"
    src.mkdir()
    save_external(tiny_model(weight), src / "model.onnx", "weights.bin")
    assert check_onnx_file(src / "model.onnx") == ["weights.bin"]
    out = tmp_path / "baseline"
    art = BACKEND.make_baseline(src / "model.onnx", CTX, out)
    art.write(out)
    assert [f.path for f in art.files] == ["model.onnx", "weights.bin"]
    assert art.size_bytes == (src / "model.onnx").stat().st_size + (src / "weights.bin").stat().st_size
    assert art.files[1].size_bytes >= weight.nbytes
    session = BACKEND.open(out, threads=1)
    x = np.ones((1, 64), dtype=np.float32)
    np.testing.assert_allclose(session.run({"x": x}), x @ weight, rtol=1e-5)


def test_external_data_leaving_the_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x").write_bytes(b"\0" * 4096)
    inner = tmp_path / "a" / "b"
    inner.mkdir(parents=True)
    model = tiny_model(np.ones((4, 4), dtype=np.float32))
    save_external(model, inner / "model.onnx", "w.bin")
    stored = onnx.load(str(inner / "model.onnx"), load_external_data=False)
    for entry in stored.graph.initializer[0].external_data:
        if entry.key == "location":
            entry.value = "../../x"
    onnx.save_model(stored, str(inner / "model.onnx"))
    with pytest.raises(ConfigError, match=r"points outside the model's folder \('\.\./\.\./x'\)"):
        check_onnx_file(inner / "model.onnx")


def test_zip_renamed_to_onnx_and_empty_and_garbage_files(tmp_path: Path) -> None:
    fake = tmp_path / "model.onnx"
    with zipfile.ZipFile(fake, "w") as zf:
        zf.writestr("archive/data.pkl", b"not a model")
    with pytest.raises(ConfigError, match="is a zip archive"):
        check_onnx_file(fake)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(ConfigError, match=r"empty \(0 bytes\)"):
        check_onnx_file(empty)
    cut = tmp_path / "cut.onnx"
    good = tiny_model(np.ones((4, 4), dtype=np.float32)).SerializeToString()
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(ConfigError, match="invalid ONNX model"):
        check_onnx_file(cut)
