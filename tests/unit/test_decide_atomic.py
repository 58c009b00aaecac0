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
from typing import Any

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


@pytest.mark.parametrize(("edit", "said"), [
    (lambda d: d["candidate"]["metrics"].update(latency_p50_ms=0.001), "latency samples' median"),
    (lambda d: d["candidate"]["metrics"].update(model_size_bytes=1.0), "artifact's files add up to"),
    (lambda d: d["candidate"]["metrics"].update(model_memory_bytes=1.0), "processes' median"),
    (lambda d: d["candidate"]["metrics"].update(nn10_overlap=1.0), "mean of its 600 item scores"),
    (lambda d: d.update(schema="edge-gate/measurements/v9"), "is not 'edge-gate/measurements/v1'"),
    (lambda d: d.update(target="other"), "judged as"),
    (lambda d: d.update(primary_metric="cosine_mean"), "the manifest's is 'nn10_overlap'"),
])
def test_a_hand_edited_figure_is_an_error_not_a_verdict(repo: Path, edit: Any, said: str) -> None:
    """A figure edited in measurements.json before `gate decide` (attack: a forged 0.001 ms
    latency, a 1-byte size) no longer matches the samples and records it came with: ERROR."""
    from gate.config.loading import load_pair
    from gate.verdict.decision import decide
    from tests.factories import FAILING_OVERLAP, write_measurements

    loaded, policy = load_pair(repo / "gate.yaml")
    target = loaded.manifest.targets[0].name
    path = write_measurements(repo, loaded, target, FAILING_OVERLAP)
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    result = decide(loaded, policy, repo).target(target)
    assert result is not None and result.verdict.value == "error"
    assert result.error is not None and said in result.error, result.error
