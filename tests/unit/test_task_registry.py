"""The task registry: built-ins and plugins through one path; the manifest's task choices come
from it; every built-in task implements the Task protocol."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gate.errors import ConfigError
from gate.tasks import BUILTIN, available, get_task
from gate.tasks.protocol import Task

TESTS = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_builtin_tasks_implement_the_protocol(name: str) -> None:
    task = get_task(name)
    assert isinstance(task, Task) and task.name == name
    assert set(task.item_statistics) <= set(task.metrics)
    assert all(d in ("higher", "lower") for d in task.metrics.values())
    assert task.inputs_from in ("source", "baseline") and task.source_formats


def test_unknown_task_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown task 'translation'.*sentence-embedding"):
        get_task("translation")


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)]), **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full, check=False)


def test_a_plugin_task_registers_like_the_builtins_and_becomes_a_manifest_choice() -> None:
    code = ("import json; from gate.tasks import available, get_task; from gate.config.manifest import Manifest;"
            "print(json.dumps([available(), Manifest.model_json_schema()['properties']['task']['enum'],"
            " get_task('row-sum').metrics]))")
    without = _python(code)
    assert without.returncode != 0 and "unknown task 'row-sum'" in without.stderr
    proc = _python(code, EDGE_GATE_TASKS="row-sum=plugin_task:TASK")
    assert proc.returncode == 0, proc.stderr
    names, enum, metrics = json.loads(proc.stdout)
    assert names == enum == sorted([*BUILTIN, "row-sum"])
    assert metrics == {"abs_error_mean": "lower"}


def test_a_malformed_plugin_reference_is_bad_input() -> None:
    proc = _python("from gate.tasks import available; available()", EDGE_GATE_TASKS="row-sum")
    assert proc.returncode != 0 and "is not name=module:attribute" in proc.stderr


def test_plugin_task_scores_through_the_protocol() -> None:
    sys.path.insert(0, str(TESTS))
    try:
        from plugin_task import TASK
    finally:
        sys.path.remove(str(TESTS))
    assert isinstance(TASK, Task)
    ref, out = np.ones((3, 1)), np.array([[1.0], [2.0], [4.0]])
    assert TASK.score(ref, out) == {"abs_error_mean": pytest.approx(4 / 3)}
    timed = TASK.time(type("S", (), {"run": lambda self, feeds: feeds["x"].sum()})(),
                      {"latency.x": np.ones((1, 4))}, warmup=1, runs=3)
    assert len(timed.latencies_ms) == 3 and all(t >= 0 for t in timed.latencies_ms) and timed.runs == []


def test_manifest_task_choices_are_the_registry() -> None:
    from gate.config.manifest import Manifest

    assert Manifest.model_json_schema()["properties"]["task"]["enum"] == available()
