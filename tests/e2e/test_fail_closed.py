"""One target that segfaults, hangs, eats memory or raises costs only itself: ERROR for it,
the other targets measured, the decision blocks, nothing already measured is lost."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .conftest import make_runner

pytestmark = pytest.mark.e2e
TESTS = Path(__file__).resolve().parents[1]

HOSTILE = """
  - name: segv-at-load
    platform: x86-cpu
    backend: hostile
    recipe: {behaviour: segfault, when: load}
  - name: hang-at-optimize
    platform: x86-cpu
    backend: hostile
    recipe: {behaviour: hang, when: optimize}
    limits: {timeout_s: 5}
  - name: oom-at-load
    platform: x86-cpu
    backend: hostile
    recipe: {behaviour: allocate, when: load}
    limits: {memory_bytes: 1073741824}
  - name: raise-at-optimize
    platform: x86-cpu
    backend: hostile
    recipe: {behaviour: raise, when: optimize}
"""


def test_hostile_targets_are_errors_and_the_rest_still_runs(minilm_repo, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    src, _ = minilm_repo
    root = tmp_path / "repo"
    shutil.copytree(src, root, symlinks=True)
    monkeypatch.setenv("EDGE_GATE_BACKENDS", "hostile=hostile_backend:BACKEND")
    monkeypatch.setenv("PYTHONPATH", f"{TESTS}:{TESTS.parent}")
    run = make_runner(root)
    good = json.loads((root / "build/gate/minilm/targets/ort-int8-dynamic/measurements.json").read_text())
    manifest = root / "models/minilm/gate.yaml"
    manifest.write_text(manifest.read_text() + HOSTILE)
    run("gate", "plan")
    repro = run("dvc", "repro", "--keep-going", check=False)
    assert repro.returncode != 0
    assert "ort-int8-dynamic" not in "".join(l for l in repro.stdout.splitlines() if l.startswith("Running stage"))

    proc = run("gate", "decide", check=False)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    decision = json.loads((root / "build/gate/minilm/decision.json").read_text())
    assert decision["verdict"] == "error"
    by_name = {t["target"]: t for t in decision["targets"]}
    assert by_name["ort-int8-dynamic"]["verdict"] in ("pass", "fail", "inconclusive")
    expected = {
        "segv-at-load": "crashed (SIGSEGV)",
        "hang-at-optimize": "did not finish within its time limit of 5 s",
        "oom-at-load": "over its limit of 1073741824 bytes",
        "raise-at-optimize": "RuntimeError: hostile backend raised on purpose",
    }
    for name, fragment in expected.items():
        t = by_name[name]
        assert t["verdict"] == "error", t
        assert fragment in t["error"], t["error"]
    assert "stderr (tail)" in by_name["raise-at-optimize"]["error"]
    # nothing already measured was lost
    after = json.loads((root / "build/gate/minilm/targets/ort-int8-dynamic/measurements.json").read_text())
    assert after == good
    report = (root / "build/gate/minilm/report.md").read_text()
    assert "SIGSEGV" in report and "ERROR" in report
