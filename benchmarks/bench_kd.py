"""Training throughput of --method kd and --method onpolicy vs sft, on the same data.

    make bench-kd        # or: python benchmarks/bench_kd.py --out bench-results/kd.json

Student: bench_train's random-init Qwen2-style model (4 layers, hidden 256, SmolLM2's 49k
vocabulary); teacher: a second copy of it (only the cost of a teacher forward matters here,
not its quality). Data: bench_train's arithmetic traces. Each method
runs in its own process, LoRA, fp32 on CPU, batch 8, `--steps` steps; the number is completion
tokens per second of `trainer.train()` (sft/kd: the traces' completion tokens; onpolicy: the
tokens the student sampled, which the teacher scored). kd with a local teacher pays one teacher
forward per step; onpolicy also pays the student's sampling, token by token. The machine is
shared: compare the ratios of one run, not absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_train import make_data, make_model
from common import write_result

ROOT = Path(__file__).resolve().parent.parent


def child(args) -> None:
    sys.path.insert(0, str(ROOT))
    import torch

    from distill.train import TrainConfig, build_trainer

    torch.set_num_threads(args.threads)
    work = Path(args.work)
    extra = {} if args.side == "sft" else {"teacher_model": str(work / "teacher")}
    cfg = TrainConfig(
        data=str(work / "data.jsonl"),
        model=str(work / "model"),
        output_dir=str(work / f"out-{args.side}"),
        method=args.side,
        max_length=args.max_length,
        per_device_train_batch_size=args.batch,
        max_steps=args.steps,
        logging_steps=1,
        save_steps=10_000,
        max_new_tokens=args.max_new_tokens,
        seed=0,
        **extra,
    )
    trainer, _ = build_trainer(cfg)
    t0 = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - t0
    if args.side == "sft":  # one epoch of batches = exactly what was trained
        batches = list(trainer.get_train_dataloader())[: args.steps]
        tokens = sum(int((b["labels"] != -100).sum()) for b in batches)
    else:  # the completion tokens the teacher scored (kd: the traces'; onpolicy: the samples')
        tokens = trainer.teacher_tokens
    res = {"train_seconds": round(seconds, 2), "completion_tokens": tokens}
    res["completion_tokens_per_s"] = round(tokens / seconds, 1)
    print("RESULT " + json.dumps(res), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--out", default="bench-results/kd.json")
    ap.add_argument("--side", choices=["sft", "kd", "onpolicy"], help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.side:
        return child(args)
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        make_data(work / "data.jsonl", args.n, seed=0)
        make_model(work / "model")
        make_model(work / "teacher")
        results = {}
        for side in ("sft", "kd", "onpolicy"):
            cmd = [sys.executable, __file__, "--side", side, "--work", tmp]
            for k in ("n", "steps", "max_length", "max_new_tokens", "batch", "threads"):
                cmd += [f"--{k.replace('_', '-')}", str(getattr(args, k))]
            res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
            line = next((x for x in res.stdout.splitlines() if x.startswith("RESULT ")), None)
            if res.returncode != 0 or line is None:
                sys.exit(f"{side} side failed:\n{res.stderr[-3000:]}")
            results[side] = json.loads(line[len("RESULT ") :])
            print(side, results[side], flush=True)
    base = results["sft"]["completion_tokens_per_s"]
    report = {
        "benchmark": "train: --method kd / onpolicy vs sft, completion tokens per second",
        "examples": args.n,
        "steps": args.steps,
        "batch": args.batch,
        **results,
        "kd_over_sft": round(results["kd"]["completion_tokens_per_s"] / base, 3),
        "onpolicy_over_sft": round(results["onpolicy"]["completion_tokens_per_s"] / base, 3),
    }
    out = write_result(args.out, report)
    print(
        f"kd bench: sft {base:.0f} tok/s, kd {report['kd_over_sft']:.2f}x, "
        f"onpolicy {report['onpolicy_over_sft']:.2f}x -> {out}"
    )


if __name__ == "__main__":
    main()
