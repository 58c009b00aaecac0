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


#: A waiver reason or error message built to steer each sink: workflow commands on new lines,
#: a rich closing tag (MarkupError before), control characters XML cannot hold, an ANSI escape.
HOSTILE = ("ok\n::add-mask::secret\n::error file=gate.yaml::forged\r\n::stop-commands::tok "
           "[/docs/x] [bold red]x[/] \x00\x01\x08\x1b[31m\u202e")


def test_terminal_output_cannot_start_a_workflow_command_or_crash_rich(capsys) -> None:  # type: ignore[no-untyped-def]
    from gate.reports.terminal import print_decision

    d = decision_with(HOSTILE)
    d.targets.append(d.targets[0].model_copy(update={"target": "e", "verdict": Verdict.ERROR, "error": HOSTILE}))
    print_decision(d)
    out = capsys.readouterr().out
    assert not [line for line in out.splitlines() if line.lstrip().startswith("::")], out
    assert "\x1b" not in out and "\x00" not in out
    assert "[/docs/x]" in out and "\\n::add-mask::secret" in out  # shown as text, not interpreted


def test_junit_with_control_characters_parses() -> None:
    import xml.etree.ElementTree as ET

    from gate.reports.collect import Reported
    from gate.reports.junit import render_junit

    xml = render_junit([Reported("models/m/gate.yaml", "m", decision=decision_with(HOSTILE))])
    skipped = ET.fromstring(xml).find(".//skipped")
    assert skipped is not None and skipped.get("message", "").startswith("waived by ok\n::add-mask")
    assert "\\u0000\\u0001\\u0008\\u001b[31m" in skipped.get("message", "")


def test_cli_error_lines_stay_one_line(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from gate.cli import main

    bad = tmp_path / "policy.yaml"
    bad.write_text('version: 1\nname: p\nrules:\n  - {id: s, metric: latency_p50_ms, compare: speedup, min: 2,'
                   ' "key\\n::add-mask::x": 1}\n')
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\\n::add-mask::x" in err, err
