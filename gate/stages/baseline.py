"""``gate baseline MANIFEST``: DVC stage that builds the baseline artifact and the inputs.

Writes ``build/gate/<model>/baseline/`` (the baseline artifact and its ``artifact.json``) and
``build/gate/<model>/inputs.npz`` (the task's eval inputs and fixed latency input,
:meth:`gate.tasks.protocol.Task.build_inputs`). One path for every task: the task says whether
its inputs come from the source (built first: calibration data for the conversion) or from the
built baseline (e.g. its tokenizer), and checks the baseline against the source
(:meth:`~gate.tasks.protocol.Task.check_conversion`), so a conversion that changed the model
shows up before any candidate is built.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from gate.config.evalset import read_eval_items
from gate.errors import ExitCode


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


def input_context(loaded: Any, out: Path, inputs: Path, items: list[str] | None, *,
                  built: bool) -> Any:
    """The :class:`~gate.tasks.protocol.InputContext` of a loaded manifest (``built``: whether
    the baseline in ``out`` and ``inputs`` exist yet)."""
    from gate.backends import get_backend
    from gate.tasks import get_task
    from gate.tasks.protocol import InputContext

    m = loaded.manifest
    section = get_task(m.task).settings_section
    settings = getattr(m, section).model_dump() if section and getattr(m, section, None) else {}
    backend = get_backend(m.baseline.backend)
    return InputContext(
        source=loaded.source_path(), eval_path=loaded.eval_path(), items=items, input=m.input.model_dump(),
        settings=settings, min_items=m.eval.min_items, baseline=out if built else None,
        inputs=inputs if inputs.is_file() else None,
        open=lambda path: backend.open(path, m.measure.threads), allow_pickle=m.source.allow_pickle,
        threads=m.measure.threads, eval_location=loaded.where("eval", "data"))


def build_baseline(manifest: str) -> int:
    """Build the baseline and the inputs of ``manifest`` in the current directory (runs inside
    the isolated child of :func:`run_baseline`); returns the exit code."""
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
    task = get_task(m.task)
    items = read_eval_items(loaded, task)  # checked at load already; the child reads them again
    out = root / layout.baseline_dir(m.name)
    inputs = root / layout.inputs_file(m.name)
    shutil.rmtree(out, ignore_errors=True)
    inputs.unlink(missing_ok=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    backend = get_backend(m.baseline.backend)

    def write_inputs() -> None:
        with progress.step(f"{m.name}: building the eval inputs ({task.name})"):
            arrays = task.build_inputs(input_context(loaded, out, inputs, items, built=inputs_after))
            _save_npz(inputs, arrays)

    inputs_after = task.inputs_from == "baseline"
    if not inputs_after:
        write_inputs()
    with progress.step(f"{m.name}: converting the source to the {m.baseline.precision} baseline ({backend.name})"):
        artifact = backend.make_baseline(loaded.source_path(), build_context(loaded, None if inputs_after else inputs),
                                         out)
        artifact.write(out)
    if inputs_after:
        write_inputs()
    with progress.step(f"{m.name}: checking the baseline against the source"):
        fidelity = task.check_conversion(input_context(loaded, out, inputs, items, built=True))
    artifact.details["conversion_fidelity"] = fidelity
    artifact.details["source"] = {**m.source.model_dump(), "resolved": str(loaded.source_path()),
                                  "sha256": loaded.source_sha256}
    artifact.write(out)
    with np.load(inputs) as data:
        write_json_atomic(out / "eval_items.json", {"count": len(task.eval_feeds(data))})
    figures = ", ".join(f"{k} {v:.6g}" for k, v in fidelity.items() if isinstance(v, float))
    progress.log(f"{m.name}: baseline {artifact.size_bytes} bytes"
                 f"{' (' + artifact.details['note'] + ')' if artifact.details.get('note') else ''}; "
                 f"source vs baseline: {figures}")
    for warning in fidelity.get("warnings", []):
        progress.log(f"{m.name}: WARNING: {warning}")
    return ExitCode.PASS


def _save_npz(path: Path, arrays: dict[str, Any]) -> None:
    """``np.savez`` through a temporary file and a rename (a crash leaves no half file)."""
    import numpy as np

    tmp = path.with_name(".inputs.tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
