"""`gate gather` places the legs' measurements and never deletes what it did not replace."""

from __future__ import annotations

from pathlib import Path

import pytest

from gate.cli import main


def test_an_empty_download_folder_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    earlier = tmp_path / "build/gate/m/targets/t/measurements.json"
    earlier.parent.mkdir(parents=True)
    earlier.write_text('{"measured": "earlier"}')
    (tmp_path / "legs").mkdir()
    assert main(["gather", "legs"]) == 2
    assert "holds no edge-gate leg artifact" in capsys.readouterr().err
    assert earlier.read_text() == '{"measured": "earlier"}'

    leg = tmp_path / "legs/edge-gate.m.u"
    leg.mkdir()
    (leg / "measurements.json").write_text('{"measured": "now"}')
    assert main(["gather", "legs"]) == 0
    out = capsys.readouterr().out
    assert "kept build/gate/m/targets/t/measurements.json: no leg of this run replaced it" in out
    assert earlier.read_text() == '{"measured": "earlier"}'
    assert (tmp_path / "build/gate/m/targets/u/measurements.json").read_text() == '{"measured": "now"}'
