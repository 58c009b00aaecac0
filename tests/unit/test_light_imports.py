"""`gate --help`, validation and policy evaluation never import the heavy frameworks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "openvino", "nncf", "olive", "mlflow", "llama_cpp", "onnxruntime", "transformers", "dvc", "mlx")

PROBE = """
import contextlib, io, json, sys
from gate.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    for argv in {argvs!r}:
        main(argv)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})))
"""


@pytest.mark.parametrize(
    "argvs",
    [
        [["--help"]],
        [["validate", "examples/minilm/gate.yaml", "policies/edge-default.yaml"]],
        # task tensor: the ONNX graph's signature, the images, a torch source's factory found, not imported
        [["validate", "examples/ppocr-det/gate.yaml", "examples/efficientnet-lite0/gate.yaml"]],
        [["schema", "manifest"], ["schema", "policy"]],
    ],
    ids=["help", "validate", "validate-tensor", "schema"],
)
def test_no_heavy_imports(argvs: list[list[str]], repo_root) -> None:  # type: ignore[no-untyped-def]
    code = PROBE.format(argvs=argvs, heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_decision_path_imports_no_heavy_framework(repo_root) -> None:  # type: ignore[no-untyped-def]
    code = (
        "import json, sys\n"
        "import gate.verdict.decision, gate.reports.markdown, gate.reports.terminal, gate.config.loading\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
