"""Tasks: what a model does, which inputs measure it and how its outputs are scored.

Each task names its fidelity metrics (higher is better unless listed as lower) and knows how
to turn eval-set lines into model inputs and two sets of outputs into those metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gate.errors import ConfigError


@dataclass(frozen=True)
class TaskInfo:
    """A task's name, its module (imported only when inputs are built or scored), its metrics,
    and the names of its input axes a manifest may declare dynamic."""

    name: str
    module: str
    metrics: dict[str, Literal["higher", "lower"]]
    axes: tuple[str, ...] = ()


TASKS: dict[str, TaskInfo] = {
    "sentence-embedding": TaskInfo(
        name="sentence-embedding",
        module="gate.tasks.embedding",
        metrics={"cosine_mean": "higher", "cosine_p5": "higher", "nn10_overlap": "higher"},
        axes=("batch", "sequence"),
    ),
    "image-classification": TaskInfo(
        name="image-classification",
        module="gate.tasks.image_classification",
        metrics={"top1_agreement": "higher", "top1_accuracy": "higher", "logit_cosine_mean": "higher"},
        axes=("batch",),
    ),
}


def get_task(name: str) -> TaskInfo:
    """The task called ``name``. Raises ConfigError for an unknown task."""
    try:
        return TASKS[name]
    except KeyError:
        raise ConfigError(f"unknown task {name!r} (known: {', '.join(TASKS)})") from None
