"""Positive and negative manifests and policies under tests/data, parametrized from the files.

Each negative file starts with ``# expect: LINE | FRAGMENT``: `gate validate` must exit 2 and
print exactly one line that starts with ``<file>:LINE:`` and contains FRAGMENT, no traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gate.cli import main

DATA = Path(__file__).resolve().parent.parent / "data"
NEGATIVE = sorted((DATA / "manifests" / "negative").glob("*.yaml")) + sorted(
    (DATA / "policies" / "negative").glob("*.yaml")
)
POSITIVE = sorted((DATA / "manifests" / "positive").glob("*.yaml")) + sorted(
    (DATA / "policies" / "positive").glob("*.yaml")
)


def expectation(path: Path) -> tuple[str, str]:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path} lacks its '# expect:' line"
    line, _, fragment = first.removeprefix("# expect: ").partition(" | ")
    return line, fragment


@pytest.mark.parametrize("path", POSITIVE, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_positive_files_validate(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(path)]) == 0
    assert "valid" in capsys.readouterr().out


@pytest.mark.parametrize("path", NEGATIVE, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_negative_files_exit_2_with_one_located_line(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line, fragment = expectation(path)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    prefix = f"error: {path}:"
    assert err.startswith(prefix), err
    if line != "*":
        assert err.startswith(f"{prefix}{line}:"), err
    assert fragment in err, err
