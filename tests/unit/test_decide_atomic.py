"""A decide that cannot finish leaves no decision.json (attack: a full disk during decide left
the previous decision.json saying pass, and `gate record` recorded it as the new one).

`gate decide` removes the previous decision.json first and writes the new one last, after the
report and certificate it summarises. Here writing the report fails (its path is a folder, as
an unwritable or full disk would make any write fail): exit 3, and no decision.json at all.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from gate import layout
from gate.cli import main

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / ".git").mkdir()
    shutil.copytree(DATA.parents[1] / "policies", tmp_path / "policies")
    shutil.copy(DATA / "sentences-20.txt", tmp_path)
    data = yaml.safe_load((DATA / "manifests" / "positive" / "minimal.yaml").read_text())
    data["eval"]["data"] = "sentences-20.txt"
    (tmp_path / "gate.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_decide_that_fails_to_write_leaves_no_decision(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gate.config.loading import load_pair
    from tests.factories import PASSING, write_measurements

    loaded, _ = load_pair(repo / "gate.yaml")
    name = loaded.manifest.name
    for t in loaded.manifest.targets:
        write_measurements(repo, loaded, t.name, PASSING)
    assert main(["decide", "--quiet", "gate.yaml"]) == 0
    decision = repo / layout.decision_file(name)
    assert json.loads(decision.read_text())["verdict"] == "pass"

    report = repo / layout.report_file(name)
    report.unlink()
    report.mkdir()  # the next report cannot be written
    assert main(["decide", "--quiet", "gate.yaml"]) == 3
    assert not decision.exists(), "the previous PASS must not stand for a decide that failed"
    assert "error" in capsys.readouterr().err
