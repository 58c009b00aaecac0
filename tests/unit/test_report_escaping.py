"""Text that comes from a manifest cannot inject markup into the PR comment."""

from __future__ import annotations

import re

from gate.reports.markdown import code, escape, render_markdown
from gate.verdict.decision import Decision, RuleResult, TargetResult
from gate.verdict.rules import Verdict

EVIL = "<img src=x onerror=alert(1)> [click](https://evil.example) | **bold** `tick` <!-- x -->\nline"


def decision_with(text: str) -> Decision:
    rule = RuleResult(rule="speed-up", description=text, metric="latency_p50_ms", compare="speedup",
                      bound=">= 2", min=2.0, max=None, baseline=20.0, candidate=12.0, value=1.67, low=1.5,
                      high=1.8, verdict=Verdict.WAIVED, reason=f"waived by {text}")
    target = TargetResult(target="t", target_id="x86-cpu/onnxruntime/t", backend="onnxruntime",
                          platform="x86-cpu", verdict=Verdict.PASS, rules=[rule], config_hash="c")
    return Decision(model="m", task="sentence-embedding", manifest=f"models/{text}/gate.yaml", manifest_sha256="0",
                    policy="edge-default", policy_path="p", policy_sha256="0", primary_metric="nn10_overlap",
                    verdict=Verdict.PASS, exit_code=0, decided_at="2026-11-29T00:00:00+00:00",
                    targets=[target], notes=[text])


def test_manifest_text_is_escaped_everywhere() -> None:
    md = render_markdown(decision_with(EVIL))
    marker, body = md.split("\n", 1)
    assert marker == "<!-- edge-gate report: m -->"  # the report's own marker, not manifest text
    outside_code = re.sub(r"(?<!\\)`[^`\n]*(?<!\\)`", "", body)  # a code span shows its text literally
    assert not re.search(r"(?<!\\)<(img|!--)", outside_code)
    assert not re.search(r"(?<!\\)\]\(https", outside_code)
    assert "**bold**" not in outside_code
    assert "\\<img src=x onerror=alert\\(1\\)\\>" in md  # shown, as text
    assert "`models/<img src=x onerror=alert(1)> [click](https://evil.example) | **bold** 'tick' <!-- x --> line/gate.yaml`" in md


def test_escape_and_code_spans() -> None:
    assert escape("a|b") == "a\\|b"
    assert escape("x\ny") == "x y"
    assert code("a`b") == "`a'b`"
