"""What a task is: the typed contract every task object implements, built-in or plugin.

A task says what a model does and how it is measured; the stages (baseline, optimize,
measure) and the measurement worker are one code path for every task and ask the task object
for everything that differs. A task object is registered by name (:mod:`gate.tasks`) and
implements :class:`Task`:

* **declarations** (read when a manifest loads, so they must be cheap): ``name``,
  ``metrics`` (metric name -> ``"higher"`` or ``"lower"`` is better), ``item_statistics``
  (metric -> (per-item score, statistic), so confidence intervals resample eval items),
  ``axes`` (input axes a manifest may declare dynamic), ``source_formats`` (``source.format``
  values it reads), ``settings_section`` (the manifest section it needs, e.g. ``generation``,
  or None) and ``inputs_from`` (whether its inputs are built from the source, before the
  baseline, or from the built baseline, e.g. with the baseline's own tokenizer);
* **inputs** (baseline stage): :meth:`Task.read_items` (eval items for the bad-input checks,
  or None when the eval file is a stream, e.g. text for perplexity),
  :meth:`Task.build_inputs` (the arrays of ``inputs.npz``) and :meth:`Task.check_conversion`
  (the baseline against the source, recorded as ``conversion_fidelity``);
* **sessions** (measurement worker, one fresh process per artifact):
  :meth:`Task.open_session`, :meth:`Task.latency_feeds`, :meth:`Task.eval_feeds`,
  :meth:`Task.timed_runs` (how many) and :meth:`Task.time` (one timed request: latency
  samples in ms plus per-run records);
* **scores** (measure stage, in the parent): :meth:`Task.item_scores` (per-item arrays),
  :meth:`Task.score` (the metrics), :meth:`Task.timing_metrics` (task metrics computed from
  the timed runs, e.g. generation tokens/s), :meth:`Task.describe` (extra JSON sections of
  ``measurements.json``) and :meth:`Task.predictions` (optional, for a collapse histogram).

Shapes: ``inputs`` is the loaded ``inputs.npz`` (a mapping of name -> array); ``reference``
and ``outputs`` are the baseline's and one side's eval outputs stacked over eval items,
shape ``[n_items, ...]`` (the worker stacks ``run(feeds)[0]`` of every eval feed).

:class:`TaskBase` gives the defaults a task may keep (no timing metrics, no predictions, no
extra sections, sessions opened with ``backend.open``, one timed ``run`` per sample).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

Direction = Literal["higher", "lower"]
#: ``"source"``: inputs are built before the baseline (calibration data for its conversion);
#: ``"baseline"``: inputs need the built baseline (e.g. its tokenizer).
InputsFrom = Literal["source", "baseline"]
#: Opens an artifact folder (or, for formats that allow it, a bare model file) with the
#: baseline's backend and the manifest's thread count, returning a session.
Opener = Callable[[Path], Any]


@dataclass(frozen=True)
class InputContext:
    """What :meth:`Task.build_inputs` and :meth:`Task.check_conversion` get from the baseline stage.

    ``source``: the manifest's resolved source path; ``eval_path``: the eval file;
    ``items``: :meth:`Task.read_items` of it (None for a stream); ``input``: the manifest's
    ``input`` section (``batch_size``, ``sequence_length``, ``dynamic_axes``); ``settings``:
    the task's manifest section (:attr:`Task.settings_section`) as a dict, else empty;
    ``min_items``: ``eval.min_items``; ``baseline``: the built baseline folder (None while
    ``inputs_from == "source"`` builds inputs first); ``inputs``: the written
    ``inputs.npz`` (None until it is written); ``open``: opens a path with the baseline's
    backend; ``allow_pickle``: the source's opt-in to pickled weights; ``threads``: the
    manifest's measurement thread count; ``eval_location``: where bad eval input is reported
    (``file:line:column`` of ``eval.data``).
    """

    source: Path
    eval_path: Path
    items: list[str] | None
    input: Mapping[str, Any]
    settings: Mapping[str, Any]
    min_items: int
    baseline: Path | None
    open: Opener
    inputs: Path | None = None
    allow_pickle: bool = False
    threads: int = 1
    eval_location: str | None = None


@dataclass
class TimedRuns:
    """The reply of one timed request (:meth:`Task.time`).

    ``latencies_ms``: the latency samples of this request, in ms, appended as one round's
    samples to ``samples.latency_rounds_ms`` (for a tensor task one per run; for text
    generation one per decode step). ``runs``: one record per timed run (JSON numbers,
    e.g. ``{"generation_tokens_per_s": 41.2, "prompt_ms": 8.1}``), or empty. ``output``:
    JSON kept from the first timed run of the first round (e.g. the generated token ids), or None.
    """

    latencies_ms: list[float]
    runs: list[dict[str, float]] = field(default_factory=list)
    output: Any = None
    #: which call was timed: ``bind`` (inputs bound once, the runtime's call alone) or ``run``
    timed_call: str = "run"
    #: what the timing loop itself measures around a call that does nothing, ms (:func:`timer_overhead_ms`)
    timer_overhead_ms: float | None = None


@dataclass(frozen=True)
class SideRecord:
    """What :meth:`Task.describe` sees of one side after measuring: its artifact description
    (``artifact.json`` as a dict), its timed-run records, its metrics and the ``output`` of
    its first timed run (:class:`TimedRuns`)."""

    artifact: Mapping[str, Any]
    runs: Sequence[Mapping[str, float]]
    metrics: Mapping[str, float]
    output: Any = None


@runtime_checkable
class Task(Protocol):
    """A registered task (see the module docstring for what each member is for)."""

    name: str
    metrics: Mapping[str, Direction]
    item_statistics: Mapping[str, tuple[str, str]]
    axes: tuple[str, ...]
    source_formats: tuple[str, ...]
    settings_section: str | None
    inputs_from: InputsFrom
    #: Python module holding the task's export hooks (``torch_module``, ``export_spec``,
    #: ``eval_feeds``, ``per_item_fidelity``) for backends that export a torch source.
    module: str

    def read_items(self, path: Path) -> list[str] | None:
        """The eval items of ``path`` (checked for repeats, count and labels when a manifest
        loads), or None when the eval file is not a list of items. Raises UnicodeDecodeError
        for a file that is not UTF-8."""
        ...

    def build_inputs(self, ctx: InputContext) -> dict[str, np.ndarray]:
        """The arrays of ``inputs.npz``: the fixed latency input and the eval items.

        Raises:
            ConfigError: the eval data cannot give what the manifest asks (at ``eval.data``).
        """
        ...

    def check_conversion(self, ctx: InputContext) -> dict[str, Any]:
        """Compare the built baseline (``ctx.baseline``) with the source on the eval inputs;
        returns figures recorded as the baseline's ``conversion_fidelity`` (and may add
        ``warnings``: a list of one-line notes the report shows)."""
        ...

    def open_session(self, backend: Any, artifact: Path, threads: int, inputs: Mapping[str, np.ndarray]) -> Any:
        """Open ``artifact`` for inference in a worker (``backend.open`` plus whatever the
        task needs, e.g. a context long enough for its inputs)."""
        ...

    def timed_runs(self, measure: Mapping[str, Any], settings: Mapping[str, Any]) -> int:
        """Timed runs per artifact over the first ``measure.rounds`` rounds, from the manifest's
        ``measure`` section and the task's own section (:attr:`settings_section`)."""
        ...

    def latency_feeds(self, inputs: Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]:
        """The fixed input of one timed ``run`` (also the load test's request)."""
        ...

    def eval_feeds(self, inputs: Mapping[str, np.ndarray]) -> Sequence[Mapping[str, np.ndarray]]:
        """One feed dict per eval item (batch 1); ``session.run(feed)[0]`` is its output."""
        ...

    def time(self, session: Any, inputs: Mapping[str, np.ndarray], warmup: int, runs: int) -> TimedRuns:
        """``warmup`` untimed then ``runs`` timed runs on the fixed input (clock:
        ``perf_counter_ns``)."""
        ...

    def item_scores(self, reference: np.ndarray, outputs: np.ndarray,
                    inputs: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """Per-item scores of ``outputs`` against ``reference``, each shape [n_items]
        (the keys named by :attr:`item_statistics`).

        Raises:
            ValueError: shapes differ, too few items, or non-finite values.
        """
        ...

    def score(self, reference: np.ndarray, outputs: np.ndarray,
              inputs: Mapping[str, np.ndarray] | None = None) -> dict[str, float]:
        """The task's eval metrics of ``outputs`` against ``reference`` (raises as :meth:`item_scores`)."""
        ...

    def timing_metrics(self, runs: Mapping[str, Sequence[Mapping[str, float]]],
                       outputs: Mapping[str, Any]) -> dict[str, dict[str, float]]:
        """Task metrics computed from each side's timed runs (role -> metric -> value) and
        the first timed run's ``output`` of each side (role -> JSON)."""
        ...

    def describe(self, sides: Mapping[str, SideRecord], settings: Mapping[str, Any],
                 threads: int) -> dict[str, Any]:
        """Extra sections of ``measurements.json``: ``{"doc": {...}, "baseline": {...},
        "candidate": {...}}`` (each merged into that level), e.g. the LLM roofline."""
        ...

    def predictions(self, outputs: np.ndarray, inputs: Mapping[str, np.ndarray] | None = None) -> np.ndarray | None:
        """The predicted class (or token) of each eval item, shape [n_items], for a collapse
        histogram; None when the task has no such notion."""
        ...


def timed_call(session: Any, feeds: Mapping[str, np.ndarray]) -> tuple[Callable[[], object], str]:
    """The call the timer wraps, and its name: the session's ``bind(feeds)`` (inputs bound
    once, so only the runtime's own call is timed: ONNX Runtime IOBinding, one reused
    OpenVINO infer request) when it has one, else ``session.run(feeds)``, which also converts
    inputs and copies the output on every call."""
    if hasattr(session, "bind"):
        return session.bind(feeds), "bind"
    return (lambda: session.run(feeds)), "run"


def timer_overhead_ms(repeats: int = 1001) -> float:
    """Median time (ms) the timing loop itself measures around a call that does nothing (two
    ``perf_counter_ns`` reads and a Python call): what every latency sample carries besides
    the runtime's own time. Recorded, never subtracted."""
    def nothing() -> None:
        return None

    out: list[int] = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        nothing()
        out.append(time.perf_counter_ns() - t0)
    return sorted(out)[repeats // 2] / 1e6


def time_calls(call: Callable[[], Any], warmup: int, runs: int) -> list[float]:
    """``warmup`` untimed then ``runs`` timed calls of ``call``; wall-clock ms of each timed
    call (``perf_counter_ns``)."""
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - t0) / 1e6)
    return samples


class TaskBase:
    """Defaults for :class:`Task` members a task may keep (subclass and override)."""

    item_statistics: Mapping[str, tuple[str, str]] = {}
    axes: tuple[str, ...] = ()
    settings_section: str | None = None
    inputs_from: InputsFrom = "source"

    def open_session(self, backend: Any, artifact: Path, threads: int, inputs: Mapping[str, np.ndarray]) -> Any:
        return backend.open(artifact, threads)

    def timed_runs(self, measure: Mapping[str, Any], settings: Mapping[str, Any]) -> int:
        return int(measure["timed_runs"])

    def latency_feeds(self, inputs: Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]:
        raise NotImplementedError

    def time(self, session: Any, inputs: Mapping[str, np.ndarray], warmup: int, runs: int) -> TimedRuns:
        call, how = timed_call(session, self.latency_feeds(inputs))
        return TimedRuns(time_calls(call, warmup, runs), timed_call=how, timer_overhead_ms=timer_overhead_ms())

    def timing_metrics(self, runs: Mapping[str, Sequence[Mapping[str, float]]],
                       outputs: Mapping[str, Any]) -> dict[str, dict[str, float]]:
        return {role: {} for role in runs}

    def describe(self, sides: Mapping[str, SideRecord], settings: Mapping[str, Any],
                 threads: int) -> dict[str, Any]:
        return {}

    def predictions(self, outputs: np.ndarray, inputs: Mapping[str, np.ndarray] | None = None) -> np.ndarray | None:
        return None
