#!/usr/bin/env python3
"""Print the CMake arguments that build llama-cpp-python for this machine's CPU, safely.

llama.cpp's own ``-DGGML_NATIVE=ON`` compiles with ``-march=native``, and its runtime variant
dispatch (``GGML_CPU_ALL_VARIANTS``) scores variants by CPUID bits alone. Both pick AMX tile
instructions wherever CPUID advertises them, and some virtual machines advertise AMX without
the kernel granting the tile state: the first matrix multiply then dies with SIGILL. So this
script turns ``GGML_NATIVE`` off and names every x86 extension itself, from the flags Linux
reports in ``/proc/cpuinfo`` (Linux clears a flag there when the OS does not save the state
the extension needs, e.g. AVX-512's ZMM registers), and never turns AMX on.

Usage: ``CMAKE_ARGS="$(python3 scripts/llama_cpp_cmake_args.py)" pip install llama-cpp-python``.
``--portable`` prints the portable AVX2 set instead (what a build that must run on any
x86-64-v3 machine needs). Off x86 Linux it prints ``-DGGML_NATIVE=OFF`` only: llama.cpp's
defaults for that architecture then apply. Exit code 0 always; nothing is written.
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

#: /proc/cpuinfo flag -> llama.cpp CMake option (ggml/CMakeLists.txt, "instruction set specific").
X86_OPTIONS: tuple[tuple[str, str], ...] = (
    ("sse4_2", "GGML_SSE42"),
    ("avx", "GGML_AVX"),
    ("avx2", "GGML_AVX2"),
    ("bmi2", "GGML_BMI2"),
    ("fma", "GGML_FMA"),
    ("f16c", "GGML_F16C"),
    ("avx_vnni", "GGML_AVX_VNNI"),
    ("avx512f", "GGML_AVX512"),
    ("avx512vbmi", "GGML_AVX512_VBMI"),
    ("avx512_vnni", "GGML_AVX512_VNNI"),
    ("avx512_bf16", "GGML_AVX512_BF16"),
)
#: Never on: advertised is not enabled (see the module docstring).
NEVER = ("GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16")
PORTABLE = frozenset({"sse4_2", "avx", "avx2", "bmi2", "fma", "f16c"})


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The ``flags`` of the first processor in ``cpuinfo``; empty when the file is unreadable."""
    try:
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "flags":
                return frozenset(value.split())
    except OSError:
        pass
    return frozenset()


def cmake_args(flags: frozenset[str], *, portable: bool = False) -> list[str]:
    """``-D`` arguments for ``flags``; every listed x86 option is set ON or OFF explicitly."""
    args = ["-DGGML_NATIVE=OFF"]
    if not flags or "avx2" not in flags:
        return args
    wanted = PORTABLE & flags if portable else flags
    args += [f"-D{option}={'ON' if flag in wanted else 'OFF'}" for flag, option in X86_OPTIONS]
    args += [f"-D{option}=OFF" for option in NEVER]
    return args


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--portable", action="store_true", help="AVX2 set only, whatever the CPU has")
    options = parser.parse_args()
    on_x86_linux = platform.system() == "Linux" and platform.machine() in ("x86_64", "AMD64")
    flags = cpu_flags() if on_x86_linux else frozenset()
    print(" ".join(cmake_args(flags, portable=options.portable)))


if __name__ == "__main__":
    main()
