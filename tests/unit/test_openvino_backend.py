"""The openvino backend on a real (tiny) attention model: conversion, precision, every recipe,
the dynamic-shape sweep. Real OpenVINO, NNCF and ONNX Runtime; no mocks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from gate.backends import get_backend
from gate.backends.base import Artifact, BuildContext
from gate.errors import BackendError
from tests.unit import ov_tiny


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ORT-style fp32 ONNX baseline folder, a static-length export and an inputs.npz."""
    root = tmp_path_factory.mktemp("ov-tiny")
    ov_tiny.export(root / "baseline" / "model.onnx", dynamic=True)
    Artifact.describe(root / "baseline", fmt="onnx", backend="onnxruntime", precision="fp32",
                      entry="model.onnx").write(root / "baseline")
    ov_tiny.export(root / "static" / "model.onnx", dynamic=False)
    ov_tiny.inputs_npz(root / "inputs.npz")
    return root


def ctx_for(root: Path, axes: list[str]) -> BuildContext:
    return BuildContext(task="sentence-embedding", calibration_inputs=root / "inputs.npz",
                        input={"batch_size": 1, "sequence_length": ov_tiny.SEQ, "dynamic_axes": axes},
                        primary_metric="nn10_overlap")


def latency_feeds(root: Path) -> dict[str, np.ndarray]:
    from gate.tasks import embedding

    with np.load(root / "inputs.npz") as data:
        return {k: np.asarray(v) for k, v in embedding.latency_feeds(data).items()}


def ort_output(onnx: Path, feeds: dict[str, np.ndarray]) -> np.ndarray:
    import onnxruntime as ort

    return np.asarray(ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"]).run(None, feeds)[0])


def test_fp32_baseline_keeps_fp32_weights_and_runs_in_f32_not_bf16(tiny: Path, tmp_path: Path) -> None:
    import openvino as ov

    from gate.backends.ov_runtime import OvSession, compile_model

    backend = get_backend("openvino")
    art = backend.make_baseline(tiny / "baseline" / "model.onnx", ctx_for(tiny, ["batch", "sequence"]), tmp_path)
    art.write(tmp_path)
    assert art.format == "openvino-ir" and art.precision == "fp32"
    params = sum(p.numel() for p in ov_tiny.tiny_module().parameters())  # type: ignore[attr-defined]
    weights = next(f for f in art.files if f.path == "model.bin")
    assert weights.size_bytes >= 4 * params  # fp32, not compress_to_fp16's halves
    assert {(r["axis"], r["size"]) for r in art.details["shape_sweep"]} == {
        ("batch", 1), ("batch", 3), ("sequence", ov_tiny.SEQ), ("sequence", ov_tiny.SEQ // 2)}

    session = backend.open(tmp_path, threads=2)
    props = session.properties()  # type: ignore[attr-defined]
    assert props["inference_precision"] == "f32", props  # fails if the baseline runs in bf16
    assert props["num_streams"] == 1 and props["inference_num_threads"] == 2
    assert props["enable_cpu_pinning"] is False
    feeds = latency_feeds(tiny)
    want = ort_output(tiny / "baseline" / "model.onnx", feeds)
    got = session.run(feeds)
    assert np.abs(got - want).max() < 1e-5  # bf16 arithmetic is off by ~1e-3 on this model

    # the control: what the plugin's default does on this CPU, so the check above is not vacuous
    if "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        default = OvSession(compile_model(ov.Core().read_model(str(tmp_path / "model.xml")), 2, "default"))
        assert default.properties()["inference_precision"] == "bf16"
        assert np.abs(default.run(feeds) - want).max() > 1e-4


def test_static_sequence_export_fails_at_convert_naming_the_axis(tiny: Path, tmp_path: Path) -> None:
    backend = get_backend("openvino")
    with pytest.raises(BackendError, match=r"dynamic axis 'sequence' is static.*dimension 1 is fixed at 16"):
        backend.make_baseline(tiny / "static" / "model.onnx", ctx_for(tiny, ["sequence"]), tmp_path / "a")
    # the same model is accepted when the manifest declares no dynamic axis
    art = backend.make_baseline(tiny / "static" / "model.onnx", ctx_for(tiny, []), tmp_path / "b")
    assert art.details["shape_sweep"] == []


def ir_constant_types(xml: Path) -> set[str]:
    import openvino as ov

    model = ov.Core().read_model(str(xml))
    return {op.get_output_element_type(0).get_type_name() for op in model.get_ops()
            if op.get_type_name() == "Constant"}


def int8_weight_count(xml: Path) -> int:
    import openvino as ov

    return sum(op.get_type_name() == "Constant" and op.get_output_element_type(0).get_type_name() == "i8"
               for op in ov.Core().read_model(str(xml)).get_ops())


def fake_quantize_count(xml: Path) -> int:
    import openvino as ov

    return sum(op.get_type_name() == "FakeQuantize" for op in ov.Core().read_model(str(xml)).get_ops())


@pytest.mark.parametrize(("recipe", "precision", "marker"), [
    ({"method": "int8", "calibration_size": 30}, "int8", "FakeQuantize"),
    ({"method": "weights-int8"}, "int8-weights", "u8"),
    ({"method": "weights-int4", "sym": True, "group_size": 16, "ratio": 1.0}, "int4-weights", "i4"),
    ({"method": "int8-accuracy-aware", "calibration_size": 20, "validation_size": 30, "max_drop": 0.05},
     "int8", "FakeQuantize"),
])
def test_each_recipe_builds_a_faithful_candidate(
    tiny: Path, tmp_path: Path, recipe: dict[str, object], precision: str, marker: str,
) -> None:
    backend = get_backend("openvino")
    art = backend.optimize(tiny / "baseline", backend.recipe_model(**recipe), ctx_for(tiny, ["sequence"]), tmp_path)
    art.write(tmp_path)
    assert art.precision == precision and art.format == "openvino-ir"
    xml = tmp_path / "model.xml"
    if marker == "FakeQuantize":
        assert fake_quantize_count(xml) > 0
    else:
        assert marker in ir_constant_types(xml)
    assert [r["axis"] for r in art.details["shape_sweep"]] == ["sequence", "sequence"]
    trail = art.details["accuracy_trail"]
    stages = {s["stage"].split(" ")[0]: s["metrics"] for s in trail["stages"]}
    assert trail["items"] == 60  # all of them (fewer than TRAIL_ITEMS) and set(stages) == {"baseline", "fp32", "candidate"}
    assert stages["baseline"]["cosine_mean"] == pytest.approx(1.0)
    assert stages["fp32"]["cosine_mean"] > 0.99999  # conversion lost nothing
    assert 0.9 < stages["candidate"]["cosine_mean"] < 1.0  # the recipe changed the numbers
    feeds = latency_feeds(tiny)
    out = backend.open(tmp_path, threads=2).run(feeds)
    assert out.shape == (1, ov_tiny.DIM)
    if recipe["method"] == "int8-accuracy-aware":
        assert art.details["validation_items"] == 30 and art.details["validation_metric"] == "nn10_overlap"


def test_ignored_scope_leaves_ops_in_float_and_unknown_names_fail(tiny: Path, tmp_path: Path) -> None:
    backend = get_backend("openvino")
    ctx = ctx_for(tiny, [])
    full = backend.optimize(tiny / "baseline", backend.recipe_model(method="int8", calibration_size=20), ctx, tmp_path / "a")
    scoped = backend.optimize(tiny / "baseline", backend.recipe_model(
        method="int8", calibration_size=20, ignored_scope={"types": ["MatMul"]}), ctx, tmp_path / "b")
    assert full.precision == scoped.precision == "int8"
    # NNCF stores quantized MatMul weights as i8 constants: ignoring MatMul keeps them float
    full_i8 = int8_weight_count(tmp_path / "a" / "model.xml")
    assert full_i8 >= 4  # q, k, v and the MLP's two layers among them
    assert int8_weight_count(tmp_path / "b" / "model.xml") <= full_i8 - 4
    with pytest.raises(BackendError, match="nope"):
        backend.optimize(tiny / "baseline", backend.recipe_model(
            method="int8", ignored_scope={"names": ["nope"]}), ctx, tmp_path / "c")


def test_recipe_rejects_int4_settings_on_other_methods() -> None:
    recipe = get_backend("openvino").recipe_model
    with pytest.raises(ValidationError, match="weights-int4 only"):
        recipe(method="weights-int8", group_size=64)
    with pytest.raises(ValidationError):
        recipe(method="int8", calibration_sise=10)  # typo: extra fields are forbidden
