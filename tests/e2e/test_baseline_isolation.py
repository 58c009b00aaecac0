"""The baseline stage runs isolated under the manifest's limits, like every optimize step.

Before, it ran in the stage's own process with no limits: still running at 45 s under
``timeout_s: 5``. Here its backend (a plugin) writes half a file and hangs: the stage is
killed at the limit, exit 3, the partial baseline is removed, and every target's decision is
ERROR naming the baseline failure, not a judgement of older measurements.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import REPO

pytestmark = pytest.mark.e2e
TESTS = Path(__file__).resolve().parents[1]


def test_a_hanging_baseline_is_killed_at_its_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gate.cli import main

    root = tmp_path / "repo"
    folder = root / "models" / "minilm"
    shutil.copytree(REPO / "examples" / "minilm", folder, ignore=shutil.ignore_patterns("make_eval.py"))
    doc = yaml.safe_load((folder / "gate.yaml").read_text())
    doc["baseline"] = {"backend": "hostile"}
    doc["limits"] = {"timeout_s": 3}
    doc["targets"] = doc["targets"][:2]
    (folder / "gate.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    monkeypatch.chdir(root)
    monkeypatch.setenv("EDGE_GATE_BACKENDS", "hostile=hostile_backend:BACKEND")
    monkeypatch.setenv("HOSTILE_BASELINE", "hang")
    monkeypatch.setenv("PYTHONPATH", str(TESTS))
    monkeypatch.syspath_prepend(str(TESTS))
    import hostile_backend

    from gate.backends import _registry

    # this process may have loaded its backends before the variable was set; the child reads it
    monkeypatch.setitem(_registry, "hostile", hostile_backend.BACKEND)
    assert main(["plan"]) == 0

    start = time.monotonic()
    assert main(["baseline", "models/minilm/gate.yaml"]) == 3
    took = time.monotonic() - start
    assert took < 20, took  # 3 s limit, plus reading the eval set and the child's imports
    assert not (root / "build/gate/minilm/baseline").exists()  # the partial file is gone

    assert main(["decide", "--quiet"]) == 3
    d = json.loads((root / "build/gate/minilm/decision.json").read_text())
    assert d["verdict"] == "error" and len(d["targets"]) == 2
    for t in d["targets"]:
        assert t["error"].startswith("baseline stage failed: baseline of minilm did not finish within its "
                                     "time limit of 3 s"), t["error"]
