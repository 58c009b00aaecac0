"""The model manifest: what a team commits to put a model through the gate.

A manifest is a YAML file (conventionally ``models/<name>/gate.yaml``) validated against the
static :class:`Manifest` class. Paths in it are relative to the manifest's folder. Loading
checks the schema first, then everything the schema cannot see (files exist and stay inside
the repository, target names are unique, each recipe fits its backend), and reports the first
problem as ``file:line:column: problem`` (exit 2) before anything is built or measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from gate.backends import available, get_backend
from gate.backends.autoselect import choose_backend
from gate.config.schema import Strict, Version, parse, sha256_file, sha256_json, sha256_tree
from gate.config.search import Search, expand_manifest
from gate.config.sections import (
    BaselineSpec,
    EvalSet,
    GenerationSpec,
    InputSpec,
    Limits,
    MeasureSpec,
    Name,
    SelectionSpec,
    Source,
    Target,
    TaskName,
    Waiver,
)
from gate.config.sources import check_source_files, inside, resolve_source
from gate.config.tensorspec import TensorSpec
from gate.config.yamlio import Located, load_yaml
from gate.errors import ConfigError
from gate.tasks import available as available_tasks
from gate.tasks import get_task


class Manifest(Strict):
    """A committed model manifest (``gate.yaml``). See ``gate schema manifest``."""

    version: Version = 1
    name: Name
    task: TaskName
    description: str = ""
    source: Source
    policy: str = Field(description="a policy name (policies/<name>.yaml) or a path to one")
    input: InputSpec = InputSpec()
    eval: EvalSet
    baseline: BaselineSpec = BaselineSpec()
    measure: MeasureSpec = MeasureSpec()
    limits: Limits = Limits()
    generation: GenerationSpec | None = None
    tensor: TensorSpec | None = None
    targets: list[Target] = Field(min_length=1)
    waivers: list[Waiver] = Field(default_factory=list)
    selection: SelectionSpec = SelectionSpec()


#: Manifest sections that belong to a task (:attr:`gate.tasks.protocol.Task.settings_section`):
#: present exactly when the manifest's task reads them.
TASK_SECTIONS = ("generation",)


@dataclass(frozen=True)
class LoadedManifest:
    """A validated manifest with its file, locations and resolved paths."""

    manifest: Manifest
    doc: Located
    repo_root: Path
    recipes: dict[str, Strict]
    #: target name -> why ``backend: auto`` chose its backend (:mod:`gate.backends.autoselect`)
    backend_choices: dict[str, str] = field(default_factory=dict)
    #: searched target name -> its expanded candidates (:mod:`gate.config.search`)
    searches: dict[str, Search] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.doc.path

    @property
    def folder(self) -> Path:
        return self.doc.path.parent

    @cached_property
    def sha256(self) -> str:
        return sha256_file(self.doc.path)

    def target(self, name: str) -> Target:
        """The target called ``name``. Raises ConfigError when there is none."""
        for target in self.manifest.targets:
            if target.name == name:
                return target
        names = ", ".join(t.name for t in self.manifest.targets)
        raise ConfigError(f"no target {name!r} (targets: {names})", location=str(self.path))

    def limits(self, name: str) -> Limits:
        """The limits of target ``name``: its own, else the manifest's."""
        return self.target(name).limits or self.manifest.limits

    def where(self, *loc: str | int) -> str:
        return self.doc.where(loc)

    def source_path(self) -> Path:
        return resolve_source(self)

    def eval_path(self) -> Path:
        return (self.folder / self.manifest.eval.data).resolve()

    def eval_file(self, key: Literal["data", "labels", "calibration"]) -> Path | None:
        """The resolved path of ``eval.<key>`` (None when the manifest does not set it)."""
        rel = getattr(self.manifest.eval, key)
        return None if rel is None else (self.folder / rel).resolve()

    @property
    def tensor(self) -> TensorSpec:
        """The ``tensor:`` section (its defaults when the manifest has none)."""
        return self.manifest.tensor or TensorSpec()

    @cached_property
    def source_sha256(self) -> str:
        """sha256 of the source's bytes (:func:`gate.config.schema.sha256_tree`: a file, or
        every file of a folder), so that replaced weights make the plan and the measurements
        stale."""
        return sha256_tree(self.source_path())

    def baseline_params(self) -> dict[str, Any]:
        """What the baseline artifact depends on (DVC params and the baseline config hash),
        the source's sha256 included."""
        m = self.manifest
        params = {
            "source": {**m.source.model_dump(), "sha256": self.source_sha256},
            "task": m.task,
            "input": m.input.model_dump(),
            "baseline": m.baseline.model_dump(),
            "eval": {"data": m.eval.data, "min_items": m.eval.min_items},
        }
        if m.generation is not None:  # absent for other tasks, so their hashes do not move
            params["generation"] = m.generation.model_dump()
        if m.tensor is not None:
            params["tensor"] = m.tensor.model_dump()
        evals: dict[str, Any] = params["eval"]  # type: ignore[assignment]
        for key in ("labels", "calibration"):  # only when set, so other manifests' hashes stay
            path = self.eval_file(key)
            if path is not None:
                evals[key] = {"path": getattr(m.eval, key), "sha256": sha256_tree(path)}
        return params

    def target_params(self, name: str) -> dict[str, Any]:
        """What one candidate depends on: its target, its normalised recipe and the baseline."""
        target = self.target(name)
        return {
            "platform": target.platform,
            "backend": target.backend,
            "recipe": self.recipes[name].model_dump(mode="json"),
            "baseline_hash": sha256_json(self.baseline_params())[:16],
        }

    def measure_params(self) -> dict[str, Any]:
        m = self.manifest
        params = {"measure": m.measure.model_dump(), "metrics": m.eval.metrics}
        if m.generation is not None:
            params["generation"] = m.generation.model_dump()
        return params

    @cached_property
    def eval_sha256(self) -> str:
        """sha256 of the eval set's bytes (a file, or every file of a folder of images)."""
        return sha256_tree(self.eval_path())

    def config_hash(self, name: str) -> str:
        """Hash of everything that determines target ``name``'s measurements (16 hex digits):
        its candidate (:meth:`target_params`, which includes the baseline's), the measure
        settings (:meth:`measure_params`: threads, runs, rounds, ...) and the eval set's bytes.
        A ``measurements.json`` written for another hash is stale, never judged: a failed
        ``dvc repro`` after any of these changed leaves measurements that no longer describe
        the manifest."""
        return sha256_json({"target": self.target_params(name), "measure": self.measure_params(),
                            "eval_sha256": self.eval_sha256})[:16]


def _check_capability(backend: Any, role: str, task: str, where: str) -> None:
    """Refuse a backend that cannot build a ``role`` (candidate, baseline) for ``task``, from
    its declared ``candidate_tasks`` / ``baseline_tasks`` (a plugin that declares none is
    not checked here; its stage reports what it cannot do)."""
    tasks = getattr(backend, f"{role}_tasks", None)
    if tasks is None or task in tasks:
        return
    can = f"builds {role}s for {', '.join(sorted(tasks))}" if tasks else f"never builds a {role}"
    raise ConfigError(f"backend {backend.name!r} cannot build a {role} for task {task!r}: it {can}",
                      location=where)


def find_repo_root(start: Path) -> Path:
    """The nearest folder at or above ``start`` holding ``.git`` (else ``start`` itself)."""
    here = start.resolve()
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder
    return here


def load_manifest(path: Path, repo_root: Path | None = None) -> LoadedManifest:
    """Load and fully validate a manifest.

    Raises:
        ConfigError: schema problems, duplicate target names, unknown backends, recipes that
            do not fit their backend, unknown metrics, and paths that do not exist or leave the
            repository, each as ``file:line:column: problem``.
    """

    if path.is_symlink():
        root = repo_root or find_repo_root(path.parent)
        inside(path, root, "manifest", str(path))
    doc = load_yaml(path)
    manifest = parse(doc, Manifest)
    manifest, origins, searches = expand_manifest(doc, manifest)  # `search:` -> targets <name>--<k>
    root = (repo_root or find_repo_root(path.parent)).resolve()
    inside(path, root, "manifest", str(path))

    recipes: dict[str, Strict] = {}
    seen: dict[str, int] = {}
    choices: dict[str, str] = {}
    for i, target in enumerate(manifest.targets):
        at = origins[i]
        if target.backend == "auto":
            target = manifest.targets[i] = resolve_auto(target, manifest.task, doc.where((*at, "backend")), choices)
        if target.name in seen:
            raise ConfigError(
                f"duplicate target name {target.name!r} (also targets[{seen[target.name]}])",
                location=doc.where((*at, "name")),
            )
        seen[target.name] = int(at[1])
        backend = get_backend(target.backend, location=doc.where((*at, "backend")))
        _check_capability(backend, "candidate", manifest.task, doc.where((*at, "backend")))
        recipes[target.name] = parse(doc, backend.recipe_model, prefix=(*at, "recipe"), data=target.recipe)
    baseline_backend = get_backend(manifest.baseline.backend, location=doc.where(("baseline", "backend")))
    _check_capability(baseline_backend, "baseline", manifest.task, doc.where(("baseline", "backend")))
    if manifest.tensor is not None and manifest.task != "tensor":  # optional for task tensor, so not a TASK_SECTION
        raise ConfigError("a `tensor:` section belongs to task tensor only", location=doc.where(("tensor",)))
    task = get_task(manifest.task)
    for section in TASK_SECTIONS:
        if (task.settings_section == section) != (getattr(manifest, section) is not None):
            raise ConfigError(
                f"a `{section}:` section is required for the task that reads it "
                f"({', '.join(t for t in available_tasks() if get_task(t).settings_section == section)}) "
                "and only for it", location=doc.where(("task",)))
    for j, axis in enumerate(manifest.input.dynamic_axes):
        if axis not in task.axes:
            raise ConfigError(
                f"task {manifest.task} has no axis {axis!r} (axes: {', '.join(task.axes)})",
                location=doc.where(("input", "dynamic_axes", j)),
            )
    known_metrics = {**task.metrics, **{k: v.better for k, v in (manifest.tensor or TensorSpec()).metrics.items()}}
    for j, metric in enumerate(manifest.eval.metrics):
        if metric not in known_metrics:
            raise ConfigError(
                f"unknown metric {metric!r} for task {manifest.task} "
                f"(known: {', '.join(sorted(known_metrics))})",
                location=doc.where(("eval", "metrics", j)),
            )
    if manifest.eval.primary not in manifest.eval.metrics:
        raise ConfigError(
            f"primary metric {manifest.eval.primary!r} is not in eval.metrics",
            location=doc.where(("eval", "primary")),
        )
    for k, waiver in enumerate(manifest.waivers):
        if waiver.target != "*" and waiver.target not in seen:
            raise ConfigError(
                f"waiver names unknown target {waiver.target!r}",
                location=doc.where(("waivers", k, "target")),
            )

    weights = manifest.selection.weights
    if weights.speedup + weights.memory_cut + weights.fidelity <= 0:
        raise ConfigError("selection weights must not all be zero", location=doc.where(("selection", "weights")))
    loaded = LoadedManifest(manifest=manifest, doc=doc, repo_root=root, recipes=recipes, backend_choices=choices,
                            searches=searches)
    source = loaded.source_path()
    check_source_files(loaded, source)
    if manifest.source.format == "gguf":  # header only: zero-filled or cut-short files (C11)
        from gate.backends.gguf import read_gguf

        read_gguf(source)
    from gate.config.evalset import check_eval

    check_eval(loaded)  # files exist and stay inside; repeats, too few items, non-UTF-8 bytes, one label for
    # all; for task tensor the files against the model's inputs (gate.config.tensordata)
    return loaded


def resolve_auto(target: Target, task: str, where: str, choices: dict[str, str]) -> Target:
    """``target`` with ``backend: auto`` replaced by the chosen backend; records why in ``choices``.

    Raises:
        ConfigError: the chosen backend is not registered (at ``where``).
    """
    backend, reason = choose_backend(target.platform, task)
    if backend not in available():
        raise ConfigError(
            f"backend: auto chose {backend!r} for target {target.name!r} ({reason}), but no backend "
            f"{backend!r} is registered (available: {', '.join(available())})",
            location=where, hint=f"install the {backend} backend, or name a backend instead of auto",
        )
    choices[target.name] = f"backend: auto chose {backend} ({reason})"
    return target.model_copy(update={"backend": backend})
