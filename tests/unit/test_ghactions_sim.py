"""The test runner's expression rules match GitHub's documented ones (tests/ghactions.py)."""

from __future__ import annotations

from ghactions import condition, read_outputs, substitute

CTX = {"inputs": {"mode": "all", "comment": "true", "empty": ""},
       "steps": {"report": {"outputs": {"verdict": "fail", "exit-code": "1"}}},
       "github": {"event": {"pull_request": {"base": {"sha": "abc"}}}, "sha": "def"}}


def test_substitution_and_operators() -> None:
    assert substitute("${{ github.event.pull_request.base.sha }}", CTX) == "abc"
    assert substitute("${{ steps.report.outputs.verdict || 'skipped' }}", CTX) == "fail"
    assert substitute("${{ steps.nope.outputs.verdict || 'skipped' }}", CTX) == "skipped"
    assert substitute("${{ github.event.pull_request.head.sha || github.sha }}", CTX) == "def"
    assert substitute("x=${{ inputs.mode == 'ALL' }}", CTX) == "x=true"  # comparison ignores case
    assert substitute("${{ inputs.empty && 'a' }}", CTX) == ""


def test_conditions_follow_the_job_status() -> None:
    cond = "${{ (inputs.mode == 'all' || inputs.mode == 'decide') && steps.report.outputs.exit-code != '0' }}"
    assert condition(cond, CTX, status_ok=True)
    assert not condition(cond, CTX, status_ok=False)  # an implicit success() after a failure
    assert condition("always() && inputs.comment == 'true'", CTX, status_ok=False)
    assert condition(None, CTX, True) and not condition(None, CTX, False)
    assert not condition("${{ !(inputs.comment == 'true') }}", CTX, True)


def test_output_file_formats(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    out.write_text("verdict=pass\nbody<<EOF\nline 1\nline=2\nEOF\nempty=\n")
    assert read_outputs(out) == {"verdict": "pass", "body": "line 1\nline=2", "empty": ""}
