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

from gate.documents.artifact_record import Artifact, FileRecord
from gate.documents.core import (
    ARTIFACT_FILE,
    ARTIFACT_SCHEMA,
    DECISION_SCHEMA,
    GENERIC_METRICS,
    MEASUREMENTS_SCHEMA,
    ROLES,
    PhysicalError,
    Verdict,
    describe_error,
    passes,
    read_document,
    worst,
    write_json_atomic,
)
from gate.documents.decided import (
    Decision,
    NearestMiss,
    PlatformResult,
    RuleMargin,
    RuleResult,
    TargetResult,
)
from gate.documents.measured import Fingerprint, Measurements, Samples, Side, physical_problem

__all__ = [
    "ARTIFACT_FILE", "ARTIFACT_SCHEMA", "DECISION_SCHEMA", "GENERIC_METRICS", "MEASUREMENTS_SCHEMA", "ROLES",
    "Artifact", "Decision", "FileRecord", "Fingerprint", "Measurements", "NearestMiss", "PhysicalError",
    "PlatformResult", "RuleMargin", "RuleResult", "Samples", "Side", "TargetResult", "Verdict", "describe_error",
    "passes", "physical_problem", "read_document", "worst", "write_json_atomic",
]
