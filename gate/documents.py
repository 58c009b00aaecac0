"""The documents edge-gate writes and reads, as typed models with a schema version.

* ``artifact.json`` (:class:`Artifact`, schema :data:`ARTIFACT_SCHEMA`): an artifact folder's
  files (path, size in bytes, sha256), format, backend, precision and recipe details;
* ``measurements.json`` (:class:`Measurements`, :data:`MEASUREMENTS_SCHEMA`): one target's
  baseline and candidate measured side by side: per side the flat metrics policies name
  (latency in ms, memory and sizes in bytes, throughput in items/s, task metrics), the raw
  samples the intervals resample, the hardware fingerprint, settings and tool versions;
* ``decision.json`` (:class:`Decision`, :data:`DECISION_SCHEMA`): every rule's verdict per
  target, the verdict per platform with the candidate it ships, and the manifest's verdict
  and exit code.

Every writer and reader goes through these models, so a document that does not fit its
schema is refused where it is read (:class:`gate.errors.DocumentError`, exit 3), never read
by string keys that may be absent. Physical plausibility is part of the measurements'
schema (:func:`physical_problem`): every metric is a finite number (a boolean is not one),
and a latency, memory, size or rate (:data:`GENERIC_METRICS`) or a latency sample is never
negative. Models keep keys they do not know (``extra="allow"``) on the measurement side, so a
stage can add figures without a schema change; the decision is closed.

:func:`passes` is the one answer to "does this verdict pass" (PASS, or WAIVED: a failure
accepted by an unexpired waiver). This module imports only pydantic and light helpers, so
stages, the verdict, reports and lineage all import it without a cycle.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gate.config.schema import sha256_file
from gate.errors import ConfigError, DocumentError

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


# --- artifact.json ---------------------------------------------------------------------------


class FileRecord(BaseModel):
    """One file of an artifact: path relative to the artifact folder, size (bytes), sha256."""

    path: str
    size_bytes: int = Field(ge=0)
    sha256: str


class Artifact(_Doc):
    """Description of an artifact folder (written as its ``artifact.json``).

    ``files`` lists every file that makes up the model (e.g. an ``.onnx`` and its external
    data), so that size and hashes cover all of them.
    """

    schema_: str = Field(default=ARTIFACT_SCHEMA, alias="schema")
    format: str
    backend: str
    precision: str
    entry: str = Field(description="the file a runtime opens, relative to the folder")
    files: list[FileRecord]
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def size_bytes(self) -> int:
        return sum(f.size_bytes for f in self.files)

    @classmethod
    def describe(
        cls, folder: Path, *, fmt: str, backend: str, precision: str, entry: str,
        details: Mapping[str, Any] | None = None, extra_files: list[str] | None = None,
    ) -> Artifact:
        """Hash and size ``entry`` and ``extra_files`` inside ``folder``."""
        names = [entry, *(extra_files or [])]
        files = [
            FileRecord(path=n, size_bytes=(folder / n).stat().st_size, sha256=sha256_file(folder / n))
            for n in names
        ]
        return cls(format=fmt, backend=backend, precision=precision, entry=entry, files=files,
                   details=dict(details or {}))

    def write(self, folder: Path) -> None:
        """Write ``artifact.json`` atomically."""
        write_json_atomic(folder / ARTIFACT_FILE, self.dump())

    @classmethod
    def read(cls, folder: Path) -> Artifact:
        """Read ``folder/artifact.json``.

        Raises:
            ConfigError: the folder holds no artifact description, or it is malformed.
        """
        path = folder / ARTIFACT_FILE
        if not path.is_file():
            raise ConfigError(f"no {ARTIFACT_FILE} in {folder}: the stage that builds it has not run")
        try:
            return cls.model_validate_json(path.read_text())
        except ValueError as exc:
            raise ConfigError(f"malformed artifact description: {exc}", location=str(path)) from None


# --- measurements.json -----------------------------------------------------------------------


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
    isa: list[str] = []
    usable_cores: int | None = None


class Side(BaseModel):
    """One side (baseline or candidate) of a measurement. Bytes for memory, seconds for
    ``load_s``; ``metrics`` are the flat figures policies name."""

    model_config = ConfigDict(extra="allow")

    artifact: Artifact
    metrics: dict[str, float]
    latency: dict[str, Any] = {}
    rss_before_load_bytes: float | None = Field(default=None, ge=0)
    rss_after_load_bytes: float | None = Field(default=None, ge=0)
    peak_rss_bytes: float | None = Field(default=None, ge=0)
    model_memory_bytes: float | None = None
    load_s: float | None = None
    fingerprint: Fingerprint
    runtime: dict[str, Any] = {}
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

    latency_rounds_ms: dict[str, list[list[float]]] = {}
    memory: dict[str, list[dict[str, float]]] = {}
    items: dict[str, dict[str, list[float]]] = {}
    runs: dict[str, dict[str, list[float]]] = {}
    load_latency_ms: dict[str, list[float]] = {}


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
    settings: dict[str, Any] = {}
    fingerprint: Fingerprint
    versions: dict[str, str] = {}
    baseline: Side
    candidate: Side
    samples: Samples = Samples()
    bandwidth: dict[str, Any] | None = None

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


# --- decision.json ---------------------------------------------------------------------------


class RuleResult(BaseModel):
    """One rule on one target, with the numbers behind its verdict (interval at ``confidence``)."""

    rule: str
    description: str
    metric: str
    compare: str
    bound: str
    min: float | None
    max: float | None
    baseline: float | None = None
    candidate: float | None = None
    value: float | None = None
    low: float | None = None
    high: float | None = None
    confidence: float | None = None
    method: str | None = None
    verdict: Verdict
    reason: str
    waiver: dict[str, Any] | None = None


class TargetResult(BaseModel):
    """All rules on one target (one candidate for its platform).

    ``point`` holds its Pareto axes (:mod:`gate.verdict.pareto`). ``ships`` is True for the
    platform's release; otherwise ``why_not`` says why this candidate does not ship.
    """

    target: str
    target_id: str
    backend: str
    platform: str
    verdict: Verdict
    required: bool = False
    error: str | None = None
    rules: list[RuleResult] = []
    measurements: str | None = None
    measurements_sha256: str | None = None
    config_hash: str
    fingerprint: dict[str, Any] | None = None
    backend_choice: str | None = None
    point: dict[str, float] | None = None
    on_frontier: bool = False
    score: float | None = None
    recommended: bool = False
    ships: bool = False
    why_not: str = ""


class RuleMargin(BaseModel):
    """How far one rule of a candidate is from its bound. ``margin`` is signed, in the rule's
    value units, measured from the interval's end that must clear the bound (``low`` for a
    ``min``, ``high`` for a ``max``): >= 0 clears it. ``relative`` is ``margin / |bound|``."""

    rule: str
    verdict: Verdict
    value: float | None
    low: float | None
    high: float | None
    bound: str
    margin: float | None
    relative: float | None


class NearestMiss(BaseModel):
    """The candidate of a platform closest to passing: the smallest total relative shortfall
    over its rules (:mod:`gate.verdict.release`)."""

    target: str
    shortfall: float
    rules: list[RuleMargin]


class PlatformResult(BaseModel):
    """One platform (device) of the manifest: its candidates are alternatives.

    ``release`` is the candidate that ships (the recommended passing one) or None;
    ``reason`` says why in one line.
    """

    platform: str
    verdict: Verdict
    candidates: list[str]
    required: list[str] = []
    release: str | None = None
    reason: str = ""
    frontier: list[str] = []
    nearest_miss: NearestMiss | None = None


class Decision(_Doc):
    """The outcome for one manifest (``decision.json``). ``exit_code`` is the check's exit
    code, computed once by :func:`gate.verdict.decision.exit_code_for`."""

    schema_: str = Field(default=DECISION_SCHEMA, alias="schema")
    model: str
    task: str
    manifest: str
    manifest_sha256: str
    #: sha256 of the source model (:func:`gate.config.schema.sha256_tree`) and of the eval set
    source_sha256: str = ""
    eval_sha256: str = ""
    policy: str
    policy_path: str
    policy_sha256: str
    primary_metric: str
    verdict: Verdict
    exit_code: int
    inconclusive_mode: str = "block"
    decided_at: str
    targets: list[TargetResult]
    platforms: list[PlatformResult] = []
    notes: list[str] = []
    frontier: list[str] = []
    recommendation: str | None = None
    recommendation_reason: str = ""
    selection_weights: dict[str, float] = {}

    def target(self, name: str) -> TargetResult | None:
        """The result of target ``name``, or None."""
        return next((t for t in self.targets if t.target == name), None)

    def platform(self, name: str) -> PlatformResult | None:
        """The result of platform ``name``, or None."""
        return next((p for p in self.platforms if p.platform == name), None)

    def releases(self) -> dict[str, TargetResult]:
        """``{platform: the target that ships there}`` for the platforms that have one."""
        out = {}
        for p in self.platforms:
            t = self.target(p.release) if p.release else None
            if t is not None:
                out[p.platform] = t
        return out

    def blocked_platforms(self) -> list[str]:
        """The platforms whose verdict does not pass, in manifest order."""
        return [p.platform for p in self.platforms if not passes(p.verdict)]

    @classmethod
    def read(cls, path: Path) -> Decision:
        """Read and validate (:func:`read_document`; raises DocumentError)."""
        return read_document(cls, path, "decision")
