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

from gate.verdict.decision import Decision

SCHEMA = "edge-gate/certificate/v1"
APPROVAL = {"pass": "approved", "waived": "approved", "fail": "rejected", "inconclusive": "needs-review",
            "error": "not-certified"}


def signature(files: list[dict[str, Any]]) -> str:
    """sha256 of the sorted ``path:sha256`` lines of an artifact's files."""
    lines = sorted(f"{f['path']}:{f['sha256']}" for f in files)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def certificate(decision: Decision, measurements: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The certificate of ``decision``; ``measurements`` maps target name to its document."""
    candidates = []
    for t in decision.targets:
        m = measurements.get(t.target)
        entry: dict[str, Any] = {
            "target": t.target, "target_id": t.target_id, "verdict": t.verdict.value,
            "approval": APPROVAL[t.verdict.value], "config_hash": t.config_hash,
        }
        if t.error:
            entry["error"] = t.error
        if m is not None:
            files = m["candidate"]["artifact"]["files"]
            entry |= {
                "signature_sha256": signature(files), "files": files,
                "baseline_signature_sha256": signature(m["baseline"]["artifact"]["files"]),
                "tool_versions": m["versions"],
                "hardware": {k: m["fingerprint"].get(k) for k in ("id", "cpu_model", "isa", "usable_cores")},
            }
        entry["gates"] = [
            {"rule": r.rule, "metric": r.metric, "value": r.value, "interval": [r.low, r.high],
             "bound": r.bound, "verdict": r.verdict.value, **({"waiver": r.waiver} if r.waiver else {})}
            for r in t.rules
        ]
        candidates.append(entry)
    return {
        "schema": SCHEMA, "model": decision.model, "issued_at": decision.decided_at,
        "approval": APPROVAL[decision.verdict.value], "verdict": decision.verdict.value,
        "manifest": decision.manifest, "manifest_sha256": decision.manifest_sha256,
        "policy": decision.policy, "policy_sha256": decision.policy_sha256, "candidates": candidates,
    }
