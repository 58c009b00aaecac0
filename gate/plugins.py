"""How plugins are found: one mechanism for every registry (backends, tasks).

A registry names its built-ins as ``module:attribute`` references and takes more from an
entry-point group (installed packages) and from an environment variable
``NAME=module:attribute,...`` (which reaches the stage and worker subprocesses). Built-ins
come first, an installed entry point cannot replace one, and the environment variable can
(that is how a test or a team's CI swaps one in).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from gate.errors import ConfigError


def plugin_refs(builtin: Mapping[str, str], group: str, env_var: str) -> dict[str, str]:
    """Name -> ``module:attribute`` of every plugin of one registry (see the module docstring).

    Raises:
        ConfigError: an item of ``env_var`` is not ``name=module:attribute``.
    """
    refs = dict(builtin)
    for ep in entry_points(group=group):
        refs.setdefault(ep.name, ep.value)
    for item in filter(None, os.environ.get(env_var, "").split(",")):
        name, sep, ref = item.strip().partition("=")
        if not sep or ":" not in ref:
            raise ConfigError(f"{env_var}: {item!r} is not name=module:attribute")
        refs[name] = ref
    return refs


def load_ref(ref: str) -> Any:
    """The object a ``module:attribute`` reference names (importing the module)."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)
