"""distill select over synthetic traces, no judge: difficulty (the teacher's stored verdicts),
one shortest trace per prompt, TF-IDF k-means round-robin to a budget.

    python benchmarks/bench_select.py --n 100000 --out bench-results/select.json

Data: `--n` traces, 4 per prompt, prompts drawn from 20 topics of 12 words each plus a few
random ones, ~1k characters of reasoning, the filter's `checks.verify` verdict on each (a
prompt's pass rate is uniform over 0-4 of 4). The select run is its own process (`distill
select`), timed from start to exit, peak RSS its own. Goal (issue 29): <= 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine, write_result

ROOT = Path(__file__).resolve().parent.parent


def make_data(path: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    topics = [[f"w{t}x{k}" for k in range(12)] for t in range(20)]
    filler = [f"f{k}" for k in range(500)]
    per = 4
    with open(path, "w") as f:
        for p in range(n // per):
            words = topics[rng.randrange(20)]
            problem = " ".join(rng.choice(words) for _ in range(12))
            problem += " " + " ".join(rng.choice(filler) for _ in range(6)) + f" #{p}"
            right = rng.randrange(per + 1)
            for s in range(per):
                reasoning = " ".join(rng.choice(filler) for _ in range(rng.randrange(60, 300)))
                rec = {
                    "id": f"p{p}-{s}",
                    "prompt_id": f"p{p}",
                    "sample": s,
                    "messages": [{"role": "user", "content": problem}],
                    "reasoning": reasoning,
                    "answer": "\\boxed{1}",
                    "gold": "1",
                    "teacher": {"backend": "hf", "model": "t", "params": {}},
                    "finish_reason": "stop",
                    "usage": {"prompt_tokens": 40, "completion_tokens": len(reasoning) // 4},
                    "meta": {},
                    "checks": {"verify": "correct" if s < right else "wrong"},
                }
                f.write(json.dumps(rec) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--budget", type=int, default=5000)
    ap.add_argument("--out", default="bench-results/select.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "traces.jsonl"
        t0 = time.monotonic()
        make_data(src, args.n)
        made = time.monotonic() - t0
        cmd = [
            sys.executable,
            "-c",
            # VmHWM, not ru_maxrss: the latter carries the parent's high-water mark (common.py)
            "import sys; from distill.cli import app; sys.argv[0] = 'distill'\n"
            "try:\n    app()\nexcept SystemExit:\n"
            "    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')]\n"
            "    print('peak_rss_mb', int(hwm[0].split()[1]) / 1024, file=sys.stderr); raise",
            "select",
            str(src),
            "--out",
            str(Path(tmp) / "selected.jsonl"),
            "--pass-rate",
            "0.25:0.75",
            "--per-prompt",
            "1",
            "--prefer",
            "short",
            "--budget",
            str(args.budget),
            "--seed",
            "0",
        ]
        t0 = time.monotonic()
        res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        seconds = time.monotonic() - t0
        if res.returncode != 0:
            sys.exit(f"select failed:\n{res.stderr}")
        report = json.loads((Path(tmp) / "selected.report.json").read_text())
        rss = [
            float(line.split()[1])
            for line in res.stderr.splitlines()
            if line.startswith("peak_rss_mb")
        ]
    result = {
        **machine(),
        "traces": args.n,
        "prompts": report["prompts"]["total"],
        "budget": args.budget,
        "selected": report["selected"],
        "removed": report["removed"],
        "clusters": report.get("diversity", {}).get("groups"),
        "seconds": round(seconds, 1),
        "traces_per_s": round(args.n / seconds),
        "peak_rss_mb": round(rss[0]) if rss else None,
        "data_seconds": round(made, 1),
        "goal": "<= 60 s for 100k traces on 2 cores (issue 29)",
    }
    print(json.dumps(result, indent=2))
    write_result(args.out, result)


if __name__ == "__main__":
    main()
