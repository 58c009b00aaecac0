"""The CMake arguments `make setup` builds llama-cpp-python with (scripts/llama_cpp_cmake_args.py):
the CPU's own extensions, named one by one, and never AMX."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "llama_cpp_cmake_args.py"

# flags of an AVX-512 server that advertises AMX (as the VMs these tests run on do)
SERVER = frozenset("fpu sse4_2 avx avx2 bmi2 fma f16c avx_vnni avx512f avx512vbmi avx512_vnni avx512_bf16 "
                   "amx_tile amx_int8 amx_bf16".split())


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("llama_cpp_cmake_args", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def as_dict(args: list[str]) -> dict[str, str]:
    return dict(a.removeprefix("-D").split("=", 1) for a in args)


def test_every_extension_the_cpu_has_and_never_amx() -> None:
    got = as_dict(load().cmake_args(SERVER))
    assert got["GGML_NATIVE"] == "OFF"  # -march=native would pick AMX up
    assert got["GGML_AVX512"] == got["GGML_AVX512_VNNI"] == got["GGML_AVX512_BF16"] == "ON"
    assert got["GGML_AVX2"] == got["GGML_AVX_VNNI"] == "ON"
    assert got["GGML_AMX_TILE"] == got["GGML_AMX_INT8"] == got["GGML_AMX_BF16"] == "OFF"


def test_an_avx2_cpu_gets_no_avx512_and_portable_drops_it() -> None:
    m = load()
    avx2 = frozenset("sse4_2 avx avx2 bmi2 fma f16c".split())
    assert as_dict(m.cmake_args(avx2))["GGML_AVX512"] == "OFF"
    portable = as_dict(m.cmake_args(SERVER, portable=True))
    assert portable["GGML_AVX2"] == "ON" and portable["GGML_AVX512"] == portable["GGML_AVX_VNNI"] == "OFF"


def test_unknown_or_old_cpus_leave_llama_cpp_defaults(tmp_path: Path) -> None:
    m = load()
    assert m.cmake_args(frozenset()) == ["-DGGML_NATIVE=OFF"]
    assert m.cmake_args(frozenset({"sse4_2", "avx"})) == ["-DGGML_NATIVE=OFF"]
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx avx2 amx_tile\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    assert m.cpu_flags(cpuinfo) == frozenset({"fpu", "avx", "avx2", "amx_tile"})
    assert m.cpu_flags(tmp_path / "missing") == frozenset()


def test_the_script_prints_one_line() -> None:
    out = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, check=True).stdout
    assert out.count("\n") == 1 and out.startswith("-DGGML_NATIVE=OFF") and "AMX_INT8=ON" not in out
