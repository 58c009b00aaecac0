"""The backend registry: the one place where backends are found.

Built-in backends and third-party plugins are registered the same way, through the
``edge_gate.backends`` entry-point group (see ``pyproject.toml``). A plugin package declares::

    [project.entry-points."edge_gate.backends"]
    mybackend = "my_package.module:BACKEND"

Loading a backend's module must stay cheap: heavy frameworks are imported inside the methods
that use them. Tests inject fakes with :func:`register`, the same registry the real ones use.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from gate.backends.base import Backend
from gate.errors import ConfigError

GROUP = "edge_gate.backends"
_registry: dict[str, Backend] = {}
_loaded = False


def register(backend: Backend) -> None:
    """Add (or replace) a backend under ``backend.name``."""
    _registry[backend.name] = backend


def _load_entry_points() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for ep in entry_points(group=GROUP):
        if ep.name not in _registry:
            backend = ep.load()
            register(backend)


def available() -> list[str]:
    """Names of every registered backend, sorted."""
    _load_entry_points()
    return sorted(_registry)


def get_backend(name: str, *, location: str | None = None) -> Backend:
    """The backend registered as ``name``.

    Raises:
        ConfigError: when no backend has that name (at ``location``, if given).
    """
    _load_entry_points()
    try:
        return _registry[name]
    except KeyError:
        raise ConfigError(
            f"unknown backend {name!r} (available: {', '.join(sorted(_registry))})",
            location=location,
        ) from None
