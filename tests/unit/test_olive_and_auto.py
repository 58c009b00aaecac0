"""Olive workflow generation and config hashes, and ``backend: auto`` (no Olive import here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gate.backends import available
from gate.backends.autoselect import TABLE, choose_backend
from gate.backends.olive import OliveRecipe, workflow_config
from gate.config.manifest import load_manifest, resolve_auto
from gate.config.sections import Target
from gate.errors import ConfigError

DATA = Path(__file__).resolve().parent.parent / "data" / "manifests"
VARIANTS = DATA / "positive" / "olive-variants-auto.yaml"


def test_targets_differing_in_one_pass_setting_get_distinct_config_hashes() -> None:
    loaded = load_manifest(VARIANTS, repo_root=DATA.parent.parent.parent)
    a, b = loaded.config_hash("olive-per-tensor"), loaded.config_hash("olive-per-channel")
    assert a != b and len(a) == len(b) == 16
    cfg_a = workflow_config(loaded.recipes["olive-per-tensor"], Path("/b/model.onnx"), Path("/w"))  # type: ignore[arg-type]
    cfg_b = workflow_config(loaded.recipes["olive-per-channel"], Path("/b/model.onnx"), Path("/w"))  # type: ignore[arg-type]
    assert cfg_a["passes"]["quantize"] == {"type": "OnnxDynamicQuantization", "per_channel": False,
                                           "reduce_range": False, "weight_type": "QInt8"}
    assert {**cfg_a["passes"]["quantize"], "per_channel": True} == cfg_b["passes"]["quantize"]
    assert cfg_a["passes"]["preprocess"]["type"] == "OnnxQuantizationPreprocess"
    assert loaded.manifest.selection.weights.speedup == 2.0


def test_workflow_for_int4_block_wise_rtn_without_preprocess() -> None:
    cfg = workflow_config(OliveRecipe(quantization="blockwise_rtn", block_size=32, preprocess=False),
                          Path("/b/model.onnx"), Path("/w"))
    assert list(cfg["passes"]) == ["quantize"]
    assert cfg["passes"]["quantize"] == {"type": "OnnxBlockWiseRtnQuantization", "block_size": 32,
                                         "is_symmetric": True}
    assert cfg["input_model"] == {"type": "ONNXModel", "model_path": "/b/model.onnx"}
    assert cfg["output_dir"] == "/w/output" and cfg["cache_dir"] == "/w/cache"


def test_auto_resolves_at_load_and_says_why() -> None:
    loaded = load_manifest(VARIANTS, repo_root=DATA.parent.parent.parent)
    picked = loaded.target("picked")
    assert picked.backend == "onnxruntime"
    assert picked.target_id() == "x86-cpu/onnxruntime/picked"
    assert "auto chose onnxruntime" in loaded.backend_choices["picked"]
    assert "olive-per-tensor" not in loaded.backend_choices


@pytest.mark.parametrize(("platform", "task", "backend"), [
    ("intel-cpu", "sentence-embedding", "openvino"), ("intel-gpu", "sentence-embedding", "openvino"),
    ("apple-silicon", "sentence-embedding", "mlx"), ("nvidia-gpu", "sentence-embedding", "olive"),
    ("enterprise", "sentence-embedding", "olive"), ("arm-edge", "sentence-embedding", "llamacpp"),
    ("arm-cpu", "sentence-embedding", "llamacpp"), ("x86-cpu", "text-generation", "llamacpp"),
    ("x86-cpu", "sentence-embedding", "onnxruntime"), ("riscv-board", "sentence-embedding", "onnxruntime"),
])
def test_decision_table(platform: str, task: str, backend: str) -> None:
    chosen, reason = choose_backend(platform, task)
    assert chosen == backend
    assert platform in reason


@pytest.mark.parametrize("row", TABLE, ids=lambda r: r[1])
def test_auto_uses_the_chosen_backend_or_names_the_missing_one(row: tuple[tuple[str, ...], str, str],
                                                               tmp_path: Path) -> None:
    platform, backend = row[0][0].replace("*", "board"), row[1]
    text = VARIANTS.read_text().replace("platform: x86-cpu\n    backend: auto\n    recipe: {method: dynamic}",
                                        f"platform: {platform}\n    backend: auto")
    path = tmp_path / "gate.yaml"
    path.write_text(text.replace("../../sentences-20.txt", str(DATA.parent / "sentences-20.txt")))
    (tmp_path / ".git").mkdir()
    if backend in available():
        # resolved without validating a recipe: that backend's recipe fields are its own
        choices: dict[str, str] = {}
        picked = resolve_auto(Target(name="picked", platform=platform, backend="auto"), "sentence-embedding",
                              "gate.yaml:25:5", choices)
        assert picked.backend == backend and backend in choices["picked"]
    else:
        with pytest.raises(ConfigError) as err:
            load_manifest(path, repo_root=Path("/"))
        assert f"no backend {backend!r} is registered" in str(err.value)
        assert str(err.value).startswith(f"{path}:25:")  # the line of `backend: auto`
