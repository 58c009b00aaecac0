"""The typed documents (gate.documents): schema versions, physical checks, one "passes"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gate.documents import (
    ARTIFACT_SCHEMA,
    MEASUREMENTS_SCHEMA,
    Artifact,
    Measurements,
    Verdict,
    passes,
    worst,
)
from gate.errors import DocumentError
from tests.factories import PASSING, measurements


def test_only_pass_and_waived_pass() -> None:
    assert [v.value for v in Verdict if passes(v)] == ["pass", "waived"]
    assert passes("waived") and not passes("inconclusive")
    assert worst([Verdict.PASS, Verdict.WAIVED]) == Verdict.PASS and worst([]) == Verdict.ERROR
    assert worst([Verdict.INCONCLUSIVE, Verdict.ERROR, Verdict.FAIL]) == Verdict.ERROR


def test_documents_carry_their_schema_version(tmp_path: Path) -> None:
    m = measurements("m", "t", "c" * 16, PASSING)
    data = m.dump()
    assert data["schema"] == MEASUREMENTS_SCHEMA and data["candidate"]["artifact"]["schema"] == ARTIFACT_SCHEMA
    m.write(tmp_path / "measurements.json")
    assert Measurements.read(tmp_path / "measurements.json") == m
    art = m.candidate.artifact
    art.write(tmp_path)
    assert json.loads((tmp_path / "artifact.json").read_text())["schema"] == ARTIFACT_SCHEMA
    assert Artifact.read(tmp_path) == art
    # an artifact.json written before the schema field still reads (the version is filled in)
    old = {k: v for k, v in art.dump().items() if k != "schema"}
    assert Artifact.model_validate(old) == art


@pytest.mark.parametrize(("metric", "value", "why"), [
    ("latency_p50_ms", -5.0, "candidate latency_p50_ms is -5.0: a latency, memory, size or rate is never negative"),
    ("model_memory_bytes", True, "candidate model_memory_bytes is True, not a finite number"),
    ("model_size_bytes", "1e6", "candidate model_size_bytes is '1e6', not a finite number"),
    ("nn10_overlap", None, "candidate nn10_overlap is None, not a finite number"),
    ("nn10_overlap", float("nan"), "candidate nn10_overlap is nan, not a finite number"),
])
def test_unphysical_values_are_refused_by_the_model(tmp_path: Path, metric: str, value: object, why: str) -> None:
    data = measurements("m", "t", "c" * 16, PASSING).dump()
    data["candidate"]["metrics"][metric] = value
    path = tmp_path / "measurements.json"
    path.write_text(json.dumps(data))
    with pytest.raises(DocumentError, match="^unphysical measurements") as err:
        Measurements.read(path)
    assert why in str(err.value)
    with pytest.raises(DocumentError, match="unphysical"):
        Measurements.from_dict(data, "in memory")


def test_a_negative_latency_sample_or_a_missing_side_is_refused(tmp_path: Path) -> None:
    data = measurements("m", "t", "c" * 16, PASSING).dump()
    data["samples"]["latency_rounds_ms"]["baseline"][2][3] = -1.0
    with pytest.raises(DocumentError, match="baseline latency sample -1.0 ms is not a finite non-negative number"):
        Measurements.from_dict(data, "x")
    data = measurements("m", "t", "c" * 16, PASSING).dump()
    del data["baseline"]
    with pytest.raises(DocumentError, match=r"^malformed measurements x: baseline: Field required"):
        Measurements.from_dict(data, "x")
    with pytest.raises(DocumentError, match="no measurements"):
        Measurements.read(tmp_path / "absent.json")
