"""The backend registry: the one place where backends are found.

Built-in backends and third-party plugins go through the same path: an ``"module:attribute"``
reference, loaded on first use and passed to :func:`register`. Built-ins are listed in
:data:`BUILTIN` (as simonw/llm registers its default plugins directly); plugins declare an
entry point in the ``edge_gate.backends`` group::

    [project.entry-points."edge_gate.backends"]
    mybackend = "my_package.module:BACKEND"

or, without packaging, the environment variable ``EDGE_GATE_BACKENDS`` holds
``name=module:attribute`` pairs separated by commas (it reaches the stage and measurement
subprocesses too, so a backend under development works end to end).

Loading a backend's module must stay cheap: heavy frameworks are imported inside the methods
that use them. Tests inject fakes with :func:`register`, the same registry the real ones use.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from gate.backends.base import Backend
from gate.errors import ConfigError
from gate.plugins import load_ref, plugin_refs

GROUP = "edge_gate.backends"
ENV_VAR = "EDGE_GATE_BACKENDS"
#: The backends that ship with edge-gate, by name.
BUILTIN: dict[str, str] = {
    "onnxruntime": "gate.backends.onnxruntime:BACKEND",
    "llamacpp": "gate.backends.llamacpp:BACKEND",
    "mlx": "gate.backends.mlx:BACKEND",
    "openvino": "gate.backends.openvino:BACKEND",
    "olive": "gate.backends.olive:BACKEND",
}
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
    for name, ref in plugin_refs(BUILTIN, GROUP, ENV_VAR).items():
        if name not in _registry:
            register(load_ref(ref))


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


def runtime_versions(name: str) -> dict[str, str]:
    """Installed versions of backend ``name``'s :attr:`~gate.backends.base.Backend.distributions`
    (``"not installed"`` for an absent one), read from package metadata without importing the
    frameworks. Empty for a plugin that declares none.

    Raises:
        ConfigError: no backend has that name.
    """
    found: dict[str, str] = {}
    for dist in getattr(get_backend(name), "distributions", ()):
        try:
            found[dist] = version(dist)
        except PackageNotFoundError:
            found[dist] = "not installed"
    return found
