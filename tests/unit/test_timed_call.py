"""The timed call: each backend's ``bind`` runs the model on inputs bound once, computes what
``run`` computes, and leaves the caller's arrays and later ``run`` calls alone."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

from gate.backends import get_backend
from gate.backends.base import Artifact, BuildContext
from gate.tasks.protocol import TaskBase, timer_overhead_ms
from tests.unit import ov_tiny


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("timed")
    onnx = root / "onnx"
    ov_tiny.export(onnx / "model.onnx", dynamic=False)
    Artifact.describe(onnx, fmt="onnx", backend="onnxruntime", precision="fp32", entry="model.onnx").write(onnx)
    ctx = BuildContext(task="sentence-embedding", calibration_inputs=ov_tiny.inputs_npz(root / "inputs.npz"),
                       input={"batch_size": 1, "sequence_length": ov_tiny.SEQ, "dynamic_axes": []})
    ir = root / "ir"
    get_backend("openvino").make_baseline(onnx / "model.onnx", ctx, ir).write(ir)
    return {"onnxruntime": onnx, "openvino": ir}


def feeds(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"input_ids": rng.integers(1, ov_tiny.VOCAB, size=(1, ov_tiny.SEQ)).astype(np.int64),
            "attention_mask": np.ones((1, ov_tiny.SEQ), dtype=np.int64),
            "token_type_ids": np.zeros((1, ov_tiny.SEQ), dtype=np.int64)}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_bound_call_leaves_inputs_and_run_alone(artifacts: dict[str, Path], backend: str) -> None:
    session = get_backend(backend).open(artifacts[backend], 1)
    a, b = feeds(1), feeds(2)
    a_before = {k: v.copy() for k, v in a.items()}
    expected_a, expected_b = session.run(a), session.run(b)
    assert not np.allclose(expected_a, expected_b)  # the two inputs give different outputs
    call = session.bind(a)  # type: ignore[attr-defined]
    call()
    np.testing.assert_allclose(session.run(b), expected_b, rtol=1e-5, atol=1e-6)  # run is not the bound input
    call()
    np.testing.assert_allclose(session.run(a), expected_a, rtol=1e-5, atol=1e-6)
    for k in a:
        np.testing.assert_array_equal(a[k], a_before[k])  # the caller's arrays were never written


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_openvino_bound_call_computes_the_bound_input(artifacts: dict[str, Path]) -> None:
    session = get_backend("openvino").open(artifacts["openvino"], 1)
    a, b = feeds(3), feeds(4)
    expected_a = session.run(a)
    call = session.bind(a)  # type: ignore[attr-defined]
    session.run(b)
    call()
    out = session._request.get_output_tensor(0).data  # type: ignore[attr-defined]  # what the call computed
    np.testing.assert_allclose(out, expected_a, rtol=1e-5, atol=1e-6)


class _Fixed(TaskBase):
    """A task whose latency input is the given feeds (the timed loop is TaskBase's own)."""

    def __init__(self, fixed: dict[str, np.ndarray]) -> None:
        self.fixed = fixed

    def latency_feeds(self, inputs: Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]:
        return self.fixed


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_worker_times_the_bound_call_and_its_timer(artifacts: dict[str, Path], backend: str) -> None:
    session = get_backend(backend).open(artifacts[backend], 1)
    timed = _Fixed(feeds(5)).time(session, {}, 2, 5)  # what the worker's "time" op runs
    assert timed.timed_call == "bind"
    assert len(timed.latencies_ms) == 5 and min(timed.latencies_ms) > 0
    assert timed.timer_overhead_ms is not None and timed.timer_overhead_ms > 0  # measured, never assumed


def test_a_session_without_bind_is_timed_through_run() -> None:
    calls: list[int] = []

    class Plain:
        def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
            calls.append(1)
            return np.zeros(1)

    timed = _Fixed({}).time(Plain(), {}, 1, 3)
    assert timed.timed_call == "run" and len(calls) == 4
    assert timer_overhead_ms(repeats=11) > 0
