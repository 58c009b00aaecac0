"""SARIF 2.1.0: rule failures as code-scanning results located in the manifest.

Schema: https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html (the subset GitHub
code scanning reads: https://docs.github.com/en/code-security/code-scanning/integrating-with-code-scanning/sarif-support-for-code-scanning).
Each non-passing rule of a target is one result at the target's entry in the manifest
(``file:line:column``); FAIL and ERROR are ``error``, INCONCLUSIVE is ``warning``, WAIVED is a
``note`` carrying an external suppression with the waiver's justification (shown, not dropped).
A platform where nothing ships is one more result (rule ``edge-gate/platform-blocked``) naming
it and every candidate's reason; the run's ``properties.releases`` says, per manifest and
platform, which candidate ships (``null``: none) and why.
"""

from __future__ import annotations

from typing import Any

import gate
from gate.reports.collect import PLATFORM_RULE, Finding, Reported, findings

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"error": "error", "fail": "error", "inconclusive": "warning", "waived": "note"}
#: ruleId of a finding that is not a policy rule: the target (or manifest) was not judged.
NOT_JUDGED = "edge-gate/not-judged"


def _result(f: Finding) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": f.rule or NOT_JUDGED,
        "level": LEVELS[f.kind],
        "message": {"text": f"{f.model} · {f.target_id} · {f.kind.upper()}: {f.message}"},
        "locations": [{
            "physicalLocation": {
                "artifactLocation": {"uri": f.file, "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": f.line, "startColumn": f.column},
            },
        }],
        "partialFingerprints": {"edgeGateTarget/v1": f"{f.model}/{f.target_id}/{f.rule or '-'}"},
    }
    if f.kind == "waived":
        result["suppressions"] = [{"kind": "external", "justification": f.message}]
    return result


def render_sarif(reported: list[Reported]) -> dict[str, Any]:
    """The run as a SARIF 2.1.0 log (a JSON-ready dict) with one run of tool ``edge-gate``."""
    rules: dict[str, dict[str, Any]] = {
        NOT_JUDGED: {"id": NOT_JUDGED, "shortDescription": {"text": "The target could not be measured or judged"}},
    }
    found = findings(reported)
    if any(f.rule == PLATFORM_RULE for f in found):
        rules[PLATFORM_RULE] = {"id": PLATFORM_RULE,
                                "shortDescription": {"text": "No candidate of this platform can ship"}}
    releases = {rep.model: {p.platform: {"ships": p.release, "reason": p.reason,
                                         "candidates": {n: ("ships" if (t := rep.decision.target(n)) and t.ships
                                                            else t.why_not if t else "") for n in p.candidates}}
                            for p in rep.decision.platforms}
                for rep in reported if rep.decision is not None}
    for rep in reported:
        for t in rep.decision.targets if rep.decision else []:
            for r in t.rules:
                rules.setdefault(r.rule, {
                    "id": r.rule,
                    "shortDescription": {"text": r.description or r.rule},
                    "properties": {"metric": r.metric, "compare": r.compare, "threshold": r.bound},
                })
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "edge-gate", "version": gate.__version__,
                "rules": list(rules.values()),
            }},
            "results": [_result(f) for f in found],
            "properties": {"releases": releases},
        }],
    }
