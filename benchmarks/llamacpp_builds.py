"""Generation tokens/s of GGUF files under two or more builds of llama-cpp-python, in one run.

Usage::

    python benchmarks/llamacpp_builds.py --build portable=DIR --build native=DIR \\
        --model smollm2-q8_0=FILE.gguf --model smollm2-q4_k_m=FILE.gguf [--rounds 3] [--threads 2] \\
        [--prompt-tokens 64] [--generate-tokens 64] [--runs 3]
    python benchmarks/llamacpp_builds.py --quantize F16.gguf --types Q8_0 Q4_K_M --out DIR

A build is a folder holding a ``llama_cpp`` package (e.g. ``pip install --target DIR
llama-cpp-python`` with other ``CMAKE_ARGS``; ``--build venv=`` names the installed one).
Every (model, build) pair runs in its own fresh process with that folder first on
``sys.path``, opened the way a measurement worker opens a ``llamacpp`` artifact; it does one
warm-up generation and ``--runs`` timed ones (a fresh KV cache, the prompt, then
``--generate-tokens`` single-token decodes), and reports llama.cpp's own decode counters
(``llama_perf_context``: ``n_eval / t_eval_ms``) and the build's ``llama_print_system_info``.
Rounds alternate the builds' order, so a slow phase of the machine falls on both. Prints, per
model, each build's median tokens/s over rounds (a round's figure is the median of its runs)
and each build's ratio to the first build, per round and the median of those.

``--quantize`` writes ``<stem>.<TYPE>.gguf`` files into ``--out`` with
``llama_model_quantize`` (the same call the ``llamacpp`` backend's recipe makes) and prints
their paths, for models that ship in one type only.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def child(gguf: Path, threads: int, prompt_tokens: int, generate_tokens: int, runs: int) -> dict[str, Any]:
    """One build on one model (runs in a fresh process); the figures as a dict."""
    import llama_cpp
    import numpy as np

    sys.path.insert(0, str(REPO / "benchmarks"))
    from llamacpp_perf import llama_context, open_session

    from gate.tasks.generation import greedy_generation

    with tempfile.TemporaryDirectory(prefix="gate-bench-builds-") as tmp:
        session = open_session(gguf, Path(tmp) / "artifact", threads, prompt_tokens + generate_tokens + 8)
        prompt = [int(t) for t in np.random.default_rng(0).integers(100, min(session.vocab_size, 20000),
                                                                     prompt_tokens)]
        greedy_generation(session, prompt, generate_tokens)  # warm-up
        tps = []
        for _ in range(runs):
            ctx = llama_context(session)
            llama_cpp.llama_perf_context_reset(ctx)
            greedy_generation(session, prompt, generate_tokens)
            perf = llama_cpp.llama_perf_context(ctx)
            if perf.n_eval <= 0 or perf.t_eval_ms <= 0:
                raise SystemExit("llama.cpp counted no decode steps (performance counters off)")
            tps.append(perf.n_eval / (perf.t_eval_ms / 1000.0))
        props = session.properties()
    return {"tokens_per_s": statistics.median(tps), "runs": tps, "cpu_features": props["cpu_features"],
            "llama_cpp": os.path.dirname(llama_cpp.__file__)}


def run_child(build_dir: str, gguf: Path, args: argparse.Namespace) -> dict[str, Any]:
    paths = [build_dir] if build_dir else []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*paths, str(REPO), os.environ.get("PYTHONPATH", "")])}
    argv = [sys.executable, __file__, "--child", str(gguf), "--threads", str(args.threads),
            "--prompt-tokens", str(args.prompt_tokens), "--generate-tokens", str(args.generate_tokens),
            "--runs", str(args.runs)]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"build {build_dir or 'venv'} on {gguf}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def quantize(source: Path, types: list[str], out: Path) -> None:
    import llama_cpp

    from gate.backends.llamacpp import FTYPES

    out.mkdir(parents=True, exist_ok=True)
    for kind in types:
        target = out / f"{source.stem}.{kind}.gguf"
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = FTYPES[kind][0]
        params.nthread = os.cpu_count() or 1
        params.allow_requantize = True
        if llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), ctypes.byref(params)) != 0:
            raise SystemExit(f"llama_model_quantize to {kind} failed for {source}")
        print(target)


def pair(text: str, what: str) -> tuple[str, str]:
    name, eq, value = text.partition("=")
    if not eq or not name:
        raise argparse.ArgumentTypeError(f"{what} must be NAME=PATH, got {text!r}")
    return name, value


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build", action="append", default=[], type=lambda s: pair(s, "--build"),
                   help="NAME=DIR holding a llama_cpp package (empty DIR: the installed one)")
    p.add_argument("--model", action="append", default=[], type=lambda s: pair(s, "--model"), help="NAME=FILE.gguf")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--prompt-tokens", type=int, default=64)
    p.add_argument("--generate-tokens", type=int, default=64)
    p.add_argument("--runs", type=int, default=3, help="timed generations per process (after one warm-up)")
    p.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--quantize", type=Path, help="an F16 (or any) GGUF to quantize")
    p.add_argument("--types", nargs="+", default=["Q8_0", "Q4_K_M"])
    p.add_argument("--out", type=Path, default=Path("."))
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.threads, args.prompt_tokens, args.generate_tokens, args.runs)))
        return 0
    if args.quantize:
        quantize(args.quantize, args.types, args.out)
        return 0
    if not args.build or not args.model:
        p.error("give at least one --build and one --model")
    builds = dict(args.build)
    names = list(builds)
    print(f"{args.threads} threads, prompt {args.prompt_tokens} tokens, {args.generate_tokens} generated, "
          f"{args.runs} runs a process, {args.rounds} rounds (build order alternating); load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    features: dict[str, str] = {}
    for model, gguf in args.model:
        per_round: dict[str, list[float]] = {b: [] for b in names}
        for r in range(args.rounds):
            for build in (names if r % 2 == 0 else names[::-1]):
                got = run_child(builds[build], Path(gguf), args)
                per_round[build].append(got["tokens_per_s"])
                features[build] = got["cpu_features"]
        first = names[0]
        for build in names:
            ratios = [v / f for v, f in zip(per_round[build], per_round[first], strict=True)]
            print(f"{model:<18} {build:<10} median {statistics.median(per_round[build]):8.2f} tokens/s  rounds "
                  f"{', '.join(f'{v:.2f}' for v in per_round[build])}  vs {first}: "
                  f"{statistics.median(ratios):.3f} ({', '.join(f'{x:.3f}' for x in ratios)})")
    for build in names:
        print(f"build {build}: {features[build]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
