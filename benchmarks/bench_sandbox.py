"""What OS isolation costs per test of `--verify code`: tests/s on 2 processes, per sandbox mode.

    make bench-sandbox       # or: python benchmarks/bench_sandbox.py --tests 200 --out bench-results/sandbox.json

Each "test" is one LiveCodeBench-style stdin/stdout run of a small solution (read numbers, print
their sum), as `distill filter --verify code` runs them. Modes: `before` is the sandbox as it was
before OS isolation (rlimits + network namespace + Python hook, loaded from git at BEFORE),
`none` is today's `--unsafe-sandbox`, then `unshare` and `bwrap`. The modes run interleaved,
`--rounds` times, so a load spike on a shared machine hits them alike; ratios are to `before`
in the same round. Also timed: one `distill filter --verify code --num-proc 2` over the same
solutions (the whole stage, default isolation).

Also timed: one run_code (default isolation) from a caller that holds `--caller-mb` of touched
memory, as `train --reward`, select's difficulty and eval on code call it beside torch and a
model, against a caller that holds nothing: ms per run and the caller's system time per run.
Until run_code started the sandbox without a preexec_fn (Popen forked the caller, copying its
page tables), the caller's system time grew with its size; on a 2-core machine under load
(tests/test_sandbox_spawn_s14.py's commit): 2 ms per run from a small caller, 11-18 ms from
one with torch + transformers + 300 MB, 42-47 ms with 2 GB (wall 164-180 ms at best, 222-272
ms median); now 0.5-1.3 ms at every size, 66-87 ms at best, 129-136 ms median.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing as mp
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine, write_result

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BEFORE = "32317b4"  # the last commit with the in-process-hook-only sandbox

SOLUTION = "import sys\nnums = list(map(int, sys.stdin.read().split()))\nprint(sum(nums))\n"
RUNNERS: dict = {}


def _cases(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    cases = []
    for _ in range(n):
        nums = [rng.randint(-999, 999) for _ in range(rng.randint(1, 20))]
        cases.append((" ".join(map(str, nums)) + "\n", str(sum(nums))))
    return cases


def _one(item: tuple[str, str, str]) -> bool:
    mode, stdin, expected = item
    r = RUNNERS[mode](SOLUTION, stdin)
    return r.ok and r.stdout.strip() == expected


def _load_before() -> object | None:
    try:
        src = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{BEFORE}:distill/filter/sandbox.py"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (subprocess.CalledProcessError, FileNotFoundError):
        return None
    path = Path(tempfile.mkdtemp()) / "sandbox_before.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("sandbox_before", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["sandbox_before"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _filter_stage(cases: list[tuple[str, str]], num_proc: int) -> float:
    """Seconds for the whole filter stage over one trace per case (one test each)."""
    from distill.filter import FilterConfig, run

    with tempfile.TemporaryDirectory() as tmp:
        traces = Path(tmp) / "traces.jsonl"
        with open(traces, "w") as f:
            for i, (stdin, expected) in enumerate(cases):
                rec = {
                    "id": f"t{i}",
                    "prompt_id": f"p{i}",
                    "messages": [{"role": "user", "content": f"Sum the numbers of case {i}."}],
                    "reasoning": "Read every number, print their sum.",
                    "answer": f"```python\n{SOLUTION}```",
                    "finish_reason": "stop",
                    "meta": {"tests": {"inputs": [stdin], "outputs": [expected]}},
                }
                f.write(json.dumps(rec) + "\n")
        t0 = time.perf_counter()
        cfg = FilterConfig(
            input=str(traces),
            out=f"{tmp}/kept.jsonl",
            verify="code",
            dedup="none",
            num_proc=num_proc,
        )
        run(cfg, quiet=True)
        secs = time.perf_counter() - t0
        kept = sum(1 for _ in open(f"{tmp}/kept.jsonl"))
    assert kept == len(cases), f"filter kept {kept} of {len(cases)} honest solutions"
    return secs


def _from_caller(mb: int, runs: int) -> dict:
    """In a fresh process holding `mb` MB of touched memory: ms per run_code, and the caller's
    system time per run (what a fork of the caller costs shows there)."""
    big = bytearray(b"\1") * (mb << 20)  # noqa: F841 - held (and written: resident) while timed
    from distill.filter.sandbox import run_code

    run_code("print(1)", timeout=20)  # the probe of isolation, once
    t0, c0 = time.perf_counter(), os.times()
    for _ in range(runs):
        assert run_code("print(1)", timeout=20).ok
    secs, c1 = time.perf_counter() - t0, os.times()
    return {
        "ms_per_run": round(1000 * secs / runs, 1),
        "caller_system_ms_per_run": round(1000 * (c1.system - c0.system) / runs, 2),
    }


def _callers(mb: int, runs: int) -> dict:
    # fresh processes, not forks of this one: each its own size
    with mp.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:
        return {f"{m} MB": pool.apply(_from_caller, (m, runs)) for m in (0, mb)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tests", type=int, default=200, help="tests per mode per round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--num-proc", type=int, default=2)
    ap.add_argument("--caller-mb", type=int, default=2000, help="memory the large caller holds")
    ap.add_argument("--caller-runs", type=int, default=40)
    ap.add_argument("--out", default="bench-results/sandbox.json")
    args = ap.parse_args()

    from distill.filter import sandbox

    before = _load_before()
    if before is not None:
        RUNNERS["before"] = lambda code, stdin: before.run_code(code, stdin=stdin)
    modes = [*RUNNERS, "none", *(m for m in sandbox.MODES if sandbox.probe(m) is None)]
    for m in modes[len(RUNNERS) :]:
        RUNNERS[m] = lambda code, stdin, m=m: sandbox.run_code(code, stdin=stdin, isolation=m)
    cases = _cases(args.tests)
    rates: dict[str, list[float]] = {m: [] for m in modes}
    with mp.get_context("fork").Pool(args.num_proc) as pool:
        for _ in range(args.rounds):
            for m in modes:
                t0 = time.perf_counter()
                ok = pool.map(_one, [(m, s, e) for s, e in cases], chunksize=4)
                secs = time.perf_counter() - t0
                assert all(ok), f"{m}: {ok.count(False)} honest tests failed"
                rates[m].append(len(cases) / secs)
    stage_secs = _filter_stage(cases, args.num_proc)
    result = {
        "benchmark": "sandbox: LiveCodeBench-style stdin/stdout tests per second",
        "command": " ".join(sys.argv),
        "tests_per_mode_per_round": args.tests,
        "rounds": args.rounds,
        "num_proc": args.num_proc,
        "tests_per_s": {m: round(statistics.mean(r), 2) for m, r in rates.items()},
        "ms_per_test_per_process": {
            m: round(1000 * args.num_proc / statistics.mean(r), 1) for m, r in rates.items()
        },
        "filter_stage_tests_per_s": round(len(cases) / stage_secs, 2),
        "filter_stage_isolation": sandbox.isolation() or "none",
        "run_code_from_a_caller_holding": _callers(args.caller_mb, args.caller_runs),
        **machine(),
    }
    if "before" in rates:
        result["vs_before_same_round"] = {
            m: round(statistics.mean(a / b for a, b in zip(r, rates["before"])), 3)
            for m, r in rates.items()
        }
    write_result(args.out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
