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

from gate.errors import ConfigError, ExitCode

#: Eval items used to compare the converted baseline with the source framework.
CONVERSION_CHECK_ITEMS = 32
#: The largest share of an eval set that may repeat an earlier item. Repeats weigh one item
#: many times: 60 copies of one sentence turned an accuracy of 0.872 (FAIL) into 1.0 (PASS).
#: 5% leaves room for the odd natural repeat in a scraped set while no single item can steer
#: a mean by more than a few points.
MAX_DUPLICATE_SHARE = 0.05


def read_eval_items(loaded: Any, task: Any) -> list[str]:
    """The eval items of ``loaded``, refused when they cannot measure anything.

    Raises:
        ConfigError (at ``eval.data``): the file is not UTF-8 (the message gives the line);
            fewer distinct items than ``eval.min_items``; more than
            :data:`MAX_DUPLICATE_SHARE` of the items repeat an earlier one; or (for a task
            with labels, ``task.item_labels``) every item has the same label.
    """
    where = loaded.where("eval", "data")
    path = loaded.eval_path()
    try:
        items: list[str] = task.read_items(path)
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ConfigError(f"eval data {path.name} line {line} is not UTF-8 text ({exc.reason} at byte "
                          f"{exc.start})", location=where) from None
    distinct = len(set(items))
    repeats = len(items) - distinct
    if repeats > MAX_DUPLICATE_SHARE * len(items):
        top = max(set(items), key=items.count)
        raise ConfigError(
            f"eval set repeats items: {repeats} of {len(items)} repeat an earlier one (at most "
            f"{MAX_DUPLICATE_SHARE:.0%}); {top[:60]!r} appears {items.count(top)} times", location=where)
    if distinct < loaded.manifest.eval.min_items:
        raise ConfigError(
            f"eval set has {distinct} distinct items; the manifest asks for at least "
            f"{loaded.manifest.eval.min_items}", location=where)
    labels_of = getattr(task, "item_labels", None)
    if labels_of is not None and len(items) > 1:
        labelled = [labels_of(item) for item in items if labels_of(item) != "-"]  # "-": fidelity only
        labels = set(labelled)
        if len(labels) == 1 and len(labelled) > 1:
            raise ConfigError(f"degenerate label set: all {len(labelled)} labelled eval items have labels "
                              f"{next(iter(labels))!r}; accuracy on it cannot tell a model that "
                              f"predicts one class from one that classifies", location=where)
    return items


def conversion_fidelity(loaded: Any, artifact: Path, inputs_npz: Path) -> dict[str, float]:
    """Cosine of the baseline artifact's outputs to the source framework's, first items."""
    import importlib

    import numpy as np
    import torch

    from gate.backends import get_backend
    from gate.tasks import get_task

    task = importlib.import_module(get_task(loaded.manifest.task).module)
    module = task.torch_module(loaded.source_path(), allow_pickle=loaded.manifest.source.allow_pickle)
    session = get_backend(loaded.manifest.baseline.backend).open(artifact, loaded.manifest.measure.threads)
    with np.load(inputs_npz) as data:
        feeds = task.eval_feeds(data)[:CONVERSION_CHECK_ITEMS]
    ref, got = [], []
    with torch.no_grad():
        for f in feeds:
            ref.append(module(**{k: torch.from_numpy(v) for k, v in f.items()}).numpy()[0])
            got.append(np.asarray(session.run(f))[0])
    a, b = np.stack(ref), np.stack(got)
    cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return {"items": len(feeds), "cosine_mean": float(cos.mean()), "cosine_min": float(cos.min()),
            "max_abs_diff": float(np.abs(a - b).max())}


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
    items = read_eval_items(loaded, task)
    out = root / layout.baseline_dir(m.name)
    inputs = root / layout.inputs_file(m.name)
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    with progress.step(f"{m.name}: tokenizing {len(items)} eval items"):
        arrays = task.build_inputs(loaded.source_path(), items, m.input.batch_size, m.input.sequence_length)
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
    artifact.details["source"] = {**m.source.model_dump(), "resolved": str(loaded.source_path())}
    artifact.write(out)
    write_json_atomic(out / "eval_items.json", {"count": len(items)})
    progress.log(
        f"{m.name}: baseline {artifact.size_bytes} bytes; source-vs-baseline cosine "
        f"min {fidelity['cosine_min']:.6f} over {fidelity['items']} items"
    )
    return ExitCode.PASS
