"""Runner labels per target platform, for the CI matrix (``gate plan --matrix``).

A matrix leg runs on a runner whose labels GitHub matches against ``runs-on``
(https://docs.github.com/en/actions/using-jobs/choosing-the-runner-for-a-job). Platforms that
GitHub hosts map to its hosted-runner labels; the others map to self-hosted labels that a team
gives its own machines (README, "Self-hosted runners"). A manifest target may override the
labels with ``runs_on``.
"""

from __future__ import annotations

#: platform -> ``runs-on`` labels. Hosted labels are GitHub's own names (ubuntu-latest is x86-64,
#: ubuntu-24.04-arm is Arm64, macos-14 is Apple silicon); the rest are self-hosted.
RUNNER_LABELS: dict[str, list[str]] = {
    "x86-cpu": ["ubuntu-latest"],
    "arm-cpu": ["ubuntu-24.04-arm"],
    "apple-silicon": ["macos-14"],
    "intel-cpu": ["self-hosted", "linux", "x64", "intel-cpu"],
    "intel-gpu": ["self-hosted", "linux", "x64", "intel-gpu"],
    "intel-npu": ["self-hosted", "linux", "x64", "intel-npu"],
    "nvidia-gpu": ["self-hosted", "linux", "x64", "nvidia-gpu"],
    "arm-edge": ["self-hosted", "linux", "arm64", "arm-edge"],
}


def runner_labels(platform: str, override: list[str] | None = None) -> list[str]:
    """The ``runs-on`` labels of a target: ``override`` if given, else the platform's.

    An unknown platform runs on a self-hosted runner labelled with the platform's own name,
    so adding a platform needs only a runner with that label, not a change here.
    """
    if override:
        return list(override)
    return list(RUNNER_LABELS.get(platform, ["self-hosted", platform]))
