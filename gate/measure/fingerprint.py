"""Hardware fingerprint: what a measurement was taken on.

INT8 speed depends on ISA extensions (VNNI, AMX, BF16), so every measurement stores the CPU
model and flags, and figures taken on different fingerprints are never compared (shared case
C03). The ``id`` hashes what decides speed: CPU model, the ISA flags below, logical cores,
architecture and OS kernel family.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

from gate.config.schema import sha256_json

#: ISA flags that change how fast quantized or reduced-precision kernels run.
ISA_FLAGS = (
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
    "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16",
    "asimd", "asimddp", "sve", "i8mm", "bf16",
)


def _cpuinfo() -> tuple[str, set[str]]:
    model: str = platform.processor() or platform.machine()
    flags: set[str] = set()
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return model, flags
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("model name", "Model") and value.strip():
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
    return model, flags


def fingerprint(threads: int | None = None) -> dict[str, Any]:
    """This machine's fingerprint.

    Returns a dict with ``cpu_model``, ``isa`` (the present flags of :data:`ISA_FLAGS`),
    ``logical_cores``, ``usable_cores`` (the affinity mask), ``memory_bytes``, ``machine``,
    ``os``, ``python``, ``threads`` (the runtime thread setting) and ``id`` (16 hex digits).
    """
    import psutil

    model, flags = _cpuinfo()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    fp: dict[str, Any] = {
        "cpu_model": model,
        "isa": sorted(f for f in ISA_FLAGS if f in flags),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_bytes": psutil.virtual_memory().total,
        "machine": platform.machine(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }
    if threads is not None:
        fp["threads"] = threads
    key = {k: fp[k] for k in ("cpu_model", "isa", "logical_cores", "machine")}
    key["os"] = platform.system()
    fp["id"] = sha256_json(key)[:16]
    return fp
