"""scripts/memory_figures.py runs end to end on a tiny real ONNX model (fresh worker processes,
and the pre-optimized and arena-off ONNX Runtime load paths) and prints its figures. The
figures are not asserted beyond being memory a loaded model holds: they belong to the README's
measured table, taken on the real artifacts."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from gate.backends.base import Artifact
from tests.unit import ov_tiny

REPO = Path(__file__).resolve().parents[2]


def test_memory_figures_prints_every_load_path(tmp_path: Path) -> None:
    base = tmp_path / "baseline"
    ov_tiny.export(base / "model.onnx", dynamic=False)
    Artifact.describe(base, fmt="onnx", backend="onnxruntime", precision="fp32", entry="model.onnx").write(base)
    inputs = ov_tiny.inputs_npz(tmp_path / "inputs.npz")
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts/memory_figures.py"), "--inputs", str(inputs), "--task",
         "sentence-embedding", "--processes", "2", "--runs", "5", "--ort-load-paths", str(base)],
        cwd=REPO, capture_output=True, text=True, check=False, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = {line.split()[0]: line.split() for line in proc.stdout.splitlines()[1:]}
    assert set(rows) == {str(base)[-48:].strip(), "preoptimized", "no-arena"}, proc.stdout
    for row in rows.values():
        peak, loaded, serving = (float(v) for v in row[1:4])
        assert peak >= serving > 0 and peak >= loaded > 0, row  # the peak is never below a reading
        assert re.fullmatch(r"\[[0-9., ]+\]", " ".join(row[5:])), row
