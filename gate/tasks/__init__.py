"""The task registry: the one place where tasks are found, and where the manifest's ``task``
choices come from.

A task is an object implementing :class:`gate.tasks.protocol.Task`. Built-in tasks and
third-party plugins go through the same path: a ``"module:attribute"`` reference, loaded on
first use and passed to :func:`register`. Built-ins are listed in :data:`BUILTIN`; plugins
declare an entry point in the ``edge_gate.tasks`` group::

    [project.entry-points."edge_gate.tasks"]
    my-task = "my_package.module:TASK"

or, without packaging, the environment variable ``EDGE_GATE_TASKS`` holds
``name=module:attribute`` pairs separated by commas (it reaches the stage and measurement
subprocesses too). Loading a task's module must stay cheap (numpy at most): heavy frameworks
are imported inside the methods that use them, because every ``gate validate`` loads the
registry.
"""

from __future__ import annotations

from gate.errors import ConfigError
from gate.plugins import load_ref, plugin_refs
from gate.tasks.protocol import Task

GROUP = "edge_gate.tasks"
ENV_VAR = "EDGE_GATE_TASKS"
#: The tasks that ship with edge-gate, by name.
BUILTIN: dict[str, str] = {
    "sentence-embedding": "gate.tasks.embedding:TASK",
    "text-generation": "gate.tasks.generation:TASK",
    "image-classification": "gate.tasks.image_classification:TASK",
    "tensor": "gate.tasks.tensor:TASK",  # any model with named inputs; data checked against its signature
}
_registry: dict[str, Task] = {}
_loaded = False


def register(task: Task) -> None:
    """Add (or replace) a task under ``task.name``.

    Raises:
        ConfigError: the object does not implement the :class:`Task` protocol.
    """
    if not isinstance(task, Task):
        raise ConfigError(f"{task!r} is not a task: it lacks members of gate.tasks.protocol.Task")
    _registry[task.name] = task


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for name, ref in plugin_refs(BUILTIN, GROUP, ENV_VAR).items():
        if name not in _registry:
            task = load_ref(ref)
            if task.name != name:
                raise ConfigError(f"task reference {name}={ref} names a task called {task.name!r}")
            register(task)


def available() -> list[str]:
    """Names of every registered task, sorted (the manifest's ``task`` choices)."""
    _load()
    return sorted(_registry)


def get_task(name: str, *, location: str | None = None) -> Task:
    """The task registered as ``name``.

    Raises:
        ConfigError: no task has that name (at ``location``, if given).
    """
    _load()
    try:
        return _registry[name]
    except KeyError:
        raise ConfigError(f"unknown task {name!r} (known: {', '.join(sorted(_registry))})",
                          location=location) from None


__all__ = ["BUILTIN", "ENV_VAR", "GROUP", "Task", "available", "get_task", "register"]
