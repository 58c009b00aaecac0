"""``gate search``: build and judge a target's search candidates in order, within a budget.

For each searched target of a manifest (:mod:`gate.config.search`), in the order its space
lists them, each candidate ``<target>--<k>`` is built and measured by ``dvc repro
measure-<model>-<target>--<k>`` (the same DVC stages ``gate repro`` runs, so a candidate
built before is reused from DVC's cache, and the baseline is built once), then judged alone by
the policy (:func:`gate.verdict.decision.decide_target`, the rules ``gate decide`` applies).
The search stops when

* ``stop: first-pass`` and a candidate passes (PASS, or WAIVED under an unexpired waiver):
  its platform has a release;
* the budget is spent: no candidate *starts* after ``budget_s`` seconds of this search (one
  already started finishes; its own ``limits`` bound it);
* every candidate has been judged.

A candidate that fails, is INCONCLUSIVE, or is an ERROR (its stage crashed, was killed, or its
measurements cannot be judged) never stops the search and is never a pass.

The trail (Olive's footprints, INC's tuning history) goes to ``build/gate/<model>/search.json``
beside ``decision.json`` (rewritten after each judged candidate, so an interrupted search
leaves its trail, ``exit_code`` null): per search, each candidate in order with its recipe, config hash,
verdict, each rule's value, interval and verdict, seconds spent and whether DVC reused it, the
candidates left unbuilt and why, the time spent and why the search stopped.

Exit code: 0 when every search found a passing candidate; otherwise 3 when a search without
one had a candidate in ERROR (something could not be measured), else 1.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gate import progress
from gate.config.manifest import LoadedManifest
from gate.config.policy import LoadedPolicy
from gate.config.search import Search
from gate.documents import Verdict, passes
from gate.errors import ConfigError, ExitCode, InfrastructureError
from gate.stages.trail import trail_file

SCHEMA = "edge-gate/search/v1"


#: Builds and measures one target (by name) in the repository at the given root; returns
#: whether DVC reused the candidate's own stages (optimize, measure) from its cache (True) or
#: ran one of them (False).
Build = Callable[[LoadedManifest, str, Path], bool]


def dvc_build(loaded: LoadedManifest, target: str, root: Path) -> bool:
    """``dvc repro measure-<model>-<target>`` in ``root``, its output on stderr.

    A failing stage is not raised: it leaves its failure record, and judging the target
    makes it ERROR.

    Raises:
        InfrastructureError: dvc is missing, or another (or a dead) DVC process holds the lock.
    """
    from gate.plan.dvcfile import LOCK_MESSAGES

    dvc = shutil.which("dvc")
    if dvc is None:
        raise InfrastructureError("dvc is not installed or not on PATH")
    stage = f"measure-{loaded.manifest.name}-{target}"
    proc = subprocess.Popen([dvc, "repro", stage], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    seen: list[str] = []
    for line in proc.stdout or ():
        sys.stderr.write(line)
        seen.append(line)
    code = proc.wait()
    text = "".join(seen)
    if code != 0 and any(msg in text for msg in LOCK_MESSAGES):
        raise InfrastructureError("the DVC repository is locked (.dvc/tmp/lock or .dvc/tmp/rwlock)",
                                  hint="wait for the other DVC process; if none runs, remove the lock files")
    # reused: DVC ran neither stage of this candidate (the plan check, which reruns after any
    # manifest edit, and the shared baseline do not make a candidate new)
    own = (f"Running stage 'optimize-{loaded.manifest.name}-{target}'",
           f"Running stage 'measure-{loaded.manifest.name}-{target}'")
    return code == 0 and not any(line in text for line in own)


def _rules(result: Any) -> list[dict[str, Any]]:
    return [{"rule": r.rule, "metric": r.metric, "bound": r.bound, "value": r.value, "low": r.low,
             "high": r.high, "verdict": str(r.verdict.value), "reason": r.reason} for r in result.rules]


def _candidate(loaded: LoadedManifest, position: int, name: str) -> dict[str, Any]:
    return {"position": position, "target": name, "recipe": loaded.recipes[name].model_dump(mode="json"),
            "config_hash": loaded.config_hash(name)}


def run_one_search(loaded: LoadedManifest, policy: LoadedPolicy, search: Search, root: Path, *,
                   build: Build = dvc_build, clock: Callable[[], float] = time.monotonic,
                   judged: Callable[[list[dict[str, Any]]], None] | None = None) -> dict[str, Any]:
    """Build and judge ``search``'s candidates in order (see the module docstring); returns its
    trail entry: ``target``, ``platform``, ``backend``, ``stop``, ``budget_s``, ``spent_s``,
    ``stopped`` (why), ``found`` (the first passing candidate's name, or None) and
    ``candidates`` (each with ``status`` ``judged`` or ``skipped``). ``judged`` is called with
    the entries so far after each judged candidate (the caller keeps the trail on disk current).

    Raises:
        InfrastructureError: DVC is locked or missing (nothing is judged from a build that did
            not run).
    """
    from gate.verdict.decision import decide_target

    spec = search.spec
    planned = [_candidate(loaded, position, name) for position, name in enumerate(search.candidates, start=1)]
    entries: list[dict[str, Any]] = []
    found: str | None = None
    stopped = "every candidate was judged"
    notes: list[str] = []
    start = clock()
    for entry in planned:
        position, name = entry["position"], entry["target"]
        spent = clock() - start
        if found is not None and spec.stop == "first-pass":
            entries.append({**entry, "status": "skipped", "reason": f"{found} passed first"})
            continue
        if spent >= spec.budget_s:
            if not stopped.startswith("budget"):
                stopped = f"budget of {spec.budget_s:g} s spent after {spent:.1f} s"
            entries.append({**entry, "status": "skipped", "reason": "budget spent"})
            continue
        progress.log(f"search {search.target}: candidate {position}/{len(search.candidates)} {name} "
                     f"{entry['recipe']}")
        t0 = clock()
        reused = build(loaded, name, root)
        result = decide_target(loaded, policy, loaded.target(name), root, dt.date.today(), notes)
        verdict = str(result.verdict.value)
        entries.append({**entry, "status": "judged", "verdict": verdict, "error": result.error,
                        "rules": _rules(result), "seconds": round(clock() - t0, 3), "reused": reused})
        if judged is not None:
            judged(entries)
        progress.log(f"search {search.target}: {name} is {verdict.upper()}"
                     + (f" ({result.error})" if result.error else ""))
        if passes(Verdict(verdict)) and found is None:
            found = name
            if spec.stop == "first-pass":
                stopped = f"{name} passed (stop: first-pass)"
    if spec.stop == "explore" and not stopped.startswith("budget"):
        stopped = "explored every candidate"
    return {"target": search.target, "platform": search.platform, "backend": search.backend, "stop": spec.stop,
            "budget_s": spec.budget_s, "spent_s": round(clock() - start, 3), "stopped": stopped, "found": found,
            "notes": notes, "candidates": entries}


def exit_code(searches: list[dict[str, Any]]) -> int:
    """0 when every search found a passing candidate; else 3 when one without a pass had an
    ERROR candidate; else 1."""
    code = ExitCode.PASS
    for s in searches:
        if s["found"] is not None:
            continue
        errors = any(c.get("verdict") == "error" for c in s["candidates"])
        code = max(code, ExitCode.ERROR if errors else ExitCode.BLOCKED)
    return int(code)


def run_search(loaded: LoadedManifest, policy: LoadedPolicy, root: Path, *, only: str | None = None,
               build: Build = dvc_build) -> tuple[int, dict[str, Any]]:
    """Run every search of ``loaded`` (or only the one of target ``only``), write the trail and
    return ``(exit code, trail)``.

    Raises:
        ConfigError: the manifest declares no search, or none for ``only`` (exit 2).
        InfrastructureError: see :func:`run_one_search`.
    """
    from gate.backends.base import write_json_atomic

    searches = list(loaded.searches.values())
    if only is not None:
        searches = [s for s in searches if s.target == only]
    if not searches:
        what = f"no target {only!r} with `search:`" if only else "no target with `search:`"
        raise ConfigError(f"{what} in {loaded.path}", location=str(loaded.path),
                          hint="declare a search space on a target (see README, 'Searching for a candidate')")
    path = root / trail_file(loaded.manifest.name)
    results: list[dict[str, Any]] = []
    trail: dict[str, Any] = {
        "schema": SCHEMA, "model": loaded.manifest.name, "manifest_sha256": loaded.sha256,
        "policy": policy.policy.name, "policy_sha256": policy.sha256,
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "finished_at": None,
        "exit_code": None, "searches": results}

    def so_far(search: Search) -> Callable[[list[dict[str, Any]]], None]:
        def write(entries: list[dict[str, Any]]) -> None:  # an interrupted search leaves its trail
            partial = {"target": search.target, "platform": search.platform, "backend": search.backend,
                       "stop": search.spec.stop, "budget_s": search.spec.budget_s, "stopped": "in progress",
                       "found": None, "candidates": entries}
            write_json_atomic(path, {**trail, "searches": [*results, partial]})
        return write

    for s in searches:
        results.append(run_one_search(loaded, policy, s, root, build=build, judged=so_far(s)))
    code = exit_code(results)
    trail.update(finished_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), exit_code=code)
    write_json_atomic(path, trail)
    return code, trail


def format_trail(trail: dict[str, Any]) -> str:
    """The trail as plain lines for the terminal."""
    lines = []
    for s in trail["searches"]:
        lines.append(f"search {s['target']} ({s['platform']}, {s['backend']}, stop: {s['stop']}, "
                     f"budget {s['budget_s']:g} s): {s['stopped']}; spent {s['spent_s']:.1f} s")
        for c in s["candidates"]:
            if c["status"] == "skipped":
                lines.append(f"  {c['position']:>3}. {c['target']:<28} skipped ({c['reason']})")
                continue
            figures = ", ".join(f"{r['rule']} {r['value']:.4g} [{r['low']:.4g}, {r['high']:.4g}] {r['verdict']}"
                                for r in c["rules"] if r["value"] is not None)
            extra = f" {c['error']}" if c.get("error") else f" {figures}"
            lines.append(f"  {c['position']:>3}. {c['target']:<28} {c['verdict'].upper():<12}{extra}")
        lines.append(f"  release for {s['platform']}: {s['found'] or 'none: blocked'}")
    return "\n".join(lines)
