"""Loading a manifest together with its policy, as every pipeline command needs."""

from __future__ import annotations

from pathlib import Path

from gate.config.manifest import LoadedManifest, load_manifest
from gate.config.policy import GENERIC_METRICS, LoadedPolicy, load_policy, resolve_policy
from gate.config.yamlio import load_yaml
from gate.errors import ConfigError


def load_pair(path: Path, policy_override: Path | None = None) -> tuple[LoadedManifest, LoadedPolicy]:
    """Load a manifest and the policy it names (or ``policy_override``), cross-checked.

    Raises:
        ConfigError: either file is invalid, or a rule names a metric that the manifest's task
            does not measure (located in the policy file).
    """
    from gate.tasks import get_task

    loaded = load_manifest(path)
    if policy_override is not None:
        policy_path = policy_override
    else:
        policy_path = resolve_policy(
            loaded.manifest.policy, loaded.folder, loaded.repo_root, loaded.where("policy")
        )
    policy = load_policy(policy_path)
    # the task's metrics and a team's plugin metrics (task tensor), each gateable by name
    task_metrics = {**get_task(loaded.manifest.task).metrics, **loaded.tensor.metrics}
    for i, rule in enumerate(policy.policy.rules):
        if rule.metric != "accuracy" and rule.metric not in GENERIC_METRICS and rule.metric not in task_metrics:
            known = ", ".join(["accuracy", *GENERIC_METRICS, *task_metrics])
            raise ConfigError(
                f"rule {rule.id!r} names unknown metric {rule.metric!r} (known: {known})",
                location=policy.doc.where(("rules", i, "metric")),
            )
    for k, waiver in enumerate(loaded.manifest.waivers):
        if waiver.rule not in {r.id for r in policy.policy.rules}:
            raise ConfigError(
                f"waiver names rule {waiver.rule!r}, which policy {policy.policy.name!r} does not have",
                location=loaded.where("waivers", k, "rule"),
            )
    return loaded, policy


def load_any(path: Path) -> str:
    """Validate a manifest (with its policy) or a policy file; returns which it was.

    A file whose top level has ``rules`` is a policy; anything else is read as a manifest.
    """
    doc = load_yaml(path)
    if "rules" in doc.data and "targets" not in doc.data:
        load_policy(path)
        return "policy"
    load_pair(path)
    return "manifest"
