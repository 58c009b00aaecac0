"""``gate baseline MANIFEST``: DVC stage that builds the baseline artifact and the inputs.

Writes ``build/gate/<model>/baseline/`` (the fp32 artifact and its ``artifact.json``) and
``build/gate/<model>/inputs.npz`` (the tokenized eval set and the fixed latency input). The
baseline is checked against the source framework on the first eval items, so a conversion
that changed the model shows up before any candidate is built.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from gate.config.evalset import read_eval_items
from gate.errors import ExitCode

#: Eval items used to compare the converted baseline with the source framework.
CONVERSION_CHECK_ITEMS = 32


def conversion_fidelity(loaded: Any, artifact: Path, inputs_npz: Path) -> dict[str, Any]:
    """Compare the baseline artifact with the source framework (the task's torch module).

    On the first :data:`CONVERSION_CHECK_ITEMS` eval items: per-item cosine of the outputs
    (``items``, ``cosine_mean``, ``cosine_min``, ``max_abs_diff``). Then the dynamic-axes sweep
    (:func:`gate.tasks.sweep.sweep_baseline`, records under ``shape_sweep``), which also keeps
    the swept feeds and the source's outputs in the baseline folder for every candidate.

    Raises:
        BackendError: the baseline fails, or disagrees with the source, at a swept size.
    """
    import importlib

    import numpy as np

    from gate.backends import get_backend
    from gate.tasks import get_task
    from gate.tasks.sweep import sweep_baseline, sweep_points

    task = importlib.import_module(get_task(loaded.manifest.task).module)
    session = get_backend(loaded.manifest.baseline.backend).open(artifact, loaded.manifest.measure.threads)
    if loaded.manifest.source.format == "onnx":  # an ONNX source is its own reference
        from gate.tasks.tensor import onnx_reference

        source = onnx_reference(loaded.source_path(), loaded.manifest.measure.threads)
    else:
        import torch

        if hasattr(task, "torch_module_for"):  # task tensor: the team's own module
            from gate.stages.context import build_context

            module = task.torch_module_for(loaded.source_path(), build_context(loaded, inputs_npz))
        else:
            module = task.torch_module(loaded.source_path(), allow_pickle=loaded.manifest.source.allow_pickle)

        def source(feeds: dict[str, Any]) -> Any:
            with torch.no_grad():
                return module(**{k: torch.from_numpy(v) for k, v in feeds.items()}).numpy()

    with np.load(inputs_npz) as data:
        feeds = task.eval_feeds(data)[:CONVERSION_CHECK_ITEMS]
        latency = {k: np.asarray(v) for k, v in task.latency_feeds(data).items()}
    ref = [source(f)[0] for f in feeds]
    got = [np.asarray(session.run(f))[0] for f in feeds]
    a, b = (np.stack(x).reshape(len(x), -1).astype(np.float64) for x in (ref, got))
    cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    points = sweep_points(getattr(task, "AXES", {}), list(loaded.manifest.input.dynamic_axes), latency)
    return {"items": len(feeds), "cosine_mean": float(cos.mean()), "cosine_min": float(cos.min()),
            "max_abs_diff": float(np.abs(a - b).max()),
            "shape_sweep": sweep_baseline(source, session.run, points, artifact)}


def run_baseline(manifest: Path) -> int:
    """Run the baseline stage of ``manifest`` in the current directory; returns the exit code.

    The build runs isolated (:func:`gate.stages.isolation.run_isolated`) under the manifest's
    ``limits``, in its own process group, like every optimize step. A failure removes the
    partial baseline and inputs and is recorded for every target (stage ``baseline``), so
    ``gate decide`` reports it as each target's ERROR instead of judging older measurements.

    Raises:
        ConfigError: the manifest, its policy or its eval set is bad input (exit 2).
        BackendError: the build failed, crashed, or was killed for time or memory (exit 3).
    """
    from gate import layout
    from gate.config.loading import load_pair
    from gate.errors import GateError
    from gate.plan.dvcfile import check_fresh
    from gate.stages.failures import clear_failure, read_failure, record_failure
    from gate.stages.isolation import Limits, run_isolated

    loaded, policy = load_pair(manifest)
    root = Path.cwd()
    check_fresh(loaded, policy, root)
    m = loaded.manifest
    for t in m.targets:
        if (read_failure(root, m.name, t.name, loaded.config_hash(t.name)) or {}).get("stage") == "baseline":
            clear_failure(root, m.name, t.name)
    try:
        run_isolated("gate.stages.baseline:build_baseline", {"manifest": str(manifest.resolve())},
                     Limits(m.limits.timeout_s, m.limits.memory_bytes), what=f"baseline of {m.name}")
    except GateError as exc:
        shutil.rmtree(root / layout.baseline_dir(m.name), ignore_errors=True)
        (root / layout.inputs_file(m.name)).unlink(missing_ok=True)
        for t in m.targets:
            record_failure(root, m.name, t.name, stage="baseline", config_hash=loaded.config_hash(t.name),
                           message=str(exc))
        raise
    return ExitCode.PASS


def build_baseline(manifest: str) -> int:
    """Build the baseline and the inputs of ``manifest`` in the current directory (runs inside
    the isolated child of :func:`run_baseline`); returns the exit code."""
    import importlib

    import numpy as np

    from gate import layout, progress
    from gate.backends import get_backend
    from gate.backends.base import write_json_atomic
    from gate.config.loading import load_pair
    from gate.plan.dvcfile import check_fresh
    from gate.stages.context import build_context
    from gate.tasks import get_task

    loaded, policy = load_pair(Path(manifest))
    root = Path.cwd()
    check_fresh(loaded, policy, root)
    m = loaded.manifest
    if m.task == "text-generation":  # LLMs: token ids and reference logits (gate.stages.llm_baseline)
        from gate.stages.llm_baseline import run_baseline

        return run_baseline(loaded, root)
    task = importlib.import_module(get_task(m.task).module)
    build_for = getattr(task, "build_inputs_for", None)  # task tensor: data files, not item lines
    items = [] if build_for is not None else read_eval_items(loaded, task)  # checked at load already
    out = root / layout.baseline_dir(m.name)
    inputs = root / layout.inputs_file(m.name)
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    with progress.step(f"{m.name}: preparing the eval items"):
        if build_for is not None:
            arrays = build_for(loaded)
            count = task.item_count(arrays)
        else:
            arrays = task.build_inputs(loaded.source_path(), items, m.input.batch_size, m.input.sequence_length)
            count = len(items)
        tmp = inputs.with_name(".inputs.tmp.npz")
        np.savez(tmp, **arrays)
        tmp.replace(inputs)
    backend = get_backend(m.baseline.backend)
    with progress.step(f"{m.name}: converting the source to the {m.baseline.precision} baseline ({backend.name})"):
        artifact = backend.make_baseline(loaded.source_path(), build_context(loaded, inputs), out)
        artifact.write(out)
    with progress.step(f"{m.name}: checking the baseline against the source framework"):
        fidelity = conversion_fidelity(loaded, out, inputs)
    artifact.details["conversion_fidelity"] = fidelity
    artifact.details["source"] = {**m.source.model_dump(), "resolved": str(loaded.source_path()),
                                  "sha256": loaded.source_sha256}
    artifact.write(out)
    write_json_atomic(out / "eval_items.json", {"count": count})
    progress.log(
        f"{m.name}: baseline {artifact.size_bytes} bytes; source-vs-baseline cosine "
        f"min {fidelity['cosine_min']:.6f} over {fidelity['items']} items"
    )
    return ExitCode.PASS
