"""Promotion, rollback and the champion's history: one champion per (model, platform).

**Aliases per platform.** Every candidate of a manifest, whatever its platform, is a version
of one registered model ``edge-gate.<model>`` (:mod:`gate.lineage.versions`); each platform
has its own aliases ``champion-<platform>``, ``previous-<platform>`` and
``candidate-<platform>`` (:func:`gate.lineage.versions.alias_for`), so a device loads
``models:/edge-gate.<model>@champion-<platform>``. Chosen over one registered model per
platform because MLflow itself then guarantees one champion per platform (one version holds
an alias), a version is registered once by ``gate record`` whatever ships where, the model's
whole lineage (every platform's candidates and promotions) stays in one place, and the
promotion lock and the history are one per model. The cost: MLflow's permissions are per
registered model, so they cannot restrict who promotes for one device only.

* ``promote``: on the protected branch, move each platform's ``champion-<platform>`` to the
  candidate that ships there (:mod:`gate.verdict.release`; ``--platform`` one platform,
  ``--target`` a named passing candidate instead) and keep the version it replaces under
  ``previous-<platform>``. Refused when the decision is not passing (fail, inconclusive,
  error never promote: a manifest blocked on any platform is a blocked pull request), when it
  was computed from another manifest or policy than the files now hold, when the candidate was
  not recorded at this commit, when the platform's champion was measured on other hardware
  (unless ``new_hardware``) or comes from a newer commit (unless ``allow_older``). Promoting
  the version that already is the platform's champion changes nothing and logs nothing.
* ``rollback``: swap ``champion-<platform>`` and ``previous-<platform>``.
* Both run only on the protected branch, from a committed tree, after re-verifying the
  evidence chain (:mod:`gate.lineage.evidence`), and move aliases under the model's lock
  (:func:`gate.lineage.guards.registry_lock`).
* Each promotion or rollback is a run in experiment ``edge-gate/<model>/promotions`` tagged
  with its platform, the version, the one it replaced, the verdicts and the rule figures;
  ``history`` reads them back, per platform.

Aliases are resolved by lookup on every call (:func:`gate.lineage.versions.resolve_alias`).
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any

from gate.documents import Decision, TargetResult, passes
from gate.errors import ConfigError, LineageError, PromotionRefused
from gate.lineage.evidence import verify_decision
from gate.lineage.guards import (
    DEFAULT_PROTECTED_BRANCH,
    check_fresh_decision,
    older_than,
    registry_lock,
    require_committed,
    require_protected_branch,
)
from gate.lineage.runs import git_info, read_decision, record_key
from gate.lineage.store import experiment_id, log_tags, open_client, with_retry
from gate.lineage.versions import (
    alias_for,
    aliases,
    platforms_with,
    registered_name,
    require_alias,
    resolve_alias,
    versions_with_key,
)

__all__ = ["DEFAULT_PROTECTED_BRANCH", "check_fresh_decision", "format_history", "history", "promote",
           "registry_lock", "require_committed", "require_protected_branch", "rollback"]


def events_experiment(model: str) -> str:
    return f"edge-gate/{model}/promotions"


def choose(decision: Decision, target: str | None, platform: str | None) -> list[TargetResult]:
    """The candidates to promote: the named ``target`` (which must pass), else the release of
    ``platform``, else the release of every platform, in manifest order.

    Raises:
        PromotionRefused: the decision, the target or a platform does not pass (exit 1).
        ConfigError: no such target or platform in the decision (a usage error, exit 2).
    """
    model = decision.model
    if not passes(decision.verdict):
        blocked = ", ".join(decision.blocked_platforms()) or "-"
        raise PromotionRefused(f"the decision for {model} is {decision.verdict.value.upper()} (blocked "
                               f"platforms: {blocked}): a failing, inconclusive or errored decision never promotes")
    if target is not None:
        chosen = decision.target(target)
        if chosen is None:
            raise ConfigError(f"the decision for {model} has no target {target!r}")
        if platform is not None and chosen.platform != platform:
            raise ConfigError(f"target {target!r} of {model} is on platform {chosen.platform!r}, not {platform!r}")
        if not passes(chosen.verdict):
            raise PromotionRefused(f"target {target!r} of {model} is {chosen.verdict.value.upper()}; "
                                   "only a passing candidate can be promoted")
        return [chosen]
    releases = decision.releases()
    if platform is not None:
        if decision.platform(platform) is None:
            raise ConfigError(f"the decision for {model} has no platform {platform!r}")
        if platform not in releases:
            raise PromotionRefused(f"no candidate of {model} ships on platform {platform!r}; nothing can be promoted")
        return [releases[platform]]
    if not releases:
        raise PromotionRefused(f"no target of {model} is passing; nothing can be promoted")
    return list(releases.values())


def promote(root: Path, manifest: Path, target: str | None = None,
            protected_branch: str | None = None, new_hardware: bool = False,
            policy_override: Path | None = None, allow_older: bool = False,
            platform: str | None = None) -> list[dict[str, Any]]:
    """Move ``champion-<platform>`` to this commit's release of each platform (or of
    ``platform``, or to the named passing ``target``); see the module docstring.

    A candidate measured on another hardware fingerprint than its platform's champion (CPU
    model, ISA flags, cores) is refused unless ``new_hardware`` says the fleet changed.

    Returns one ``{"model", "platform", "target", "champion", "previous", "changed"}`` per
    platform moved (versions as strings).

    Raises:
        PromotionRefused: not on the protected branch; the decision, target or platform is not
            passing; an older commit or other hardware (exit 1).
        LineageError: stale decision; candidate not recorded at this commit; MLflow failure.
        EvidenceError: a measured file changed since the decision.
        ConfigError: the manifest or policy is invalid.
    """
    from gate.config.loading import load_pair

    loaded, policy = load_pair(manifest, policy_override)
    model = loaded.manifest.name
    require_protected_branch(root, protected_branch, "promote")
    git = git_info(root)
    decision = Decision.model_validate(read_decision(root, model))
    check_fresh_decision(decision, loaded.sha256, policy.sha256)
    try:
        chosen = choose(decision, target, platform)
    except PromotionRefused:
        # a decision.json edited by hand can contradict itself: a broken evidence chain (exit 3)
        # is reported before a refusal read from it
        verify_decision(root, loaded, policy, decision)
        raise
    require_committed(root, {"manifest": loaded.path, "policy": policy.path, "eval data": loaded.eval_path()},
                      {"manifest": decision.manifest_sha256, "policy": decision.policy_sha256})
    verify_decision(root, loaded, policy, decision, promote=[t.target for t in chosen])
    _, client, _ = open_client(root)
    name = registered_name(model)
    versions = {}
    for t in chosen:
        key = record_key(git["commit"], model, decision.manifest_sha256, t.target)
        recorded = with_retry(functools.partial(versions_with_key, client, name, key), "find the candidate version")
        if not recorded:
            raise LineageError(f"{model}/{t.target} is not recorded at commit {git['commit'][:12]}",
                               hint="run `gate record` first")
        version = recorded[0]
        if not passes(version.tags.get("verdict", "")):
            raise PromotionRefused(f"version {version.version} of {name} is tagged verdict "
                                   f"{version.tags.get('verdict')!r}; it cannot be promoted")
        versions[t.target] = version

    def move(t: TargetResult) -> dict[str, Any]:
        with registry_lock(client, name):
            return move_locked(t, versions[t.target])

    def move_locked(t: TargetResult, version: Any) -> dict[str, Any]:
        champion, previous = alias_for("champion", t.platform), alias_for("previous", t.platform)
        current = resolve_alias(client, name, champion)
        out = {"model": model, "platform": t.platform, "target": t.target, "champion": str(version.version),
               "changed": False}
        if current is not None and str(current.version) == str(version.version):
            prev = resolve_alias(client, name, previous)
            return {**out, "previous": None if prev is None else str(prev.version)}
        if current is not None and not allow_older:
            older = older_than(root, git["commit"], decision.decided_at, current)
            if older:
                raise PromotionRefused(f"{champion} v{current.version} of {name} comes from a newer commit: {older}",
                                       hint="--allow-older promotes an older commit on purpose")
        if current is not None and not new_hardware:
            old_fp, new_fp = current.tags.get("fingerprint_id", ""), version.tags.get("fingerprint_id", "")
            if old_fp != new_fp:
                raise PromotionRefused(
                    f"{champion} v{current.version} of {name} was measured on hardware {old_fp or '(unknown)'}, "
                    f"v{version.version} on {new_fp or '(unknown)'}: their figures are not comparable",
                    hint="--new-hardware promotes anyway when the deployment hardware changed")
        if current is not None:
            client.set_registered_model_alias(name, previous, str(current.version))
        client.set_registered_model_alias(name, champion, str(version.version))
        replaced = None if current is None else str(current.version)
        _log_event(client, model, t.platform, "promote", version, replaced, git["commit"])
        return {**out, "previous": replaced, "changed": True}

    return [with_retry(functools.partial(move, t), f"promote {name} {t.platform} v{versions[t.target].version}")
            for t in chosen]


def _platform_of(client: Any, name: str, model: str, platform: str | None) -> str:
    """``platform``, or the one platform of ``name`` known from its aliases (any role) or its
    promotion history, so that a platform whose champion was deleted is still named.

    Raises:
        ConfigError: no platform given and not exactly one is known (exit 2).
    """
    if platform is not None:
        return platform
    now = aliases(client, name)
    found = {p for role in ("champion", "previous", "candidate") for p in platforms_with(now, role)}
    exp = client.get_experiment_by_name(events_experiment(model))
    if exp is not None:
        runs = client.search_runs([exp.experiment_id], max_results=10000)
        found |= {r.data.tags["edge_gate.platform"] for r in runs if r.data.tags.get("edge_gate.platform")}
    if len(found) != 1:
        have = ", ".join(sorted(found)) or "none"
        raise ConfigError(f"name the platform of {model} with --platform (platforms it has: {have})")
    return found.pop()


def rollback(root: Path, model: str, protected_branch: str | None = None,
             platform: str | None = None) -> dict[str, Any]:
    """Swap ``champion-<platform>`` and ``previous-<platform>`` of ``edge-gate.<model>``, on the
    protected branch only (:func:`require_protected_branch`, the same check as ``promote``).
    ``platform`` may be left out when the model has one platform (:func:`_platform_of`).

    Returns ``{"model", "platform", "champion", "previous"}`` after the swap.

    Raises:
        PromotionRefused: not on the protected branch (exit 1).
        ConfigError: no platform named and the model has not exactly one (exit 2).
        LineageError: either alias resolves to no version (never set, or its version deleted).
    """
    require_protected_branch(root, protected_branch, "rollback")
    _, client, _ = open_client(root)
    name = registered_name(model)
    platform = _platform_of(client, name, model, platform)
    champion_alias, previous_alias = alias_for("champion", platform), alias_for("previous", platform)
    with registry_lock(client, name):
        champion = require_alias(client, name, champion_alias)
        previous = require_alias(client, name, previous_alias)
        client.set_registered_model_alias(name, champion_alias, str(previous.version))
        client.set_registered_model_alias(name, previous_alias, str(champion.version))
        _log_event(client, model, platform, "rollback", client.get_model_version(name, str(previous.version)),
                   str(champion.version), git_info(root)["commit"])
    return {"model": model, "platform": platform, "champion": str(previous.version),
            "previous": str(champion.version)}


def _log_event(client: Any, model: str, platform: str, action: str, version: Any, replaced: str | None,
               commit: str) -> None:
    """One run in ``edge-gate/<model>/promotions`` describing a move of ``champion-<platform>``."""
    exp_id = experiment_id(client, events_experiment(model))
    vt = version.tags
    run = client.create_run(exp_id, run_name=f"{action} {platform} v{version.version}", tags={
        "edge_gate.action": action, "edge_gate.platform": platform, "edge_gate.champion": str(version.version),
        "edge_gate.replaced": replaced or "", "edge_gate.target": vt.get("target", ""),
        "edge_gate.version_commit": vt.get("commit", ""), "edge_gate.commit": commit,
        "edge_gate.verdict": vt.get("verdict", ""), "edge_gate.decided_at": vt.get("decided_at", ""),
        "edge_gate.source_run_id": version.run_id or "",
    })
    log_tags(client, run.info.run_id, {f"figure.{k}": v for k, v in vt.items() if k.startswith("rule.")})
    client.set_terminated(run.info.run_id, "FINISHED")


def history(root: Path, model: str, platform: str | None = None) -> dict[str, Any]:
    """Each platform's champion over time: every promotion and rollback (of ``platform`` only,
    when given), oldest first, with the verdicts and rule figures recorded on the version at
    the time; plus the aliases now (by lookup).

    Returns ``{"model", "registered_model", "platform", "events": [...], "aliases": {alias: version}}``;
    every event has its ``platform``.
    """
    _, client, _ = open_client(root)
    name = registered_name(model)
    exp = client.get_experiment_by_name(events_experiment(model))
    runs = [] if exp is None else client.search_runs([exp.experiment_id], max_results=10000)
    events = []
    for run in sorted(runs, key=lambda r: r.info.start_time):
        tags = run.data.tags
        if platform is not None and tags.get("edge_gate.platform", "") != platform:
            continue
        figures = {k[len("figure.rule."):]: v for k, v in tags.items()
                   if k.startswith("figure.rule.") and not k.endswith(".verdict")}
        events.append({
            "at": dt.datetime.fromtimestamp(run.info.start_time / 1000, dt.UTC).isoformat(timespec="seconds"),
            "action": tags.get("edge_gate.action", ""), "platform": tags.get("edge_gate.platform", ""),
            "champion": tags.get("edge_gate.champion", ""),
            "replaced": tags.get("edge_gate.replaced") or None, "target": tags.get("edge_gate.target", ""),
            "commit": tags.get("edge_gate.version_commit", ""), "verdict": tags.get("edge_gate.verdict", ""),
            "figures": {k: {"value": v, "verdict": tags.get(f"figure.rule.{k}.verdict", "")}
                        for k, v in sorted(figures.items())},
        })
    now = aliases(client, name)
    if platform is not None:
        now = {a: v for a, v in now.items() if a.endswith(f"-{platform}")}
    return {"model": model, "registered_model": name, "platform": platform, "events": events, "aliases": now}


def format_history(h: dict[str, Any]) -> str:
    """``history`` as plain text for the terminal: one section per platform, oldest first."""
    scope = f" on platform {h['platform']}" if h.get("platform") else ""
    lines = [f"champion history of {h['registered_model']}{scope} (oldest first)"]
    if not h["events"]:
        lines.append("  no promotion yet")
    for platform in dict.fromkeys(e["platform"] for e in h["events"]):
        lines.append(f" platform {platform or '(none recorded)'}:")
        for e in (e for e in h["events"] if e["platform"] == platform):
            figures = ", ".join(f"{k} {f['value']} ({f['verdict']})" for k, f in e["figures"].items())
            lines.append(f"  {e['at']}  {e['action']:<8} champion v{e['champion']:<3} replaced "
                         f"{'v' + e['replaced'] if e['replaced'] else '-':<4} {e['target']}@{e['commit'][:8]} "
                         f"verdict {e['verdict']}: {figures}")
    now = ", ".join(f"{a} v{v}" for a, v in sorted(h["aliases"].items())) or "no aliases"
    lines.append(f"now: {now}")
    return "\n".join(lines)
