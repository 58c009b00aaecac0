"""The certification report: what was approved, exactly which bytes, measured how.

One JSON document per manifest (``build/gate/<model>/certificate.json``), attached to the
MLflow run by ``gate record``. Per candidate: the model signature (sha256 over the sorted
``path:sha256`` lines of every file of the artifact), each gate's result with its interval,
the tool versions and the hardware it was measured on. ``approval`` follows the verdict:
``approved`` (pass), ``rejected`` (fail), ``needs-review`` (inconclusive) or ``not-certified``
(error). A formatter: it reads the decision, it never decides.
"""

from __future__ import annotations

import hashlib
from typing import Any

from gate.documents import Decision, FileRecord, Measurements, Verdict, passes

SCHEMA = "edge-gate/certificate/v1"
APPROVAL = {"fail": "rejected", "inconclusive": "needs-review", "error": "not-certified"}


def approval(verdict: Verdict) -> str:
    """``approved`` for a passing verdict (:func:`gate.documents.passes`), else by :data:`APPROVAL`."""
    return "approved" if passes(verdict) else APPROVAL[verdict.value]


def signature(files: list[FileRecord]) -> str:
    """sha256 of the sorted ``path:sha256`` lines of an artifact's files."""
    lines = sorted(f"{f.path}:{f.sha256}" for f in files)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def certificate(decision: Decision, measurements: dict[str, Measurements]) -> dict[str, Any]:
    """The certificate of ``decision``; ``measurements`` maps target name to its document."""
    candidates = []
    for t in decision.targets:
        m = measurements.get(t.target)
        entry: dict[str, Any] = {
            "target": t.target, "target_id": t.target_id, "verdict": t.verdict.value,
            "approval": approval(t.verdict), "config_hash": t.config_hash, "platform": t.platform,
            "ships": t.ships, **({} if t.ships else {"why_not": t.why_not}),
        }
        if t.error:
            entry["error"] = t.error
        if m is not None:
            files = m.candidate.artifact.files
            entry |= {
                "signature_sha256": signature(files), "files": [f.model_dump(mode="json") for f in files],
                "baseline_signature_sha256": signature(m.baseline.artifact.files),
                "tool_versions": m.versions,
                "hardware": m.fingerprint.model_dump(mode="json", include={"id", "cpu_model", "isa", "usable_cores"}),
            }
        entry["gates"] = [
            {"rule": r.rule, "metric": r.metric, "value": r.value, "interval": [r.low, r.high],
             "bound": r.bound, "verdict": r.verdict.value, **({"waiver": r.waiver} if r.waiver else {})}
            for r in t.rules
        ]
        candidates.append(entry)
    return {
        "schema": SCHEMA, "model": decision.model, "issued_at": decision.decided_at,
        "approval": approval(decision.verdict), "verdict": decision.verdict.value,
        "releases": {p.platform: p.release for p in decision.platforms},
        "manifest": decision.manifest, "manifest_sha256": decision.manifest_sha256,
        "policy": decision.policy, "policy_sha256": decision.policy_sha256, "candidates": candidates,
    }
