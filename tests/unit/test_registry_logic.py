"""The registry's pure parts: which target is recommended, stale hashes, retry classification."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gate.errors import ConfigError, LineageError
from gate.documents import Decision, PlatformResult, TargetResult, Verdict
from gate.errors import PromotionRefused
from gate.lineage.promotion import check_fresh_decision, choose
from gate.lineage.runs import record_key
from gate.lineage.store import is_transient
from gate.lineage.versions import alias_for, platforms_with, version_tags


def target(name: str, verdict: str, speedup: float | None) -> dict:  # type: ignore[type-arg]
    rules = [{"rule": "speed-up", "compare": "speedup", "value": speedup, "verdict": verdict},
             {"rule": "size-cut", "compare": "reduction", "value": 0.7, "verdict": "pass"}]
    return {"target": name, "target_id": f"x86/ort/{name}", "verdict": verdict, "rules": rules,
            "backend": "onnxruntime", "platform": "x86-cpu", "config_hash": "c" * 16}


def decision(verdict: Verdict, platforms: list[PlatformResult], targets: list[TargetResult]) -> Decision:
    return Decision(model="m", task="t", manifest="g.yaml", manifest_sha256="a", policy="p", policy_path="p",
                    policy_sha256="b", primary_metric="x", verdict=verdict, exit_code=0, decided_at="now",
                    targets=targets, platforms=platforms)


def typed(name: str, platform: str, verdict: Verdict, ships: bool = False) -> TargetResult:
    return TargetResult(target=name, target_id=f"{platform}/ort/{name}", backend="onnxruntime", platform=platform,
                        verdict=verdict, config_hash="c" * 16, ships=ships)


def test_promotion_takes_each_platforms_release_and_refuses_what_does_not_pass() -> None:
    targets = [typed("a", "x86", Verdict.FAIL), typed("b", "x86", Verdict.PASS, ships=True),
               typed("c", "x86", Verdict.PASS), typed("d", "arm", Verdict.PASS, ships=True)]
    platforms = [PlatformResult(platform="x86", verdict=Verdict.PASS, candidates=["a", "b", "c"], release="b"),
                 PlatformResult(platform="arm", verdict=Verdict.PASS, candidates=["d"], release="d")]
    passing = decision(Verdict.PASS, platforms, targets)
    assert [t.target for t in choose(passing, None, None)] == ["b", "d"]
    assert [t.target for t in choose(passing, None, "arm")] == ["d"]
    assert [t.target for t in choose(passing, "c", None)] == ["c"]  # a named passing alternative
    with pytest.raises(PromotionRefused, match="target 'a' of m is FAIL"):
        choose(passing, "a", None)
    with pytest.raises(ConfigError, match="is on platform 'x86', not 'arm'"):  # a usage error, exit 2
        choose(passing, "c", "arm")
    blocked = decision(Verdict.FAIL, [platforms[0], PlatformResult(platform="arm", verdict=Verdict.FAIL,
                                                                   candidates=["d"])], targets)
    with pytest.raises(PromotionRefused, match=r"is FAIL \(blocked platforms: arm\)"):
        choose(blocked, None, "x86")
    assert alias_for("champion", "x86-cpu") == "champion-x86-cpu"
    assert platforms_with({"champion-x86-cpu": "1", "previous-x86-cpu": "2", "champion-arm": "3"}, "champion") == [
        "arm", "x86-cpu"]


def test_stale_decision_names_the_file_that_changed() -> None:
    decision = {"model": "m", "manifest_sha256": "a" * 64, "policy_sha256": "b" * 64}
    check_fresh_decision(decision, "a" * 64, "b" * 64)
    with pytest.raises(LineageError, match="policy sha256 bbbbbbbbbbbb, the policy file now has cccccccccccc"):
        check_fresh_decision(decision, "a" * 64, "c" * 64)
    with pytest.raises(LineageError, match="stale decision for m: it was computed from manifest"):
        check_fresh_decision(decision, "d" * 64, "b" * 64)


def test_record_key_changes_with_each_part_and_only_then() -> None:
    base = record_key("c1", "m", "s1", "t")
    assert base == record_key("c1", "m", "s1", "t") and len(base) == 16
    assert len({base, record_key("c2", "m", "s1", "t"), record_key("c1", "m", "s2", "t"),
                record_key("c1", "m", "s1", "u"), record_key("c1", "m", "s1")}) == 5


def test_version_tags_carry_every_rule_figure() -> None:
    decision = {"verdict": "pass", "policy": "edge-default", "manifest_sha256": "a" * 64,
                "policy_sha256": "b" * 64, "decided_at": "2026-11-29T00:00:00+00:00"}
    tags = version_tags(decision, target("a", "pass", 2.123456789), "f" * 40, "k" * 16, {"method": "dynamic"})
    assert tags["rule.speed-up"] == "2.12346" and tags["rule.size-cut.verdict"] == "pass"
    assert json.loads(tags["recipe"]) == {"method": "dynamic"} and tags["commit"] == "f" * 40
    assert all(isinstance(v, str) for v in tags.values())


def test_only_lock_and_race_failures_are_retried() -> None:
    assert is_transient(RuntimeError("(sqlite3.OperationalError) database is locked"))
    assert is_transient(RuntimeError("UNIQUE constraint failed: experiments.name"))
    assert not is_transient(RuntimeError("RESOURCE_DOES_NOT_EXIST: run not found"))


def test_registry_modules_import_no_mlflow(repo_root) -> None:  # type: ignore[no-untyped-def]
    code = ("import json, sys\nimport gate.lineage.promotion, gate.lineage.versions, gate.lineage.runs, gate.lineage.store\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('mlflow', 'onnx'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
