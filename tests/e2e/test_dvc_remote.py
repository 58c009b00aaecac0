"""The scale-out path for real: matrix legs in separate clones share the baseline through a
real DVC remote, and the decide job gathers them.

Two remotes: a local directory, and SSH served on 127.0.0.1 by a real OpenSSH server
(Debian's ``openssh-server``) that this module starts on a free port with a temporary host
key and an authorized key, through DVC's ``dvc-ssh`` plugin. (No S3 server installs here;
S3 remotes are documented, not tested.) The model is the real MiniLM of the bundled example,
with two ONNX Runtime INT8 targets, short measurements (64 eval sentences of the example's
600, 32-token inputs) under a policy with the default rules and no extra rounds; every step
runs as action.yml defines it (tests/ghactions.py):

* leg A (clone A): ``mode: leg`` builds baseline, candidate and measurements of the first
  target and pushes them with the run cache;
* leg B (clone B, nothing built): pulls the run cache and builds only the second target:
  the baseline stage is restored from the remote, never run;
* decide (clone C): ``gate gather`` puts both legs' uploads in place; both targets are
  judged (none is an ERROR).
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from ghactions import ActionRun, run_action

from .conftest import make_runner

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").is_file() else None)
TARGETS = ("ort-int8-dynamic", "ort-int8-per-channel")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sshd:
    """A real OpenSSH server on 127.0.0.1 with its own host key, for the current user's key."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.port, self.user = free_port(), getpass.getuser()
        self.host_key, self.user_key = folder / "host_ed25519", folder / "id_ed25519"
        for key in (self.host_key, self.user_key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        (folder / "authorized_keys").write_text(self.user_key.with_suffix(".pub").read_text())
        config = folder / "sshd_config"
        config.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {self.host_key}",
            f"PidFile {folder / 'sshd.pid'}", f"AuthorizedKeysFile {folder / 'authorized_keys'}",
            "PubkeyAuthentication yes", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "UsePAM no", "StrictModes no", "PermitRootLogin prohibit-password",
            "Subsystem sftp internal-sftp", "LogLevel VERBOSE", ""]))
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
        self.log = folder / "sshd.log"
        assert SSHD is not None
        self.log_file = self.log.open("w")
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=self.log_file,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    if conn.recv(64).startswith(b"SSH-"):
                        break
            except OSError:
                if self.proc.poll() is not None:
                    raise AssertionError(f"sshd exited {self.proc.returncode}: {self.log.read_text()}") from None
                time.sleep(0.2)
        else:
            raise AssertionError(f"sshd did not answer on port {self.port}: {self.log.read_text()}")
        host_pub = self.host_key.with_suffix(".pub").read_text().split()
        ssh_dir = Path(os.environ["HOME"]) / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        with (ssh_dir / "known_hosts").open("a") as fh:
            fh.write(f"[127.0.0.1]:{self.port} {host_pub[0]} {host_pub[1]}\n")

    def url(self, path: Path) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log_file.close()


def repository(path: Path, ssh_url: str | None, dir_remote: Path) -> None:
    """The MiniLM example as a team's repository: two INT8 targets, short measurements, a
    policy with edge-default's rules and no extra rounds, two DVC remotes in .dvc/config."""
    run = make_runner(path)
    path.mkdir(parents=True)
    shutil.copytree(REPO / "examples" / "minilm", path / "models" / "minilm",
                    ignore=shutil.ignore_patterns("make_eval.py"))
    shutil.copytree(REPO / "policies", path / "policies")
    policy = yaml.safe_load((REPO / "policies" / "edge-default.yaml").read_text())
    policy |= {"name": "edge-default-no-extra-rounds", "statistics": {"time_budget_s": 0, "max_rounds": 2}}
    (path / "policies" / "no-extra-rounds.yaml").write_text(yaml.safe_dump(policy, sort_keys=False))
    manifest = yaml.safe_load((path / "models/minilm/gate.yaml").read_text())
    manifest["policy"] = "no-extra-rounds"
    sentences = (path / "models/minilm/sentences.txt").read_text().splitlines()[:64]
    (path / "models/minilm/sentences-64.txt").write_text("\n".join(sentences) + "\n")
    manifest["eval"] |= {"data": "sentences-64.txt", "min_items": 60}
    manifest["input"]["sequence_length"] = 32
    manifest["measure"] = {"warmup_runs": 2, "timed_runs": 50, "rounds": 2, "threads": 1, "memory_processes": 1}
    manifest["targets"] = [
        {"name": name, "platform": "x86-cpu", "backend": "onnxruntime",
         "recipe": {"precision": "int8", "method": "dynamic", "per_channel": name.endswith("per-channel")}}
        for name in TARGETS]
    (path / "models/minilm/gate.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    run("git", "init", "-q", "-b", "main")
    run("dvc", "init", "-q")
    run("dvc", "remote", "add", "dir", str(dir_remote))
    if ssh_url is not None:
        run("dvc", "remote", "add", "ssh", ssh_url)
    run("gate", "plan")
    run("git", "add", "-A")
    run("git", "commit", "-q", "-m", "the MiniLM manifest and its DVC remotes")


def clone(origin: Path, dest: Path, remote: str, sshd: Sshd | None) -> Path:
    """A fresh runner's checkout, its default remote and (for SSH) its key, as CI secrets would set."""
    make_runner(dest.parent)("git", "clone", "-q", str(origin), str(dest))
    run = make_runner(dest)
    run("dvc", "config", "--local", "core.site_cache_dir", str(dest / ".dvc" / "site-cache"))
    run("dvc", "remote", "default", "--local", remote)
    if sshd is not None:
        run("dvc", "remote", "modify", "--local", "ssh", "keyfile", str(sshd.user_key))
    return dest


def act(root: Path, tmp: Path, inputs: dict[str, str]) -> ActionRun:
    """Run action.yml in ``root`` on a push to main (no pull request: nothing is commented)."""
    sha = make_runner(root)("git", "rev-parse", "HEAD").stdout.strip()
    github = {"event_name": "push", "event": {}, "repository": "acme/models", "sha": sha, "token": "",
              "workflow": "model-gate", "ref": "refs/heads/main"}
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "CI": "true",
           "GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "push", "GITHUB_REPOSITORY": "acme/models",
           "GITHUB_SHA": sha, "GITHUB_REF": "refs/heads/main", "DVC_NO_ANALYTICS": "1",
           "MLFLOW_DISABLE_TELEMETRY": "true"}
    return run_action(REPO, root, {"install": "false", "record": "false", "comment": "false", **inputs},
                      github, env, tmp)


def leg(root: Path, tmp: Path, target: str) -> ActionRun:
    result = act(root, tmp, {"mode": "leg", "manifests": "models/minilm/gate.yaml",
                             "stage": f"measure-minilm-{target}", "base-ref": ""})
    step = result.step("Run one matrix leg (dvc repro STAGE)")
    assert step.returncode == 0, step.stdout[-4000:] + step.stderr[-4000:]
    assert "::warning" not in step.stdout and "::error" not in step.stdout, step.stdout
    return result


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd | None]:
    if SSHD is None:
        yield None
        return
    server = Sshd(tmp_path_factory.mktemp("sshd"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def leg_a(tmp_path_factory: pytest.TempPathFactory, sshd: Sshd | None) -> dict[str, Any]:
    """Leg A builds the first target once and pushes it to every remote (run cache included)."""
    tmp = tmp_path_factory.mktemp("remote-flow")
    remotes = {"dir": tmp / "dir-remote"}
    if sshd is not None:
        remotes["ssh"] = tmp / "ssh-remote"
    seed = tmp / "seed"
    repository(seed, sshd.url(remotes["ssh"]) if sshd else None, remotes["dir"])
    origin = tmp / "origin.git"
    make_runner(tmp)("git", "clone", "-q", "--bare", str(seed), str(origin))
    a = clone(origin, tmp / "leg-a", "dir", sshd)
    first = leg(a, tmp / "runner-a-dir", TARGETS[0])
    built = first.step("Run one matrix leg (dvc repro STAGE)").stdout
    assert "Running stage 'baseline-minilm'" in built and f"Running stage 'measure-minilm-{TARGETS[0]}'" in built
    pushed = {"dir": built}
    if sshd is not None:  # the same runner pushes to the SSH remote: nothing is rebuilt
        make_runner(a)("dvc", "remote", "default", "--local", "ssh")
        again = leg(a, tmp / "runner-a-ssh", TARGETS[0]).step("Run one matrix leg (dvc repro STAGE)").stdout
        assert "Running stage" not in again, again
        pushed["ssh"] = again
    return {"tmp": tmp, "origin": origin, "a": a, "remotes": remotes, "pushed": pushed}


@pytest.mark.parametrize("remote", ["dir", "ssh"])
def test_legs_share_the_baseline_through_the_remote_and_decide_gathers_both(
        leg_a: dict[str, Any], sshd: Sshd | None, remote: str) -> None:
    if remote == "ssh" and sshd is None:
        pytest.skip("OpenSSH's sshd is not installed (Debian: apt-get install openssh-server)")
    tmp, a = leg_a["tmp"], leg_a["a"]
    assert any(leg_a["remotes"][remote].rglob("*")), f"leg A pushed nothing to the {remote} remote"
    assert "runs" in {p.name for p in leg_a["remotes"][remote].iterdir()}, "no run cache on the remote"

    b = clone(leg_a["origin"], tmp / f"leg-b-{remote}", remote, sshd)
    out = leg(b, tmp / f"runner-b-{remote}", TARGETS[1]).step("Run one matrix leg (dvc repro STAGE)").stdout
    assert "Stage 'baseline-minilm' is cached - skipping run, checking out outputs" in out, out
    assert "Running stage 'baseline-minilm'" not in out
    for stage in (f"optimize-minilm-{TARGETS[1]}", f"measure-minilm-{TARGETS[1]}"):
        assert f"Running stage '{stage}'" in out
    assert f"optimize-minilm-{TARGETS[0]}" not in out  # leg B builds only its own target
    base = "build/gate/minilm/baseline/artifact.json"
    assert (b / base).read_bytes() == (a / base).read_bytes()

    # the decide job: a fresh clone, the legs' uploads (their target folders) downloaded
    c = clone(leg_a["origin"], tmp / f"decide-{remote}", remote, sshd)
    downloaded = c / "edge-gate-legs"
    for name, src in ((TARGETS[0], a), (TARGETS[1], b)):
        shutil.copytree(src / "build/gate/minilm/targets" / name, downloaded / f"edge-gate.minilm.{name}")
    result = act(c, tmp / f"runner-c-{remote}", {"mode": "decide", "measurements": "edge-gate-legs", "base-ref": ""})
    gathered = result.step("Gather the legs' measurements").stdout
    assert "gathered 2 leg(s)" in gathered, gathered
    decision = yaml.safe_load((c / "build/gate/minilm/decision.json").read_text())
    verdicts = {t["target"]: t["verdict"] for t in decision["targets"]}
    assert set(verdicts) == set(TARGETS)
    assert set(verdicts.values()) <= {"pass", "fail", "inconclusive"}, decision["targets"]
    assert result.outputs["verdict"] in ("pass", "fail", "inconclusive")
