"""CI formatters of one Decision: JUnit, SARIF, annotations, job summary, and the conclusion."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from gate import layout
from gate.config.schema import sha256_file
from gate.reports.annotations import render_annotations
from gate.cli import main
from gate.reports.collect import FAIL_ON, collect, conclusion, findings
from gate.reports.junit import render_junit
from gate.reports.sarif import render_sarif
from gate.reports.summary import cap, cap_comment, render_run
from gate.verdict.decision import Decision, RuleResult, TargetResult, exit_code_for
from gate.verdict.rules import Verdict

MANIFEST = """\
version: 1
name: demo
task: sentence-embedding
targets:
  - name: fast
    platform: x86-cpu
    backend: onnxruntime
  - name: slow
    platform: arm-cpu
    backend: onnxruntime
  - name: broken
    platform: nvidia-gpu
    backend: onnxruntime
"""


def rule(name: str, verdict: Verdict, value: float = 1.0) -> RuleResult:
    return RuleResult(rule=name, description=f"{name} rule", metric="latency_p50_ms", compare="speedup",
                      bound=">= 2", min=2.0, max=None, baseline=10.0, candidate=10.0 / value, value=value,
                      verdict=verdict, reason=f"speedup {value} {'meets' if verdict == 'pass' else 'misses'} >= 2")


def target(name: str, verdict: Verdict, rules: list[RuleResult], error: str | None = None) -> TargetResult:
    return TargetResult(target=name, target_id=f"p/onnxruntime/{name}", backend="onnxruntime", platform="p",
                        verdict=verdict, error=error, rules=rules, config_hash="0" * 16)


def write_run(root: Path, targets: list[TargetResult], verdict: Verdict, inconclusive: str = "block") -> Path:
    manifest = root / "models/demo/gate.yaml"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(MANIFEST)
    d = Decision(model="demo", task="sentence-embedding", manifest="models/demo/gate.yaml",
                 manifest_sha256=sha256_file(manifest), policy="edge-default", policy_path="p.yaml",
                 policy_sha256="x", primary_metric="nn10_overlap", verdict=verdict,
                 exit_code=exit_code_for(verdict, inconclusive), inconclusive_mode=inconclusive,
                 decided_at="2026-11-29T00:00:00+00:00", targets=targets)
    out = root / layout.decision_file("demo")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(d.dump()))
    (root / layout.report_file("demo")).write_text("<!-- edge-gate report: demo -->\n## edge-gate: demo\n")
    return manifest


@pytest.fixture
def mixed(tmp_path: Path) -> list:  # type: ignore[type-arg]
    write_run(tmp_path, [
        target("fast", Verdict.PASS, [rule("speed-up", Verdict.PASS, 2.5), rule("size-cut", Verdict.WAIVED, 0.3)]),
        target("slow", Verdict.FAIL, [rule("speed-up", Verdict.FAIL, 1.4), rule("size-cut", Verdict.INCONCLUSIVE)]),
        target("broken", Verdict.ERROR, [], error="not measured: measurements.json does not exist"),
    ], Verdict.ERROR)
    return collect([tmp_path / "models/demo/gate.yaml"], tmp_path)


def test_findings_are_worst_first_at_the_target_line(mixed) -> None:  # type: ignore[no-untyped-def]
    found = findings(mixed)
    assert [(f.kind, f.target_id.split("/")[-1], f.rule) for f in found] == [
        ("error", "broken", None), ("fail", "slow", "speed-up"),
        ("inconclusive", "slow", "size-cut"), ("waived", "fast", "size-cut")]
    lines = {f.target_id.split("/")[-1]: (f.line, f.column) for f in found}
    assert lines == {"fast": (5, 5), "slow": (8, 5), "broken": (11, 5)}  # `- name:` in MANIFEST


def test_junit_one_case_per_rule_per_target(mixed) -> None:  # type: ignore[no-untyped-def]
    root = ET.fromstring(render_junit(mixed))
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == ("5", "2", "1", "1")
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    slow = suites["demo/p/onnxruntime/slow"]
    cases = {c.get("name"): c for c in slow.findall("testcase")}
    assert cases["speed-up"].find("failure").get("type") == "fail"
    assert cases["size-cut"].find("failure").get("type") == "inconclusive"
    assert suites["demo/p/onnxruntime/fast"].find("testcase[@name='size-cut']/skipped") is not None
    assert suites["demo/p/onnxruntime/broken"].find("testcase/error").get("message").startswith("not measured")


def test_sarif_results_are_located_in_the_manifest(mixed) -> None:  # type: ignore[no-untyped-def]
    log = render_sarif(mixed)
    assert log["version"] == "2.1.0"
    results = log["runs"][0]["results"]
    assert [(r["ruleId"], r["level"]) for r in results] == [
        ("edge-gate/not-judged", "error"), ("speed-up", "error"), ("size-cut", "warning"), ("size-cut", "note")]
    loc = results[1]["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "models/demo/gate.yaml" and loc["region"] == {"startLine": 8, "startColumn": 5}
    assert results[3]["suppressions"][0]["kind"] == "external"
    assert {r["id"] for r in log["runs"][0]["tool"]["driver"]["rules"]} == {"edge-gate/not-judged", "speed-up", "size-cut"}


def test_annotations_cap_ten_per_level_worst_first(tmp_path: Path) -> None:
    rules = [rule(f"r{i:02d}", Verdict.FAIL, 1.0) for i in range(12)] + [rule(f"w{i:02d}", Verdict.INCONCLUSIVE) for i in range(11)]
    write_run(tmp_path, [target("slow", Verdict.FAIL, rules),
                         target("broken", Verdict.ERROR, [], error="leg crashed\nno output, 100%")], Verdict.ERROR)
    lines = render_annotations(collect([tmp_path / "models/demo/gate.yaml"], tmp_path))
    errors = [x for x in lines if x.startswith("::error ")]
    warnings = [x for x in lines if x.startswith("::warning ")]
    assert len(errors) == 10 and len(warnings) == 10
    assert errors[0] == ("::error file=models/demo/gate.yaml,line=11,col=5,title=edge-gate ERROR%3A demo "
                         "p/onnxruntime/broken::leg crashed%0Ano output, 100%25")
    assert errors[1].startswith("::error file=models/demo/gate.yaml,line=8,col=5,") and errors[1].endswith("::r00: speedup 1.0 misses >= 2")
    assert lines[-1].startswith("::notice title=edge-gate::edge-gate: 13 error(s), 11 warning(s) over 1 manifest(s); 4 not shown")


#: (rule verdict, policy's inconclusive mode, --fail-on) -> the check's (verdict, exit code).
#: Every pair of mode and fail-on for INCONCLUSIVE: fail-on only tightens the policy; the
#: policy's `block` blocks whatever fail-on says, `warn`/`neutral` block only when fail-on asks.
CONCLUSIONS = {
    **{(Verdict.INCONCLUSIVE, "block", f): ("inconclusive", 1) for f in FAIL_ON},
    **{(Verdict.INCONCLUSIVE, m, "fail"): ("inconclusive", 0) for m in ("warn", "neutral")},
    **{(Verdict.INCONCLUSIVE, m, f): ("inconclusive", 1) for m in ("warn", "neutral") for f in ("inconclusive", "warn")},
    **{(Verdict.WAIVED, m, f): ("waived", 1 if f == "warn" else 0) for m in ("block", "warn", "neutral") for f in FAIL_ON},
    **{(Verdict.PASS, m, f): ("pass", 0) for m in ("block", "warn", "neutral") for f in FAIL_ON},
    **{(Verdict.FAIL, m, f): ("fail", 1) for m in ("block", "warn", "neutral") for f in FAIL_ON},
    **{(Verdict.ERROR, m, f): ("error", 3) for m in ("block", "warn", "neutral") for f in FAIL_ON},
}


@pytest.mark.parametrize(("case", "expected"), CONCLUSIONS.items(), ids=["-".join(map(str, k)) for k in CONCLUSIONS])
def test_conclusion_by_policy_mode_and_fail_on(tmp_path: Path, case: tuple[Verdict, str, str],
                                                expected: tuple[str, int]) -> None:
    verdict, mode, fail_on = case
    overall = Verdict.PASS if verdict == Verdict.WAIVED else verdict
    write_run(tmp_path, [target("fast", overall, [rule("r", verdict)])], overall, inconclusive=mode)
    reported = collect([tmp_path / "models/demo/gate.yaml"], tmp_path)
    assert conclusion(reported, fail_on) == expected
    assert conclusion(reported, fail_on, decide_exit_code=2) == ("error", 2)


def test_report_exits_with_the_decisions_code_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`gate report` without --fail-on exits with the decision's own code: an INCONCLUSIVE
    decision under `inconclusive: warn` or `neutral` passes the check (exit 0); under the
    default `block` it blocks (exit 1), as `gate decide` did (exit_code_for)."""
    monkeypatch.chdir(tmp_path)
    for mode, code in (("warn", 0), ("neutral", 0), ("block", 1)):
        assert exit_code_for(Verdict.INCONCLUSIVE, mode) == code
        write_run(tmp_path, [target("fast", Verdict.INCONCLUSIVE, [rule("r", Verdict.INCONCLUSIVE)])],
                  Verdict.INCONCLUSIVE, inconclusive=mode)
        assert main(["report", "models/demo/gate.yaml"]) == code


def test_a_missing_or_outdated_decision_is_an_error(tmp_path: Path) -> None:
    manifest = write_run(tmp_path, [target("fast", Verdict.PASS, [rule("r", Verdict.PASS, 3.0)])], Verdict.PASS)
    assert conclusion(collect([manifest], tmp_path), "fail") == ("pass", 0)
    manifest.write_text(MANIFEST + "# edited after the decision\n")
    reported = collect([manifest], tmp_path)
    assert reported[0].decision is None and "another version" in (reported[0].problem or "")
    assert conclusion(reported, "fail") == ("error", 3)
    (tmp_path / layout.decision_file("demo")).unlink()
    assert conclusion(collect([manifest], tmp_path), "fail") == ("error", 3)
    assert conclusion([], "fail") == ("skipped", 0)


def test_summary_and_comment_are_capped_with_a_pointer(mixed) -> None:  # type: ignore[no-untyped-def]
    text = render_run(mixed, "error", 3, "inconclusive", "the `edge-gate-report` artifact")
    assert text.startswith("# edge-gate — 🛑 ERROR") and "fails on: error, fail, inconclusive" in text
    big = text + "".join(f"| row {i} | ✅ |\n" for i in range(120_000))
    capped = cap(big, 1024 * 1024, "the `edge-gate-report` artifact")
    assert len(capped.encode()) <= 1024 * 1024 < len(big.encode())
    assert capped.endswith("the full report is in the `edge-gate-report` artifact.\n")
    assert capped.startswith(text)
    comment = cap_comment(big, "the artifact")
    assert len(comment) <= 65536 - 512 and "Report truncated" in comment  # room for the marker line
    assert cap(text, 1024 * 1024, "x") == text


def test_reports_name_each_platform_release_and_the_blocked_one(tmp_path: Path) -> None:
    """Alternatives per platform (gate.verdict.release): JUnit, SARIF and annotations say which
    candidate ships on each platform and name the platform where nothing ships."""
    from gate.verdict.release import platform_results

    fast = target("fast", Verdict.PASS, [rule("speed-up", Verdict.PASS, 2.5)])
    slow = target("slow", Verdict.FAIL, [rule("speed-up", Verdict.FAIL, 1.4)])
    arm = TargetResult(target="broken", target_id="arm/onnxruntime/broken", backend="onnxruntime", platform="arm",
                       verdict=Verdict.FAIL, rules=[rule("speed-up", Verdict.FAIL, 1.1)], config_hash="0" * 16)
    for t, p in ((fast, {"speedup": 2.5}), (slow, {"speedup": 1.4}), (arm, {"speedup": 1.1})):
        t.point = {**p, "memory_cut": 0.6, "fidelity": 0.97}
    platforms = platform_results([fast, slow, arm], {"speedup": 1, "memory_cut": 1, "fidelity": 1})
    assert [(p.platform, p.verdict, p.release) for p in platforms] == [("p", Verdict.PASS, "fast"),
                                                                        ("arm", Verdict.FAIL, None)]
    manifest = write_run(tmp_path, [fast, slow, arm], Verdict.FAIL)
    decision = json.loads((tmp_path / layout.decision_file("demo")).read_text())
    decision["platforms"] = [p.model_dump(mode="json") for p in platforms]
    decision["targets"] = [t.model_dump(mode="json") for t in (fast, slow, arm)]
    (tmp_path / layout.decision_file("demo")).write_text(json.dumps(decision))
    reported = collect([manifest], tmp_path)
    assert conclusion(reported, "fail") == ("fail", 1)
    suites = {s.get("name"): s for s in ET.fromstring(render_junit(reported)).findall("testsuite")}
    assert suites["demo/platform/p"].find("testcase/failure") is None
    assert "fast: ships" in suites["demo/platform/p"].find("testcase/system-out").text
    assert "slow: fail: speed-up FAIL" in suites["demo/platform/p"].find("testcase/system-out").text
    failure = suites["demo/platform/arm"].find("testcase/failure")
    assert failure.get("message").startswith("platform arm: nothing ships: none of 1 candidate(s) passes")
    run = render_sarif(reported)["runs"][0]
    assert run["properties"]["releases"]["demo"]["p"]["ships"] == "fast"
    assert run["properties"]["releases"]["demo"]["arm"]["ships"] is None
    blocked = [r for r in run["results"] if r["ruleId"] == "edge-gate/platform-blocked"]
    assert len(blocked) == 1 and blocked[0]["message"]["text"].startswith("demo · platform arm · FAIL: platform arm")
    assert any("platform arm is blocked" in line for line in render_annotations(reported))
