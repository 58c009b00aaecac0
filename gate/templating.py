"""Jinja2 rendering of the templates shipped in ``templates/`` (package ``gate.templates``)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any


def templates_dir() -> Path:
    """The ``templates/`` folder shipped with edge-gate."""
    from gate.config.shipped import shipped_dir

    return shipped_dir("templates")


@cache
def _environment(autoescape: bool) -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(name: str, **context: Any) -> str:
    """Render template ``name`` with ``context``; undefined variables are errors."""
    return str(_environment(False).get_template(name).render(**context))
