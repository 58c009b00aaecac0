"""Which manifests a pull request touches: the changed files between base and head, mapped
to the manifests that use them.

A manifest counts as changed when any file it uses changed between the merge base of
``base`` and ``head`` (``git diff base...head``, the file list GitHub shows on a pull
request): the manifest itself or anything in its folder, its eval data and source when they
live in the repository, the policy it names (or the ``--policy`` override), and the
repository's own ``templates/*.j2`` (the DVC stages every manifest is planned with). A
manifest that no longer loads counts as changed when its folder or any policy changed, so the
next step reports its problem (exit 2) instead of silently skipping it.
"""

from __future__ import annotations

import fnmatch
import subprocess
from dataclasses import dataclass
from pathlib import Path

from gate.errors import ConfigError, GateError
from gate.plan.dvcfile import find_manifests


@dataclass(frozen=True)
class Uses:
    """What one manifest depends on, as repository-relative paths (folders end with ``/``)."""

    manifest: str
    paths: frozenset[str]


def git_changed_files(root: Path, base: str, head: str) -> set[str]:
    """Repository-relative paths changed between the merge base of ``base`` and ``head``.

    Raises:
        ConfigError: a ref is unknown, or the history is too shallow to find the merge base
            (hint: ``fetch-depth: 0`` on actions/checkout).
    """
    proc = subprocess.run(
        ["git", "diff", "--name-only", "-z", "--no-renames", f"{base}...{head}"],
        cwd=root, capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        raise ConfigError(
            f"git diff {base}...{head} failed: {proc.stderr.strip()}",
            hint="check the base ref; on GitHub Actions check out with `fetch-depth: 0`",
        )
    return {p for p in proc.stdout.split("\0") if p}


def _rel(path: Path, root: Path) -> str | None:
    resolved = path.resolve()
    if not resolved.is_relative_to(root):
        return None
    rel = resolved.relative_to(root).as_posix()
    return rel + "/" if resolved.is_dir() else rel


def manifest_uses(path: Path, root: Path, policy_override: Path | None = None) -> Uses:
    """The files ``path`` uses (see the module docstring). Raises ConfigError if it is invalid."""
    from gate.config.loading import load_pair

    loaded, policy = load_pair(path, policy_override)
    used = {_rel(loaded.folder, root), _rel(path, root), _rel(loaded.eval_path(), root),
            _rel(policy.path, root)}
    if loaded.manifest.source.package is None:
        used.add(_rel(loaded.source_path(), root))
    used |= {_rel(t, root) for t in sorted((root / "templates").glob("*.j2"))}
    return Uses(manifest=_rel(path, root) or str(path), paths=frozenset(p for p in used if p))


def _touched(uses: frozenset[str], changed: set[str]) -> bool:
    return any(c == u or (u.endswith("/") and c.startswith(u)) for u in uses for c in changed)


def select(paths: list[Path], globs: list[str], root: Path) -> list[Path]:
    """The manifests among ``paths`` whose repository-relative path matches any glob (fnmatch,
    where ``*`` also crosses folders); all of them when ``globs`` is empty."""
    if not globs:
        return paths
    return [p for p in paths if any(fnmatch.fnmatch(_rel(p, root) or str(p), g) for g in globs)]


def changed_manifests(root: Path, base: str | None, head: str, globs: list[str],
                      policy_override: Path | None = None) -> list[Path]:
    """The manifests (matching ``globs``) to gate for the change ``base...head``.

    With no ``base`` (a manual run, the first push of a branch) every matching manifest.

    Raises:
        ConfigError: see :func:`git_changed_files`.
    """
    root = root.resolve()
    candidates = select(find_manifests(root), globs, root)
    if not base or set(base) == {"0"}:  # GitHub's "before" of a new branch is all zeros
        return candidates
    changed = git_changed_files(root, base, head)
    if policy_override is not None and _rel(policy_override, root) in changed:
        return candidates
    chosen = []
    for path in candidates:
        try:
            uses = manifest_uses(path, root, policy_override).paths
        except GateError:
            uses = frozenset({_rel(path.parent, root) or "", "policies/"})
        if _touched(uses, changed):
            chosen.append(path)
    return chosen
