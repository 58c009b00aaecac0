"""What every document shares: the verdicts and :func:`passes`, schema versions, the generic
metrics, atomic writes and reading with one-line errors (:mod:`gate.documents`)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from gate.errors import DocumentError

ARTIFACT_SCHEMA = "edge-gate/artifact/v1"
MEASUREMENTS_SCHEMA = "edge-gate/measurements/v1"
#: v2: per-platform results (``platforms``), ``required``/``ships``/``why_not`` per target
DECISION_SCHEMA = "edge-gate/decision/v2"
ARTIFACT_FILE = "artifact.json"

#: Metrics every measurement has, with the direction in which they are better. All of them
#: are physical quantities that are never negative (ms, bytes, items/s, or ratios of those).
GENERIC_METRICS: dict[str, Literal["lower", "higher"]] = {
    "latency_p50_ms": "lower",
    "latency_p90_ms": "lower",
    "latency_p99_ms": "lower",
    "throughput_items_per_s": "higher",
    "peak_rss_bytes": "lower",
    "model_memory_bytes": "lower",
    "model_size_bytes": "lower",
    "latency_cv": "lower",  # stdev / mean of the timed runs
    "latency_tail_ratio": "lower",  # p99 / p50
    "latency_drift_ratio": "lower",  # median of the later rounds' medians / the earlier rounds'
    "load_throughput_items_per_s": "higher",  # under the manifest's measure.load_test
    "load_latency_p99_ms": "lower",
}
ROLES = ("baseline", "candidate")


class Verdict(StrEnum):
    """The outcome of one rule, one target, one platform or one decision."""

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"
    WAIVED = "waived"


def passes(verdict: Verdict | str) -> bool:
    """True for a verdict that lets a candidate ship: PASS, or WAIVED (every failure of it
    is covered by an unexpired waiver). FAIL, INCONCLUSIVE and ERROR never pass here; what
    INCONCLUSIVE does to the exit code is the policy's ``inconclusive`` mode
    (:func:`gate.verdict.decision.exit_code_for`)."""
    return str(verdict) in (Verdict.PASS.value, Verdict.WAIVED.value)


def worst(verdicts: Iterable[Verdict]) -> Verdict:
    """Combine verdicts: any ERROR, else any FAIL, else any INCONCLUSIVE, else PASS.

    WAIVED counts as PASS here (the waiver itself stays visible in the rule's result); an
    empty list is an ERROR, because nothing was checked.
    """
    found = list(verdicts)
    if not found:
        return Verdict.ERROR
    for level in (Verdict.ERROR, Verdict.FAIL, Verdict.INCONCLUSIVE):
        if level in found:
            return level
    return Verdict.PASS


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to ``path`` through a temporary file and ``os.replace`` (a crash never
    leaves half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


class _Doc(BaseModel):
    """A document model: ``schema`` on disk is ``schema_`` in Python (pydantic reserves the
    name); both are accepted when reading, the alias is written."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    def dump(self) -> dict[str, Any]:
        """The JSON-ready dict written to disk."""
        return self.model_dump(mode="json", by_alias=True)


D = TypeVar("D", bound=_Doc)


class PhysicalError(ValueError):
    """A measurements document that cannot describe a real measurement (see :func:`physical_problem`)."""


def read_document(cls: type[D], path: Path, what: str) -> D:
    """Read and validate ``path`` as ``cls``.

    Raises:
        DocumentError: the file is missing, not JSON, or does not fit the schema; the message
            starts with ``unphysical`` when a value is not physical (:func:`physical_problem`).
    """
    if not path.is_file():
        raise DocumentError(f"no {what}: {path} does not exist")
    try:
        return cls.model_validate_json(path.read_text())
    except ValidationError as exc:
        raise DocumentError(describe_error(exc, what, str(path))) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DocumentError(f"unreadable {what} {path}: {exc}") from None


def describe_error(exc: ValidationError, what: str, where: str) -> str:
    """One line for a validation error of a document: ``unphysical`` or ``malformed``."""
    errors = exc.errors()
    for err in errors:
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, PhysicalError):
            return f"unphysical {what} {where}: {cause}"
    first = errors[0] if errors else {"loc": (), "msg": str(exc)}
    loc = ".".join(str(x) for x in first["loc"]) or "(document)"
    return f"malformed {what} {where}: {loc}: {first['msg']} ({len(errors)} problem(s))"
