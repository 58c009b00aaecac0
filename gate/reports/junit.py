"""JUnit XML: one test suite per target, one test case per rule (CI test-report viewers).

Written with the standard library's ``xml.etree`` (the de-facto JUnit schema as Jenkins and
GitHub test-report actions read it: ``testsuites > testsuite > testcase`` with ``failure``,
``error`` and ``skipped`` children). FAIL and INCONCLUSIVE are failures (both block), ERROR is
an error, WAIVED is skipped with the waiver as its message. A target that could not be
measured, or a manifest without a decision, is one errored test case. Each platform is one
more suite (``<model>/platform/<platform>``) with one case ``release``: passed when a candidate
ships there (its message names it), a failure or error naming the platform when nothing
ships, with every candidate's reason in ``system-out``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from gate.documents import Verdict, passes
from gate.reports.collect import Reported
from gate.reports.escaping import xml_text


def _case(suite: ET.Element, classname: str, name: str, verdict: str, message: str, body: str) -> None:
    classname, name, message, body = map(xml_text, (classname, name, message, body))
    case = ET.SubElement(suite, "testcase", classname=classname, name=name, time="0")
    if verdict in (Verdict.FAIL, Verdict.INCONCLUSIVE):
        ET.SubElement(case, "failure", message=message, type=verdict).text = body
    elif verdict == Verdict.ERROR:
        ET.SubElement(case, "error", message=message, type="error").text = body
    elif verdict == Verdict.WAIVED:
        ET.SubElement(case, "skipped", message=message)


def _count(suite: ET.Element) -> None:
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    for tag, attr in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
        suite.set(attr, str(sum(1 for c in cases if c.find(tag) is not None)))


def render_junit(reported: list[Reported]) -> str:
    """The run as a JUnit XML document (UTF-8 text with an XML declaration)."""
    root = ET.Element("testsuites", name="edge-gate")
    for rep in reported:
        if rep.decision is None:
            suite = ET.SubElement(root, "testsuite", name=xml_text(f"edge-gate.{rep.model}"),
                                  file=xml_text(rep.manifest))
            _case(suite, f"edge-gate.{rep.model}", "decision", Verdict.ERROR, rep.problem or "no decision", "")
            _count(suite)
            continue
        for p in rep.decision.platforms:
            suite = ET.SubElement(root, "testsuite", name=xml_text(f"{rep.model}/platform/{p.platform}"),
                                  file=xml_text(rep.manifest))
            lines = [f"{n}: {'ships' if t.ships else t.why_not}" for n in p.candidates
                     if (t := rep.decision.target(n)) is not None]
            verdict = Verdict.PASS if passes(p.verdict) else p.verdict
            _case(suite, f"edge-gate.{rep.model}.platform.{p.platform}", "release", verdict,
                  f"platform {p.platform}: {p.reason}", "\n".join(lines))
            case = suite.find("testcase")
            if case is not None:
                ET.SubElement(case, "system-out").text = xml_text("\n".join([p.reason, *lines]))
            _count(suite)
        for t in rep.decision.targets:
            classname = f"edge-gate.{rep.model}.{t.target}"
            suite = ET.SubElement(root, "testsuite", name=xml_text(f"{rep.model}/{t.target_id}"),
                                  file=xml_text(rep.manifest))
            if t.error:
                _case(suite, classname, "measurements", Verdict.ERROR, t.error, t.error)
            for r in t.rules:
                body = (f"metric {r.metric}: baseline {r.baseline}, candidate {r.candidate}, "
                        f"{r.compare} {r.value} (threshold {r.bound})")
                _case(suite, classname, r.rule, r.verdict, r.reason, body)
            _count(suite)
    for attr in ("tests", "failures", "errors", "skipped"):
        root.set(attr, str(sum(int(s.get(attr, "0")) for s in root.findall("testsuite"))))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
