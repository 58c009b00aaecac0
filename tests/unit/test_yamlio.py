"""The strict YAML loader: YAML 1.2 core-schema typing, duplicates, locations."""

from __future__ import annotations

from pathlib import Path

import pytest

from gate.config.yamlio import MAX_CONFIG_BYTES, load_yaml
from gate.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "x.yaml"
    path.write_text(text)
    return path


def test_core_schema_typing(tmp_path: Path) -> None:
    doc = load_yaml(write(tmp_path, "a: no\nb: 1e-3\nc: 3.10\nd: true\ne: on\nf: 0x10\ng: '3.10'\nh: 2026-01-01\n"))
    assert doc.data == {"a": "no", "b": 0.001, "c": 3.1, "d": True, "e": "on", "f": 16, "g": "3.10",
                        "h": "2026-01-01"}


def test_locations_point_at_keys(tmp_path: Path) -> None:
    doc = load_yaml(write(tmp_path, "top:\n  list:\n    - x: 1\n    - y: 2\n"))
    assert doc.where(("top", "list", 1, "y")).endswith("x.yaml:4:7")
    assert doc.where(("top", "missing")).endswith("x.yaml:1:1")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\na: 2\n", "x.yaml:2:1: duplicate key 'a'"),
        ("a:\n\tb: 1\n", "x.yaml:2:1: tab used for indentation"),
        ("1: a\n", "key 1 must be a string"),
        ("base: &b {x: 1}\nother:\n  <<: *b\n", "x.yaml:3:7: invalid YAML: alias .b refused"),
        ("a: [1\n", "invalid YAML"),
        ("a: 1\n---\nb: 2\n", "invalid YAML"),
    ],
)
def test_rejections(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_yaml(write(tmp_path, text))


def test_huge_and_binary_files(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("a: " + "x" * MAX_CONFIG_BYTES)
    with pytest.raises(ConfigError, match="limit"):
        load_yaml(big)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00a")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_yaml(binary)
    with pytest.raises(ConfigError, match="file not found"):
        load_yaml(tmp_path / "absent.yaml")


def test_alias_bomb_is_refused_before_expansion(tmp_path: Path) -> None:
    """Nine levels of nine aliases each would expand to 9**9 strings; refused at the first alias."""
    import time

    lines = ['a0: &a0 ["lol"]'] + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    path = write(tmp_path, "\n".join(lines) + "\n")
    start = time.monotonic()
    with pytest.raises(ConfigError, match=r"x.yaml:2:\d+: invalid YAML: alias \*a0 refused"):
        load_yaml(path)
    assert time.monotonic() - start < 1.0
