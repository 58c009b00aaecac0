"""``backend: auto``: a target's backend chosen from its platform, at manifest load.

The seed's decision table (framework per deployment platform), first match wins:

==============================  ===========  ===============================================
platform                        backend      why
==============================  ===========  ===============================================
intel-cpu, intel-gpu, intel-npu openvino     Intel CPU/GPU/NPU: OpenVINO
apple-silicon, apple-*          mlx          Apple silicon: MLX (unified memory, Metal)
nvidia-gpu, nvidia-*, enterprise olive       NVIDIA or enterprise: Microsoft Olive
arm-*, *-mobile, *-embedded     llamacpp     Arm mobile and embedded: llama.cpp
any platform, an LLM task       llamacpp     cross-platform LLM: llama.cpp (GGUF)
anything else                   onnxruntime  otherwise: ONNX Runtime
==============================  ===========  ===============================================

The chosen backend must be registered (a built-in or a plugin); if it is not, loading fails
with a ConfigError naming it, rather than falling back silently to another backend.
"""

from __future__ import annotations

from fnmatch import fnmatch

#: tasks whose models are LLMs (generation judged by perplexity); none ships yet on this branch
LLM_TASKS = frozenset({"text-generation", "causal-lm", "llm"})

#: (platform glob patterns, backend, reason), in order
TABLE: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("intel-cpu", "intel-gpu", "intel-npu", "intel-*"), "openvino", "Intel CPU/GPU: OpenVINO"),
    (("apple-silicon", "apple-*"), "mlx", "Apple silicon: MLX"),
    (("nvidia-gpu", "nvidia-*", "enterprise", "enterprise-*"), "olive", "NVIDIA or enterprise: Microsoft Olive"),
    (("arm-*", "*-mobile", "*-embedded", "mobile", "embedded"), "llamacpp", "Arm mobile and embedded: llama.cpp"),
)


def choose_backend(platform: str, task: str) -> tuple[str, str]:
    """``(backend, reason)`` for ``platform`` and ``task`` by the table in the module docstring."""
    for patterns, backend, reason in TABLE:
        if any(fnmatch(platform, p) for p in patterns):
            return backend, f"platform {platform}: {reason}"
    if task in LLM_TASKS:
        return "llamacpp", f"task {task} on platform {platform}: cross-platform LLM: llama.cpp"
    return "onnxruntime", f"platform {platform} matches no specific row: ONNX Runtime (cross-platform default)"
