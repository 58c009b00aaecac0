"""NNCF recipes for the OpenVINO backend: INT8 PTQ, accuracy-aware INT8, weight compression.

API and defaults: NNCF 3.x, https://openvinotoolkit.github.io/nncf/ (``nncf.quantize``,
``nncf.quantize_with_accuracy_control``, ``nncf.compress_weights``). Calibration items are
the task's ``calibration_feeds`` when it has them (task ``tensor`` with ``eval.calibration``:
data apart from the eval set), else the first eval items of ``inputs.npz``, so the
calibration set overlaps the eval set; validation items are eval items. A recipe with a
smaller ``calibration_size`` uses fewer of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gate.backends.base import BuildContext
from gate.errors import BackendError


def _ignored_scope(recipe: Any) -> Any:
    import nncf

    scope = recipe.ignored_scope
    if scope is None:
        return None
    return nncf.IgnoredScope(names=scope.names, patterns=scope.patterns, types=scope.types)


def _items(ctx: BuildContext, task: Any, limit: int) -> list[dict[str, np.ndarray]]:
    if ctx.calibration_inputs is None:
        raise BackendError("NNCF needs the baseline stage's inputs.npz")
    with np.load(ctx.calibration_inputs) as data:
        feeds = getattr(task, "calibration_feeds", task.eval_feeds)(data)  # a separate calibration set, if any
        return [{k: np.asarray(v) for k, v in f.items()} for f in feeds[:limit]]


def validation_metric(task: Any, primary: str | None) -> Any:
    """The ``validation_fn`` for accuracy-aware INT8: the task's fidelity to the fp32 IR.

    Items are ``(index, feeds)``; the reference is the fp32 IR's outputs on them. Returns
    ``(metric, per_item)``: ``per_item`` is the task's per-item fidelity (NNCF ranks layers by
    it); ``metric`` is the task's ``primary`` metric when it can be computed on that many
    items, else the mean per-item fidelity.
    """

    def make(reference: np.ndarray) -> Any:
        def validate(compiled: Any, items: Any) -> tuple[float, list[float]]:
            idx, outs = [], []
            for i, feeds in items:
                idx.append(i)
                outs.append(np.asarray(compiled(feeds)[0])[0])
            ref, got = reference[idx], np.stack(outs)
            per_item = task.per_item_fidelity(ref, got)
            metric = float(np.mean(per_item))
            if primary is not None and len(idx) > 10:
                metric = float(task.score(ref, got)[primary])
            return metric, [float(v) for v in per_item]

        return validate

    return make


def apply(model: Any, recipe: Any, ctx: BuildContext, task: Any) -> tuple[Any, str, dict[str, Any]]:
    """Apply ``recipe`` (an ``OvRecipe``) to an fp32 ``ov.Model``.

    Returns ``(model, precision, details)``; precision is ``int8`` for quantized models,
    ``int8-weights`` / ``int4-weights`` for weight-only compression.

    Raises:
        BackendError: NNCF failed (e.g. an ignored-scope name that matches no node).
    """
    import nncf

    scope = _ignored_scope(recipe)
    details: dict[str, Any] = {"nncf": nncf.__version__}
    try:
        if recipe.method.startswith("weights-"):
            bits = recipe.method.removeprefix("weights-")
            mode = getattr(nncf.CompressWeightsMode, f"{bits.upper()}_{'SYM' if recipe.sym else 'ASYM'}")
            kwargs: dict[str, Any] = {"mode": mode, "ignored_scope": scope}
            if bits == "int4":
                kwargs.update(group_size=recipe.group_size, ratio=recipe.ratio)
            out = nncf.compress_weights(model, **kwargs)
            details.update(mode=mode.value, group_size=recipe.group_size, ratio=recipe.ratio)
            return out, f"{bits}-weights", details
        calibration = _items(ctx, task, recipe.calibration_size)
        common: dict[str, Any] = {
            "subset_size": len(calibration),
            "preset": nncf.QuantizationPreset(recipe.preset),
            "fast_bias_correction": recipe.fast_bias_correction,
            "model_type": nncf.ModelType.TRANSFORMER if recipe.model_type == "transformer" else None,
            "ignored_scope": scope,
        }
        details.update(calibration_items=len(calibration), preset=recipe.preset,
                       model_type=recipe.model_type)
        if recipe.method == "int8":
            return nncf.quantize(model, nncf.Dataset(calibration), **common), "int8", details
        return _accuracy_aware(model, recipe, ctx, task, calibration, common, details)
    except (nncf.ValidationError, nncf.InternalError, RuntimeError, ValueError) as exc:
        raise BackendError(f"NNCF {recipe.method} failed: {exc}") from exc


def _accuracy_aware(
    model: Any, recipe: Any, ctx: BuildContext, task: Any, calibration: list[dict[str, np.ndarray]],
    common: dict[str, Any], details: dict[str, Any],
) -> tuple[Any, str, dict[str, Any]]:
    import nncf

    from gate.backends.ov_checks import CHECK_THREADS
    from gate.backends.ov_runtime import OvSession, compile_model

    validation = _items(ctx, task, recipe.validation_size)
    session = OvSession(compile_model(model, CHECK_THREADS, "f32"))
    reference = np.stack([np.asarray(session.run(f))[0] for f in validation])
    primary = ctx.primary_metric
    validate = validation_metric(task, primary)(reference)
    out = nncf.quantize_with_accuracy_control(
        model, nncf.Dataset(calibration),
        nncf.Dataset(list(enumerate(validation)), lambda item: item[1]),
        validate, max_drop=recipe.max_drop, drop_type=nncf.DropType(recipe.drop_type), **common,
    )
    kept = sorted({op.get_friendly_name() for op in out.get_ops()
                   if op.get_type_name() == "FakeQuantize"})
    details.update(validation_items=len(validation), max_drop=recipe.max_drop,
                   drop_type=recipe.drop_type, validation_metric=primary or "mean per-item fidelity",
                   fake_quantize_nodes=len(kept))
    return out, "int8", details
