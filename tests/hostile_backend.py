"""A backend that misbehaves on purpose: segfaults, hangs, eats memory or raises.

Registered through the real registry (``EDGE_GATE_BACKENDS=hostile=hostile_backend:BACKEND``
with this folder on PYTHONPATH), so stage subprocesses and measurement workers load it like
any plugin. Its recipe says what to do and when (while optimizing, or while loading the
candidate for measurement); otherwise it copies the baseline ONNX and runs it in ONNX Runtime.
"""

from __future__ import annotations

import ctypes
import shutil
import time
from pathlib import Path
from typing import Any, Literal

from gate.backends.base import Artifact
from gate.backends.onnxruntime import BACKEND as ORT
from gate.config.schema import Strict


def segfault() -> None:
    ctypes.string_at(0)  # reads address 0: SIGSEGV


def hang() -> None:
    time.sleep(3600)


def allocate(gib: float = 3.0) -> None:
    block = bytearray(b"\x01") * int(gib * (1 << 30))  # written, so resident
    time.sleep(30)
    del block


def fail() -> None:
    raise RuntimeError("hostile backend raised on purpose")


ACTIONS = {"segfault": segfault, "hang": hang, "allocate": allocate, "raise": fail}


class HostileRecipe(Strict):
    behaviour: Literal["segfault", "hang", "allocate", "raise", "none"] = "none"
    when: Literal["optimize", "load"] = "load"


class HostileBackend:
    name = "hostile"
    recipe_model = HostileRecipe

    def versions(self) -> dict[str, str]:
        return ORT.versions()

    def make_baseline(self, source: Path, ctx: Any, out: Path) -> Artifact:
        """Hang after writing a partial file (as a converter would) when HOSTILE_BASELINE=hang."""
        import os

        if os.environ.get("HOSTILE_BASELINE") == "hang":
            out.mkdir(parents=True, exist_ok=True)
            (out / "partial.onnx").write_bytes(b"half a model")
            hang()
        raise NotImplementedError

    def optimize(self, baseline: Path, recipe: Strict, ctx: Any, out: Path) -> Artifact:
        if not isinstance(recipe, HostileRecipe):
            raise TypeError("not a HostileRecipe")
        if recipe.when == "optimize" and recipe.behaviour != "none":
            ACTIONS[recipe.behaviour]()
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy(baseline / Artifact.read(baseline).entry, out / "model.onnx")
        return Artifact.describe(out, fmt="onnx", backend=self.name, precision="fp32", entry="model.onnx",
                                 details={"behaviour": recipe.behaviour, "when": recipe.when})

    def open(self, artifact: Path, threads: int) -> Any:
        details = Artifact.read(artifact).details
        if details["when"] == "load" and details["behaviour"] != "none":
            ACTIONS[details["behaviour"]]()
        return ORT.open(artifact, threads)


BACKEND = HostileBackend()


def spawn_and_hang(pidfile: str, marker: str) -> None:
    """Start a grandchild that holds memory and would write ``marker`` in 3 s, then hang."""
    import subprocess
    import sys

    code = ("import time, pathlib; block = bytearray(200 << 20); time.sleep(3); "
            f"pathlib.Path({marker!r}).write_text('written after the kill')")
    grandchild = subprocess.Popen([sys.executable, "-c", code])
    Path(pidfile).write_text(str(grandchild.pid))
    while True:
        time.sleep(1)
