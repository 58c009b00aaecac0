"""``measurements.json``: one target's baseline and candidate measured side by side, with the
physical checks that are part of its schema (:func:`physical_problem`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gate.documents.artifact_record import Artifact
from gate.documents.core import (
    GENERIC_METRICS,
    MEASUREMENTS_SCHEMA,
    ROLES,
    PhysicalError,
    _Doc,
    describe_error,
    read_document,
    write_json_atomic,
)
from gate.errors import DocumentError


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def physical_problem(doc: Mapping[str, Any]) -> str | None:
    """Why a measurements document cannot describe a real measurement, or None.

    Every metric must be a finite number (a boolean is not one); the generic ones (latency
    in ms, memory and sizes in bytes, throughput in items/s; :data:`GENERIC_METRICS`) and every
    latency sample must also be non-negative. Task metrics (a cosine may be negative) are only
    required to be finite. Parts that are absent or of the wrong shape are left to the schema.
    """
    for role in ROLES:
        side = doc.get(role)
        metrics = side.get("metrics") if isinstance(side, Mapping) else None
        for name, value in (metrics.items() if isinstance(metrics, Mapping) else ()):
            if not _number(value):
                return f"{role} {name} is {value!r}, not a finite number"
            if name in GENERIC_METRICS and value < 0:
                return f"{role} {name} is {value!r}: a latency, memory, size or rate is never negative"
        samples = doc.get("samples")
        rounds = samples.get("latency_rounds_ms") if isinstance(samples, Mapping) else None
        mine = rounds.get(role) if isinstance(rounds, Mapping) else None
        for r in mine if isinstance(mine, list) else ():
            for sample in r if isinstance(r, list) else [r]:
                if not _number(sample) or sample < 0:
                    return f"{role} latency sample {sample!r} ms is not a finite non-negative number"
    return None


class Fingerprint(BaseModel):
    """The hardware a side ran on: ``id`` (a hash of CPU model, ISA flags and cores) plus the
    facts it was computed from (``cpu_model``, ``isa``, ``usable_cores``, ...)."""

    model_config = ConfigDict(extra="allow")

    id: str
    cpu_model: str = ""
    isa: list[str] = Field(default_factory=list)
    usable_cores: int | None = None


class Side(BaseModel):
    """One side (baseline or candidate) of a measurement. Bytes for memory, seconds for
    ``load_s``; ``metrics`` are the flat figures policies name."""

    model_config = ConfigDict(extra="allow")

    artifact: Artifact
    metrics: dict[str, float]
    latency: dict[str, Any] = Field(default_factory=dict)
    rss_before_load_bytes: float | None = Field(default=None, ge=0)
    rss_after_load_bytes: float | None = Field(default=None, ge=0)
    peak_rss_bytes: float | None = Field(default=None, ge=0)
    model_memory_bytes: float | None = None
    load_s: float | None = None
    fingerprint: Fingerprint
    runtime: dict[str, Any] = Field(default_factory=dict)
    #: the timed call (``bind`` or ``run``) and the timer's own overhead in ms (``timer_overhead_ms``)
    timing: dict[str, Any] = Field(default_factory=dict)
    load_test: dict[str, Any] | None = None
    llm: dict[str, Any] | None = None
    #: classifiers: the spread of top-1 classes (``top_class``, ``top_share``, ``items``,
    #: ``distinct_classes``), for the collapse note of the decision
    predictions: dict[str, Any] | None = None


class Samples(BaseModel):
    """Raw samples the intervals resample (:mod:`gate.verdict.intervals`), each keyed by role:
    ``latency_rounds_ms[role][round][i]`` (ms), ``memory[role][process]`` (bytes per figure),
    ``items[role][key][item]`` (per-item task scores), ``runs[metric][role][run]``,
    ``load_latency_ms[role][request]`` (ms)."""

    model_config = ConfigDict(extra="allow")

    latency_rounds_ms: dict[str, list[list[float]]] = Field(default_factory=dict)
    memory: dict[str, list[dict[str, float]]] = Field(default_factory=dict)
    items: dict[str, dict[str, list[float]]] = Field(default_factory=dict)
    runs: dict[str, dict[str, list[float]]] = Field(default_factory=dict)
    load_latency_ms: dict[str, list[float]] = Field(default_factory=dict)


class Measurements(_Doc):
    """One target's ``measurements.json`` (see the module docstring)."""

    model_config = ConfigDict(extra="allow", validate_by_name=True, validate_by_alias=True,
                              serialize_by_alias=True)

    schema_: str = Field(default=MEASUREMENTS_SCHEMA, alias="schema")
    model: str
    target: str
    target_id: str = ""
    config_hash: str
    inputs_sha256: str = ""
    primary_metric: str
    eval_items: int = Field(default=0, ge=0)
    settings: dict[str, Any] = Field(default_factory=dict)
    fingerprint: Fingerprint
    versions: dict[str, Any] = Field(default_factory=dict)
    baseline: Side
    candidate: Side
    samples: Samples = Field(default_factory=Samples)
    bandwidth: dict[str, Any] | None = None
    #: warnings the measure stage recorded (e.g. a baseline that does not stand for its source)
    notes: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _physical(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            problem = physical_problem(data)
            if problem is not None:
                raise PhysicalError(problem)
        return data

    def side(self, role: str) -> Side:
        """``baseline`` or ``candidate``."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {role!r}")
        return self.baseline if role == "baseline" else self.candidate

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> Measurements:
        """Validate a document built in memory (the measure stage's, before it writes it).

        Raises:
            DocumentError: it does not fit the schema or is not physical (exit 3).
        """
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise DocumentError(describe_error(exc, "measurements", where)) from None

    def write(self, path: Path) -> None:
        """Write atomically (the measure stage's one write)."""
        write_json_atomic(path, self.dump())

    @classmethod
    def read(cls, path: Path) -> Measurements:
        """Read and validate (:func:`read_document`; raises DocumentError)."""
        return read_document(cls, path, "measurements")
