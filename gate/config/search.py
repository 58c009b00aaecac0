"""A target's search space: ordered candidate recipes of one backend, expanded into targets.

A target may declare ``search:`` instead of one ``recipe:``::

    - name: ov
      platform: x86-cpu
      backend: openvino
      search:
        base: {calibration_size: 200}          # settings every candidate shares
        recipes:                               # tried in this order
          - {method: int8}
          - {method: int8, preset: mixed}
        grid:                                  # each recipe crossed with these (last key fastest)
          inference_precision: [f32, bf16]
        budget_s: 1800                         # `gate search` starts no candidate after this
        stop: first-pass                       # or explore: build and judge every candidate

When the manifest loads, the space becomes ordinary targets of the same platform and backend,
named ``<target>--1``, ``<target>--2``, ... in that order (``base`` merged with each recipe,
then each grid combination; later keys win). Each is a target like any other: its own recipe
validated by the backend, its own config hash, its own DVC stages (so a built candidate is
cached), and it is an alternative for its platform. DVC stage names allow no punctuation but
``_`` and ``-``, hence ``--``. ``gate repro`` builds every candidate; ``gate search``
(:mod:`gate.stages.search`) builds them in order within ``budget_s`` and stops as ``stop`` says.

Bad spaces are bad input (exit 2 at ``file:line:column``): ``search`` beside ``recipe``, an
empty recipe list or grid axis, a setting the backend does not know (located at the recipe,
grid axis or base key that brought it), two candidates with the same recipe after the
backend's defaults (they would be one measurement twice), and more than :data:`MAX_CANDIDATES`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, ValidationError

from gate.config.schema import Strict, parse, sha256_json
from gate.config.yamlio import Located
from gate.errors import ConfigError

#: Most candidates one search may expand to: each is a baseline-relative build and measurement.
MAX_CANDIDATES = 64
#: What joins a searched target's name and a candidate's 1-based position.
SEPARATOR = "--"
#: A document path, as :meth:`gate.config.yamlio.Located.where` takes it.
DocPath = tuple[str | int, ...]


def _one_default_recipe() -> list[dict[str, Any]]:
    return [{}]


class SearchSpec(Strict):
    """A search space over one backend's recipes (see the module docstring).

    ``budget_s``: seconds of building and measuring after which ``gate search`` starts no
    further candidate (one already started finishes, bounded by the target's ``limits``).
    ``stop``: ``first-pass`` stops at the first candidate that passes the policy;
    ``explore`` builds and judges every candidate within the budget.
    """

    base: dict[str, Any] = Field(default_factory=dict)
    recipes: list[dict[str, Any]] = Field(default_factory=_one_default_recipe, min_length=1)
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    budget_s: float = Field(default=3600.0, gt=0, le=7 * 86_400)
    stop: Literal["first-pass", "explore"] = "first-pass"


@dataclass(frozen=True)
class Search:
    """One expanded search: the searched target's name, its spec and its candidates' names
    (in the order ``gate search`` tries them)."""

    target: str
    platform: str
    backend: str
    spec: SearchSpec
    candidates: tuple[str, ...]


def candidate_name(target: str, position: int) -> str:
    """``<target>--<position>`` (position 1-based)."""
    return f"{target}{SEPARATOR}{position}"


def _combinations(spec: SearchSpec) -> list[tuple[int, dict[str, Any]]]:
    """(index into ``recipes``, merged recipe) in search order."""
    axes = list(spec.grid)
    combos = list(itertools.product(*(spec.grid[a] for a in axes))) if axes else [()]
    return [(k, {**spec.base, **recipe, **dict(zip(axes, values, strict=True))})
            for k, recipe in enumerate(spec.recipes) for values in combos]


def _origin(spec: SearchSpec, k: int, key: Any) -> DocPath:
    """Where in ``search:`` a recipe key came from: the grid axis, else the recipe, else base."""
    if key in spec.grid:
        return ("grid",)
    if key in spec.recipes[k]:
        return ("recipes", k)
    if key in spec.base:
        return ("base",)
    return ("recipes", k)


def _validate(doc: Located, model: type[Strict], at: DocPath, spec: SearchSpec, k: int,
              recipe: dict[str, Any]) -> Strict:
    """Validate one merged candidate recipe, locating a problem where its key was written."""
    try:
        return model.model_validate(recipe)
    except ValidationError as exc:
        loc = exc.errors()[0]["loc"]
        origin = _origin(spec, k, loc[0] if loc else None)
        parse(doc, model, prefix=(*at, "search", *origin), data=recipe)
        raise  # parse raised ConfigError; this line is never reached


def expand(doc: Located, targets: list[Any], recipe_model: Any) -> tuple[list[Any], list[DocPath], dict[str, Search]]:
    """Replace each target (a :class:`gate.config.sections.Target`) with ``search:`` by its
    candidates (see the module docstring).

    ``recipe_model(backend_name, location)`` returns the backend's recipe class. Returns the
    expanded targets, for each the document path of the target it came from (``("targets",
    i)``), and the searches by searched target name.

    Raises:
        ConfigError: a bad search space (see the module docstring), at ``file:line:column``.
    """
    out: list[Any] = []
    origins: list[DocPath] = []
    searches: dict[str, Search] = {}
    for i, target in enumerate(targets):
        at: DocPath = ("targets", i)
        spec = target.search
        if spec is None:
            out.append(target)
            origins.append(at)
            continue
        if "recipe" in target.model_fields_set:
            raise ConfigError("a target declares either `recipe:` or `search:`, not both",
                              location=doc.where((*at, "recipe")))
        for axis, values in spec.grid.items():
            if not values:
                raise ConfigError(f"search grid axis {axis!r} has no values",
                                  location=doc.where((*at, "search", "grid", axis)))
        count = len(spec.recipes) * math.prod(len(v) for v in spec.grid.values())
        if count > MAX_CANDIDATES:  # counted before expanding: a 10^12-point grid is refused, not built
            raise ConfigError(f"search of {target.name!r} expands to {count} candidates; at most "
                              f"{MAX_CANDIDATES}", location=doc.where((*at, "search")),
                              hint="split it into several targets or trim the grid")
        merged = _combinations(spec)
        if len(candidate_name(target.name, len(merged))) > 63:
            raise ConfigError(f"target name {target.name!r} is too long for its candidates' names "
                              f"({candidate_name(target.name, len(merged))!r} exceeds 63 characters)",
                              location=doc.where((*at, "name")))
        model = recipe_model(target.backend, doc.where((*at, "backend")))
        seen: dict[str, int] = {}
        names: list[str] = []
        for position, (k, recipe) in enumerate(merged, start=1):
            parsed = _validate(doc, model, at, spec, k, recipe)
            key = sha256_json(parsed.model_dump(mode="json"))
            if key in seen:
                raise ConfigError(
                    f"search candidate {position} of {target.name!r} has the same recipe as candidate "
                    f"{seen[key]} once the backend's defaults are filled in ({recipe})",
                    location=doc.where((*at, "search", "recipes", k)))
            seen[key] = position
            name = candidate_name(target.name, position)
            names.append(name)
            out.append(target.model_copy(update={"name": name, "recipe": recipe, "search": None}))
            origins.append(at)
        searches[target.name] = Search(target=target.name, platform=target.platform, backend=target.backend,
                                       spec=spec, candidates=tuple(names))
    return out, origins, searches


def expand_manifest(doc: Located, manifest: Any) -> tuple[Any, list[DocPath], dict[str, Search]]:
    """:func:`expand` over a parsed :class:`gate.config.manifest.Manifest`; returns it with the expanded
    targets, each target's document path, and the searches (empty when none is declared).

    Raises:
        ConfigError: see :func:`expand`.
    """
    from gate.backends import get_backend

    def recipe_model(backend: str, where: str) -> Any:
        if backend == "auto":
            raise ConfigError("a target with `search:` names its backend; `backend: auto` picks one recipe "
                              "format only after loading", location=where)
        return get_backend(backend, location=where).recipe_model

    targets, origins, searches = expand(doc, list(manifest.targets), recipe_model)
    if not searches:
        return manifest, origins, searches
    return manifest.model_copy(update={"targets": targets}), origins, searches
