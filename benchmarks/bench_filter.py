"""distill filter vs an open-r1-style baseline on synthetic traces.

    make bench-filter        # or: python benchmarks/bench_filter.py --n 100000 --out bench-results/filter.json

Data: `--n` traces of ~2k characters; 10% exact copies (re-cased / re-spaced) and 10% near
copies (3% of words changed) of earlier traces; ~30% wrong answers; 30% of golds in LaTeX
(fractions), the rest integers. Both sides do near-dedup (Jaccard 0.8) and math verification on
2 processes; distill also runs its default checks. Each side runs in its own process so peak
RSS is its own. Goal (issue 3): >= 3x the baseline's traces/s, kept sets within 1%.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from common import machine, write_result

ROOT = Path(__file__).resolve().parent.parent
WORDS = [
    f"{a}{b}"
    for a in (
        "the",
        "sum",
        "we",
        "add",
        "carry",
        "digit",
        "so",
        "then",
        "check",
        "next",
        "value",
        "term",
    )
    for b in ("", "s", "ed", "ing", "er", "al", "ly", "ion")
]


def make_data(path: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    originals: list[dict] = []
    with open(path, "w") as f:
        for i in range(n):
            kind = rng.random()
            if originals and kind < 0.1:  # exact copy, cosmetically changed
                src = rng.choice(originals)
                reasoning = (
                    src["reasoning"].upper()
                    if rng.random() < 0.5
                    else src["reasoning"].replace(" ", "  ")
                )
                rec = {**src, "reasoning": reasoning}
            elif originals and kind < 0.2:  # near copy
                src = rng.choice(originals)
                words = src["reasoning"].split()
                for _ in range(max(1, len(words) * 3 // 100)):
                    words[rng.randrange(len(words))] = rng.choice(WORDS)
                rec = {**src, "reasoning": " ".join(words)}
            else:
                words = [rng.choice(WORDS) for _ in range(330)]
                if rng.random() < 0.3:
                    a, b = rng.randint(1, 9), rng.randint(2, 12)
                    gold, right, wrong = (
                        f"\\frac{{{a}}}{{{b}}}",
                        f"\\frac{{{2 * a}}}{{{2 * b}}}",
                        f"\\frac{{{a + 1}}}{{{b}}}",
                    )
                else:
                    v = rng.randint(10, 999)
                    gold, right, wrong = str(v), str(v), str(v + 1)
                ans = right if rng.random() < 0.7 else wrong
                rec = {
                    "prompt_id": f"p{i}",
                    "messages": [{"role": "user", "content": f"Problem {i}: compute it."}],
                    "reasoning": " ".join(words),
                    "answer": f"So the answer is \\boxed{{{ans}}}.",
                    "gold": gold,
                    "teacher": {"backend": "openai", "model": "synthetic", "params": {}},
                    "finish_reason": "stop",
                    "usage": {"prompt_tokens": 10, "completion_tokens": 500},
                    "meta": {},
                    "think": "closed",
                    "sample": 0,
                }
                originals.append(rec)
            f.write(json.dumps({**rec, "id": f"t{i}"}) + "\n")


BASELINE = r"""
import json, sys, time
from common import peak_rss_mb, children_peak_rss_mb
from datasets import load_dataset
from datasketch import MinHash, MinHashLSH
from math_verify import parse, verify

src, out, num_proc = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.perf_counter()
ds = load_dataset("json", data_files=src, split="train", cache_dir=sys.argv[4])

def score(ex):
    gold = parse("$" + ex["gold"] + "$")
    pred = parse(ex["answer"])
    return {"correct": bool(gold) and bool(pred) and verify(gold, pred)}

def minhash(ex):
    words = " ".join((ex["reasoning"] + "\n" + ex["answer"]).lower().split()).split()
    m = MinHash(num_perm=128)
    for i in range(max(1, len(words) - 4)):
        m.update(" ".join(words[i:i + 5]).encode("utf8"))
    return {"hv": m.hashvalues.tolist(), "norm": " ".join((ex["reasoning"] + "\n" + ex["answer"]).lower().split())}

ds = ds.map(score, num_proc=num_proc)
ds = ds.filter(lambda ex: ex["correct"], num_proc=num_proc)
ds = ds.map(minhash, num_proc=num_proc)
lsh, seen, kept = MinHashLSH(threshold=0.8, num_perm=128), set(), []
import numpy as np
for ex in ds:
    if ex["norm"] in seen:
        continue
    seen.add(ex["norm"])
    m = MinHash(num_perm=128, hashvalues=np.array(ex["hv"], dtype=np.uint64), scheme="affine32")
    if lsh.query(m):
        continue
    lsh.insert(ex["id"], m)
    kept.append(ex["id"])
json.dump(kept, open(out, "w"))
print(json.dumps({"seconds": time.perf_counter() - t0,
                  "peak_rss_mb": peak_rss_mb(), "children_peak_rss_mb": children_peak_rss_mb()}))
"""

DISTILL = r"""
import json, sys, time
from common import peak_rss_mb, children_peak_rss_mb
sys.path.insert(0, sys.argv[4])
from distill.filter import FilterConfig, run
from distill.records import read_records
src, out, num_proc = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.perf_counter()
run(FilterConfig(input=src, out=out, verify="math", dedup="near", dedup_prompts=False, num_proc=num_proc), quiet=True)
secs = time.perf_counter() - t0
json.dump([r["id"] for r in read_records(out)], open(out + ".ids", "w"))
print(json.dumps({"seconds": secs, "peak_rss_mb": peak_rss_mb(), "children_peak_rss_mb": children_peak_rss_mb()}))
"""


def side(code: str, args: list[str]) -> dict:
    res = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={
            **os.environ,
            "HF_DATASETS_OFFLINE": "1",
            "TQDM_DISABLE": "1",
            "PYTHONPATH": str(ROOT / "benchmarks"),  # common.py
        },
    )
    if res.returncode != 0:
        raise SystemExit(res.stderr[-3000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--num-proc", type=int, default=2)
    ap.add_argument("--out", default="bench-results/filter.json")
    ap.add_argument(
        "--distill-only",
        action="store_true",
        help="Memory at scale (make bench-filter-1m): distill alone, no baseline.",
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "traces.jsonl"
        make_data(data, args.n)
        size_mb = data.stat().st_size / 1e6
        d = side(DISTILL, [str(data), f"{tmp}/kept.jsonl", str(args.num_proc), str(ROOT)])
        if args.distill_only:
            kept = len(json.load(open(f"{tmp}/kept.jsonl.ids")))
            return _write(
                args,
                {
                    **_header(
                        args,
                        size_mb,
                        "filter at scale: near-dedup + math verify + checks, distill alone",
                    ),
                    "distill": _side_result(d, args.n, kept),
                    "goal_peak_rss_mb": 2048,
                    **machine(),
                },
            )
        b = side(BASELINE, [str(data), f"{tmp}/base.json", str(args.num_proc), f"{tmp}/hfcache"])
        ours = set(json.load(open(f"{tmp}/kept.jsonl.ids")))
        base = set(json.load(open(f"{tmp}/base.json")))
    result = {
        **_header(args, size_mb, "filter: near-dedup + math verify (+ distill's checks)"),
        "distill": _side_result(d, args.n, len(ours)),
        "baseline": _side_result(b, args.n, len(base)),
        "speedup": round(b["seconds"] / d["seconds"], 2),
        "goal_speedup": 3.0,
        "kept_size_diff_pct": round(100 * abs(len(ours) - len(base)) / max(1, len(base)), 2),
        "kept_overlap_jaccard": round(len(ours & base) / max(1, len(ours | base)), 4),
        **machine(),
    }
    _write(args, result)


def _header(args, size_mb: float, title: str) -> dict:
    return {
        "benchmark": title,
        "command": " ".join(sys.argv),
        "traces": args.n,
        "input_mb": round(size_mb, 1),
        "num_proc": args.num_proc,
    }


def _side_result(r: dict, n: int, kept: int) -> dict:
    return {
        "seconds": round(r["seconds"], 2),
        "traces_per_s": round(n / r["seconds"], 1),
        "peak_rss_mb": round(r["peak_rss_mb"], 1),
        "worker_peak_rss_mb": round(r["children_peak_rss_mb"], 1),
        "kept": kept,
    }


def _write(args, result: dict) -> None:
    write_result(args.out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
