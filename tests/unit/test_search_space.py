"""A target's `search:` space expands, when the manifest loads, into ordinary targets of its
platform: named in order, recipes merged base < recipe < grid, one config hash each, valid DVC
stage names. Bad spaces are in tests/data/manifests/negative/search-*.yaml (exit 2, located)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gate.config.manifest import load_manifest
from gate.stages.search import exit_code, format_trail

DATA = Path(__file__).resolve().parent.parent / "data"
SPACE = DATA / "manifests" / "positive" / "search-space.yaml"


def test_candidates_are_targets_in_search_order() -> None:
    loaded = load_manifest(SPACE)
    names = [t.name for t in loaded.manifest.targets]
    assert names == ["ort--1", "ort--2", "ort--3", "ort--4", "ov--1", "ov--2", "ov--3", "plain"]
    recipes = {n: loaded.recipes[n].model_dump() for n in names}
    # each recipe crossed with the grid, the last grid axis varying fastest
    assert [(recipes[n]["method"], recipes[n]["per_channel"]) for n in names[:4]] == [
        ("dynamic", False), ("dynamic", True), ("static", False), ("static", True)]
    assert recipes["ort--3"]["calibration_size"] == 20
    # base < recipe: the recipe's own calibration_size wins over base's
    assert recipes["ov--1"]["calibration_size"] == 20 and recipes["ov--1"]["model_type"] == "transformer"
    assert recipes["ov--3"]["calibration_size"] == 300 and recipes["ov--3"]["method"] == "weights-int8"
    assert recipes["ov--2"]["preset"] == "mixed" and recipes["ov--2"]["ignored_scope"]["types"] == ["MatMul"]
    for name in names[:-1]:
        target = loaded.target(name)
        assert target.search is None and target.platform == "x86-cpu"
    assert loaded.searches["ort"].candidates == ("ort--1", "ort--2", "ort--3", "ort--4")
    assert loaded.searches["ov"].spec.stop == "explore" and loaded.searches["ort"].spec.stop == "first-pass"
    assert loaded.searches["ort"].spec.budget_s == 900
    assert "plain" not in loaded.searches


def test_each_candidate_has_its_own_config_hash_and_stage_name() -> None:
    from dvc.stage.utils import is_valid_name

    loaded = load_manifest(SPACE)
    hashes = {t.name: loaded.config_hash(t.name) for t in loaded.manifest.targets}
    assert len(set(hashes.values())) == len(hashes)
    for name in hashes:
        assert is_valid_name(f"measure-{loaded.manifest.name}-{name}"), name


def test_a_changed_candidate_moves_only_its_own_hash(tmp_path: Path) -> None:
    import shutil

    data = yaml.safe_load(SPACE.read_text())
    data["eval"]["data"] = "sentences-20.txt"
    (tmp_path / ".git").mkdir()
    shutil.copytree(DATA.parents[1] / "policies", tmp_path / "policies")
    paths = []
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(DATA / "sentences-20.txt", tmp_path / folder)
        paths.append(tmp_path / folder / "gate.yaml")
    paths[0].write_text(yaml.safe_dump(data))
    data["targets"][1]["search"]["recipes"][1]["preset"] = "performance"
    paths[1].write_text(yaml.safe_dump(data))
    a, b = (load_manifest(p) for p in paths)
    moved = [t.name for t in a.manifest.targets if a.config_hash(t.name) != b.config_hash(t.name)]
    assert moved == ["ov--2"]


def test_a_plain_manifest_is_unchanged_by_the_expansion() -> None:
    loaded = load_manifest(DATA / "manifests" / "positive" / "minimal.yaml")
    assert [t.name for t in loaded.manifest.targets] == ["int8"] and loaded.searches == {}


def _search(found: str | None, verdicts: list[str]) -> dict:  # type: ignore[type-arg]
    return {"target": "ov", "platform": "x86-cpu", "backend": "openvino", "stop": "first-pass", "budget_s": 60.0,
            "spent_s": 1.0, "stopped": "x", "found": found,
            "candidates": [{"position": i + 1, "target": f"ov--{i + 1}", "status": "judged", "verdict": v,
                            "error": None, "rules": []} for i, v in enumerate(verdicts)]}


@pytest.mark.parametrize(("searches", "code"), [
    ([_search("ov--2", ["fail", "pass"])], 0),
    ([_search(None, ["fail", "inconclusive"])], 1),
    ([_search(None, ["fail", "error"])], 3),
    ([_search("ov--2", ["error", "pass"])], 0),          # an error elsewhere never hides a found release
    ([_search("ov--1", ["pass"]), _search(None, ["fail"])], 1),  # every searched target needs one
])
def test_exit_code_follows_the_searches(searches: list, code: int) -> None:  # type: ignore[type-arg]
    assert exit_code(searches) == code
    assert "release for x86-cpu" in format_trail({"searches": searches})


def test_unbuilt_candidates_are_read_from_this_manifests_trail(tmp_path: Path) -> None:
    import json
    import shutil

    from gate.stages.trail import trail_file, unbuilt

    (tmp_path / ".git").mkdir()
    shutil.copytree(DATA.parents[1] / "policies", tmp_path / "policies")
    shutil.copy(DATA / "sentences-20.txt", tmp_path)
    data = yaml.safe_load(SPACE.read_text())
    data["eval"]["data"] = "sentences-20.txt"
    (tmp_path / "gate.yaml").write_text(yaml.safe_dump(data))
    loaded = load_manifest(tmp_path / "gate.yaml")
    assert unbuilt(tmp_path, loaded) == {}  # no trail yet
    search = _search("ov--1", ["pass"])
    search["candidates"].append({"position": 2, "target": "ov--2", "status": "skipped", "reason": "ov--1 passed first"})
    path = tmp_path / trail_file("tiny")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"manifest_sha256": loaded.sha256, "searches": [search]}))
    assert unbuilt(tmp_path, loaded) == {"ov--2": "ov--1 passed first"}
    path.write_text(json.dumps({"manifest_sha256": "0" * 64, "searches": [search]}))
    assert unbuilt(tmp_path, loaded) == {}  # a trail of other manifest bytes says nothing


def _ov_only(tmp_path: Path) -> Path:
    import shutil

    (tmp_path / ".git").mkdir(exist_ok=True)
    shutil.copytree(DATA.parents[1] / "policies", tmp_path / "policies", dirs_exist_ok=True)
    shutil.copy(DATA / "sentences-20.txt", tmp_path)
    data = yaml.safe_load(SPACE.read_text())
    data["eval"]["data"] = "sentences-20.txt"
    data["targets"] = [t for t in data["targets"] if t["name"] == "ov"]
    data["targets"][0]["search"]["stop"] = "first-pass"
    (tmp_path / "gate.yaml").write_text(yaml.safe_dump(data))
    return tmp_path / "gate.yaml"


def _trail(tmp_path: Path, loaded: Any, skipped: list[str]) -> None:
    import json

    from gate.stages.trail import trail_file

    search = _search("ov--1", ["pass"])
    search["candidates"] = [c for c in search["candidates"] if c["target"] not in skipped]
    search["candidates"] += [{"position": i + 2, "target": n, "status": "skipped", "reason": "ov--1 passed first"}
                             for i, n in enumerate(skipped)]
    path = tmp_path / trail_file("tiny")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"manifest_sha256": loaded.sha256, "searches": [search]}))


def test_candidates_a_search_left_unbuilt_are_not_errors_of_the_decision(tmp_path: Path) -> None:
    """A first-pass search builds ov--1 only: the decision judges it and names the two it left
    unbuilt, instead of ERROR for their missing measurements (which would block the release)."""
    from gate.config.loading import load_pair
    from gate.documents import Verdict
    from gate.verdict.decision import decide
    from tests.factories import PASSING, write_measurements

    loaded, policy = load_pair(_ov_only(tmp_path))
    write_measurements(tmp_path, loaded, "ov--1", PASSING)
    _trail(tmp_path, loaded, ["ov--2", "ov--3"])
    decision = decide(loaded, policy, tmp_path)
    assert [t.target for t in decision.targets] == ["ov--1"]
    assert decision.verdict == Verdict.PASS and decision.platforms[0].release == "ov--1"
    assert any(n.startswith("ov--2: not built (ov--1 passed first)") for n in decision.notes)


def test_unbuilt_never_hides_a_platform_a_failure_or_a_required_target(tmp_path: Path) -> None:
    """Nothing built on the platform: every candidate is ERROR (the platform is never absent);
    a skipped candidate with a recorded stage failure is judged (ERROR), not left out."""
    from gate.config.loading import load_pair
    from gate.documents import Verdict
    from gate.stages.failures import record_failure
    from gate.verdict.decision import decide

    loaded, policy = load_pair(_ov_only(tmp_path))
    _trail(tmp_path, loaded, ["ov--1", "ov--2", "ov--3"])
    decision = decide(loaded, policy, tmp_path)
    assert decision.verdict == Verdict.ERROR and len(decision.targets) == 3

    from tests.factories import PASSING, write_measurements

    write_measurements(tmp_path, loaded, "ov--1", PASSING)
    _trail(tmp_path, loaded, ["ov--2", "ov--3"])
    record_failure(tmp_path, "tiny", "ov--3", stage="optimize", config_hash=loaded.config_hash("ov--3"),
                   message="killed")
    decision = decide(loaded, policy, tmp_path)
    assert [t.target for t in decision.targets] == ["ov--1", "ov--3"]
    assert decision.verdict == Verdict.ERROR
