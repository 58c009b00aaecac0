"""Tasks: what a model does, which inputs measure it and how its outputs are scored.

Each task names its fidelity metrics (higher is better unless listed as lower) and knows how
to turn eval-set lines into model inputs and two sets of outputs into those metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from gate.errors import ConfigError


@dataclass(frozen=True)
class TaskInfo:
    """A task's name, its module (imported only when inputs are built or scored), its metrics,
    and the names of its input axes a manifest may declare dynamic.

    ``item_statistics`` maps each metric to ``(item score, statistic)``: the per-item array
    the task module's ``item_scores`` returns and how the metric summarises it (``mean`` or
    ``pNN``, a percentile), so that confidence intervals can resample eval items.
    """

    name: str
    module: str
    metrics: dict[str, Literal["higher", "lower"]]
    item_statistics: dict[str, tuple[str, str]] = field(default_factory=dict)
    axes: tuple[str, ...] = ()
    #: ``source.format`` values the task's module can load (checked by ``gate validate``).
    source_formats: tuple[str, ...] = ()


TASKS: dict[str, TaskInfo] = {
    "sentence-embedding": TaskInfo(
        name="sentence-embedding",
        module="gate.tasks.embedding",
        metrics={"cosine_mean": "higher", "cosine_p5": "higher", "nn10_overlap": "higher"},
        item_statistics={"cosine_mean": ("cosine", "mean"), "cosine_p5": ("cosine", "p5"),
                         "nn10_overlap": ("overlap", "mean")},
        axes=("batch", "sequence"),
        source_formats=("transformers",),
    ),
    # fidelity to the baseline's logits (gate.tasks.generation), then the LLM speed figures
    "text-generation": TaskInfo(
        name="text-generation",
        module="gate.tasks.generation",
        metrics={
            "perplexity": "lower", "kl_mean": "lower", "kl_p99": "lower", "top1_agreement": "higher",
            "generation_tokens_per_s": "higher", "prompt_tokens_per_s": "higher",
            "time_to_first_token_ms": "lower", "greedy_match": "higher",
        },
        source_formats=("gguf",),
    ),
    "image-classification": TaskInfo(
        name="image-classification",
        module="gate.tasks.image_classification",
        metrics={"top1_agreement": "higher", "top1_accuracy": "higher", "logit_cosine_mean": "higher"},
        item_statistics={"top1_agreement": ("agree", "mean"), "top1_accuracy": ("correct", "mean"),
                         "logit_cosine_mean": ("cosine", "mean")},
        axes=("batch",),
        source_formats=("torch",),
    ),
    # any model with named inputs (gate.tasks.tensor); data checked against the ONNX signature
    "tensor": TaskInfo(
        name="tensor",
        module="gate.tasks.tensor",
        metrics={"cosine_mean": "higher", "max_abs_error": "lower", "snr_db": "higher", "psnr_db": "higher",
                 "top1_agreement": "higher", "top1_accuracy": "higher"},
        item_statistics={"cosine_mean": ("cosine", "mean"), "max_abs_error": ("abs_error", "p100"),
                         "snr_db": ("snr", "mean"), "psnr_db": ("psnr", "mean"),
                         "top1_agreement": ("agree", "mean"), "top1_accuracy": ("correct", "mean")},
        source_formats=("onnx", "torch"),
    ),
}


def get_task(name: str) -> TaskInfo:
    """The task called ``name``. Raises ConfigError for an unknown task."""
    try:
        return TASKS[name]
    except KeyError:
        raise ConfigError(f"unknown task {name!r} (known: {', '.join(TASKS)})") from None
