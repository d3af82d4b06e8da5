"""ROUGE-L filter of `distill instruct` on 52k synthetic candidates vs Alpaca's all-pairs loop.

    python benchmarks/bench_instruct.py --n 52000 --naive-n 2000 --out bench-results/instruct.json

Candidates are instruction-like word sequences (Zipf-distributed words, 4-24 tokens, 25% of
them edited copies of earlier ones so the filter has work to do). Each method runs in its own
process (CPU seconds, and peak RSS as its own VmHWM):
- distill: RougeIndex (inverted-index overlap bound, rouge-score's LCS only where it can win),
  on all N candidates, in order, against the seeds and every kept one (threshold 0.7).
- naive: Alpaca's decision, rouge-score's `_score_lcs` against every kept instruction, one
  process (Alpaca mapped it over a Pool made per candidate, which is slower still: `alpaca_pool`
  on a small prefix). At 52k it would take hours, so it runs on the first --naive-n candidates
  and is extrapolated by its measured seconds per pair times the pairs the full run would
  score (known exactly: the decisions are identical, checked on the prefix).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import peak_rss_mb  # noqa: E402

THRESHOLD = 0.7


def candidates(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    syll = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
    vocab = ["the", "a", "of", "to", "and", "in", "for", "write", "explain", "give", "list"]
    vocab += [
        rng.choice(syll) + rng.choice(syll) + rng.choice(["", "s", "ing"]) for _ in range(4000)
    ]
    weights = [1 / (r + 1) for r in range(len(vocab))]  # Zipf, like words in instructions
    out: list[str] = []
    for _ in range(n):
        if out and rng.random() < 0.25:
            words = rng.choice(out).split()
            for _ in range(rng.randint(1, 4)):
                words = words or ["write"]
                i = rng.randrange(len(words))
                words[i : i + rng.randint(0, 1)] = rng.choices(vocab, weights, k=rng.randint(0, 1))
            out.append(" ".join(words) or "write")
        else:
            out.append(" ".join(rng.choices(vocab, weights, k=rng.randint(4, 24))))
    return out


def seeds() -> list[str]:
    lines = (ROOT / "prompts" / "seed_tasks.jsonl").read_text().splitlines()
    return [json.loads(x)["instruction"] for x in lines]


# --------------------------------------------------------------------------- workers


def work_distill(n: int) -> dict:
    sys.path.insert(0, str(ROOT))
    from distill.instruct import RougeIndex, rouge_tokens

    texts = candidates(n)
    index = RougeIndex(THRESHOLD)
    for s in seeds():
        index.add(rouge_tokens(s))
    t0, c0 = time.perf_counter(), time.process_time()
    kept, decisions = 0, []
    for t in texts:
        toks = rouge_tokens(t)
        s = index.score(toks)
        keep = s < THRESHOLD
        decisions.append(keep)
        if keep:
            index.add(toks, s)
            kept += 1
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    # Pairs the all-pairs loop scores: each candidate against every seed and kept one so far.
    pairs, pool = 0, len(index) - kept
    for keep in decisions:
        pairs += pool
        pool += keep
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "kept": kept,
        "lcs_computed": index.scored,
        "all_pairs": pairs,
        "rouge_max": index.best,
        "decisions": "".join("1" if d else "0" for d in decisions),
    }


def work_naive(n: int, pool_size: int = 0) -> dict:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    texts = candidates(n)
    kept = [scorer._tokenizer.tokenize(s) for s in seeds()]
    t0, c0 = time.perf_counter(), time.process_time()
    decisions, pairs = [], 0
    for t in texts:
        toks = scorer._tokenizer.tokenize(t)
        pairs += len(kept)
        if pool_size:  # exactly Alpaca's: a Pool per candidate
            from functools import partial
            from multiprocessing import Pool

            with Pool(pool_size) as p:
                scores = p.map(partial(rouge_scorer._score_lcs, toks), kept)
        else:
            scores = [rouge_scorer._score_lcs(toks, k) for k in kept]
        keep = max((s.fmeasure for s in scores), default=0.0) < THRESHOLD
        decisions.append(keep)
        if keep:
            kept.append(toks)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "pairs": pairs,
        "kept": sum(decisions),
        "decisions": "".join("1" if d else "0" for d in decisions),
    }


def child(method: str, n: int) -> dict:
    """Run one method in a fresh process; add its wall time and peak RSS."""
    cmd = [sys.executable, __file__, "--worker", method, "--n", str(n)]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(proc.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=52000)
    ap.add_argument("--naive-n", type=int, default=2000)
    ap.add_argument("--pool-n", type=int, default=100)
    ap.add_argument("--out", default="bench-results/instruct.json")
    ap.add_argument("--worker", default=None)
    args = ap.parse_args()
    if args.worker:
        fn = {
            "distill": work_distill,
            "naive": work_naive,
            "alpaca_pool": lambda n: work_naive(n, pool_size=2),
            "imports": lambda n: (work_naive(0), work_distill(0))[0],
        }[args.worker]
        res = fn(args.n)
        res["peak_rss_mb"] = round(peak_rss_mb(), 1)  # VmHWM of this worker process
        print(json.dumps(res))
        return

    imports = child("imports", 0)
    full = child("distill", args.n)
    small = child("distill", args.naive_n)
    naive = child("naive", args.naive_n)
    pool = child("alpaca_pool", args.pool_n)
    assert naive["decisions"] == small["decisions"], "RougeIndex disagrees with all-pairs"
    assert pool["decisions"] == small["decisions"][: args.pool_n]
    # CPU seconds of the worker process: the 2 cores are shared with other jobs, so wall time
    # measures the neighbours as much as the code (both are reported).
    per_pair = naive["cpu_seconds"] / naive["pairs"]
    naive_full = per_pair * full["all_pairs"]
    result = {
        "what": "ROUGE-L >= 0.7 filter over N synthetic instruction candidates, in order, "
        "against the 40 seeds and every kept one; one process each",
        "n": args.n,
        "kept": full["kept"],
        "rouge_max_kept": round(full["rouge_max"], 4),
        "distill": {
            "cpu_seconds": round(full["cpu_seconds"], 2),
            "wall_seconds": round(full["seconds"], 2),
            "peak_rss_mb": full["peak_rss_mb"],
            "lcs_computed": full["lcs_computed"],
            "all_pairs": full["all_pairs"],
        },
        "naive_extrapolated": {
            "cpu_seconds": round(naive_full, 1),
            "cpu_hours": round(naive_full / 3600, 2),
            "how": f"measured {per_pair * 1e6:.2f} us CPU per pair on the first {args.naive_n} "
            f"candidates x the {full['all_pairs']:,} pairs the full run scores; "
            "its RSS grows only by the kept token lists, as ours",
        },
        "speedup_extrapolated": round(naive_full / full["cpu_seconds"], 1),
        f"prefix_{args.naive_n}": {
            "identical_decisions": True,
            "distill_cpu_seconds": round(small["cpu_seconds"], 3),
            "naive_cpu_seconds": round(naive["cpu_seconds"], 2),
            "naive_wall_seconds": round(naive["seconds"], 2),
            "naive_peak_rss_mb": naive["peak_rss_mb"],
            "distill_peak_rss_mb": small["peak_rss_mb"],
            "speedup_cpu": round(naive["cpu_seconds"] / small["cpu_seconds"], 1),
        },
        f"alpaca_pool_prefix_{args.pool_n}": {
            "wall_seconds": round(pool["seconds"], 2),
            "naive_serial_cpu_seconds_same_pairs": round(per_pair * pool["pairs"], 3),
            "note": "Alpaca's exact code path: a Pool(2) made per candidate (wall time)",
        },
        "baseline_rss_mb_after_imports": imports["peak_rss_mb"],
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus (shared with other jobs)",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
