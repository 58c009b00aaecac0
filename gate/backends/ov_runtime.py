"""OpenVINO at run time: compiling for measurement, the session, reading back properties, saving IR.

Shared by the backend (:mod:`gate.backends.openvino`), its conversion checks
(:mod:`gate.backends.ov_checks`) and its NNCF recipes (:mod:`gate.backends.ov_nncf`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

IR_ENTRY = "model.xml"


def compile_model(model: Any, threads: int, precision: str) -> Any:
    """Compile for CPU in latency mode, one stream, ``threads`` threads, CPU pinning off, and
    the given ``INFERENCE_PRECISION_HINT`` (``"default"`` leaves the plugin's choice)."""
    import openvino as ov

    # Pinning off: on a shared runner, threads pinned to a core that another process holds
    # wait for it; measured here on MobileNetV2 INT8, 2 threads: 7.99 ms pinned vs 3.15 ms
    # unpinned (ONNX Runtime, the usual baseline, does not pin either).
    config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1",
                              "INFERENCE_NUM_THREADS": str(threads), "ENABLE_CPU_PINNING": False}
    if precision != "default":
        config["INFERENCE_PRECISION_HINT"] = precision
    return ov.Core().compile_model(model, "CPU", config)


def compiled_properties(compiled: Any) -> dict[str, Any]:
    """What the compiled model reports back: precision (``f32``/``bf16``/...), streams,
    threads, hint. Read, not assumed: the plugin may override a request."""
    return {
        "device": "CPU",
        "inference_precision": compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name(),
        "num_streams": int(compiled.get_property("NUM_STREAMS")),
        "inference_num_threads": int(compiled.get_property("INFERENCE_NUM_THREADS")),
        "performance_hint": str(compiled.get_property("PERFORMANCE_HINT")),
        "enable_cpu_pinning": bool(compiled.get_property("ENABLE_CPU_PINNING")),
    }


class OvSession:
    """A compiled model; ``bind`` gives a call for timing on one infer request reused by
    every call, ``run`` returns a copy of output 0 from a second request, made at its first
    use (so a ``run``, e.g. for fidelity, never changes what a bound call computes, and a
    worker that only times never holds the second request's buffers)."""

    def __init__(self, compiled: Any) -> None:
        self._compiled = compiled
        self._request = compiled.create_infer_request()
        self._run_request: Any = None
        self._names = [i.get_any_name() for i in compiled.inputs]

    def run(self, feeds: Mapping[str, Any]) -> Any:
        if self._run_request is None:
            self._run_request = self._compiled.create_infer_request()
        self._run_request.infer({n: feeds[n] for n in self._names})
        return self._run_request.get_output_tensor(0).data.copy()

    def bind(self, feeds: Mapping[str, Any]) -> Callable[[], None]:
        """A call that runs the model once on ``feeds`` set ahead of time, for timing.

        The inputs are set once as tensors sharing the arrays' memory
        (``InferRequest.set_tensor``); the call starts the request and waits for it
        (``start_async`` + ``wait``): no inputs to convert, no outputs to collect or copy. Seen
        here on MobileNetV2 INT8 at load 13, extra time per call over the request's own
        ``latency``, the figure ``benchmark_app`` reports
        (https://docs.openvino.ai/2026/get-started/learn-openvino/openvino-samples/benchmark-tool.html):
        ``infer()`` 111 us, ``start_async`` + ``wait`` 68 us.
        """
        import numpy as np
        import openvino as ov

        # private copies: the request's tensors share this memory, which is the session's,
        # never the caller's
        arrays = {n: np.array(feeds[n], order="C", copy=True) for n in self._names}
        for name, array in arrays.items():
            self._request.set_tensor(name, ov.Tensor(array, shared_memory=True))
        self._bound = arrays  # the shared memory lives as long as the session
        start, wait = self._request.start_async, self._request.wait

        def call() -> None:
            start()
            wait()

        return call

    def properties(self) -> dict[str, Any]:
        return compiled_properties(self._compiled)


def save_ir(model: Any, out: Path) -> None:
    """Save an ``ov.Model`` as ``model.xml`` + ``model.bin`` without FP16 weight compression."""
    import openvino as ov

    out.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, str(out / IR_ENTRY), compress_to_fp16=False)
