"""The run's markdown: the PR comment and the job summary (``$GITHUB_STEP_SUMMARY``).

Both are the per-manifest ``report.md`` files that ``gate decide`` rendered, under one header
with the check's conclusion. GitHub caps a step summary at 1 MiB
(https://docs.github.com/en/actions/using-workflows/workflow-commands-for-github-actions#step-isolation-and-limits)
and an issue comment at 65,536 characters (the REST API answers 422 beyond it): longer text is
cut at a line boundary and ends with a pointer to the full report artifact.
"""

from __future__ import annotations

from gate.reports.collect import FAIL_ON, Reported
from gate.reports.markdown import ICONS, escape

#: GitHub's limit on one step's summary, in bytes.
STEP_SUMMARY_MAX_BYTES = 1024 * 1024
#: GitHub's limit on an issue comment body, in characters, less room for the sticky
#: comment's marker line that :func:`gate.github.upsert_comment` puts first (which cuts again
#: to the exact limit should a workflow name make the marker longer than this room).
COMMENT_MAX_CHARS = 65536 - 512
CONCLUSION_ICONS = {**ICONS, "skipped": "⏭️ SKIPPED"}


def render_run(reported: list[Reported], verdict: str, exit_code: int, fail_on: str,
               artifact_hint: str = "", commit: str = "") -> str:
    """The run's markdown: a header with the conclusion, then every manifest's report.

    ``commit`` (the pull request's head sha) is named in the header, so an updated sticky
    comment shows which push it describes.
    """
    fails_on = ["error", "fail", "inconclusive", "waived"][: 2 + FAIL_ON.index(fail_on)]
    head = [
        f"# edge-gate — {CONCLUSION_ICONS.get(verdict, escape(verdict))}",
        "",
        f"{len(reported)} manifest(s) gated"
        f"{f' at commit `{escape(commit[:12])}`' if commit else ''}; the check exits {exit_code} "
        f"(it fails on: {', '.join(fails_on)}, and on what a policy blocks).",
    ]
    if artifact_hint:
        head.append(f"Full report and measurements: {artifact_hint}.")
    body = ["\n".join(head), ""]
    for rep in reported:
        if rep.decision is None:
            body.append(f"## edge-gate: {escape(rep.model)} — {ICONS['error']}\n\n"
                        f"`{escape(rep.manifest)}`: {escape(rep.problem or 'no decision')}\n")
        else:
            body.append(rep.markdown.strip() + "\n")
    if not reported:
        body.append("No manifest changed in this change set; nothing to gate.\n")
    return "\n".join(body)


def cap(text: str, max_bytes: int, pointer: str) -> str:
    """``text`` if it fits in ``max_bytes`` UTF-8 bytes, else its longest prefix that ends at
    a line break and leaves room for a truncation notice naming ``pointer``."""
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    notice = f"\n\n---\n**Report truncated** at {max_bytes} bytes: the full report is in {pointer}.\n"
    room = max_bytes - len(notice.encode())
    if room <= 0:
        raise ValueError(f"max_bytes {max_bytes} leaves no room for the truncation notice")
    cut = data[:room].decode("utf-8", errors="ignore")
    if "\n" in cut:
        cut = cut[: cut.rindex("\n")]
    return cut + notice


def cap_comment(text: str, pointer: str) -> str:
    """``text`` cut to GitHub's comment limit (characters; the notice counts)."""
    if len(text) <= COMMENT_MAX_CHARS:
        return text
    notice = f"\n\n---\n**Report truncated** at {COMMENT_MAX_CHARS} characters: the full report is in {pointer}.\n"
    cut = text[: COMMENT_MAX_CHARS - len(notice)]
    if "\n" in cut:
        cut = cut[: cut.rindex("\n")]
    return cut + notice
