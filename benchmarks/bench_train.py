"""distill train (BFD packing, padding-free) vs TRL's SFTTrainer with default settings.

    make bench-train        # or: python benchmarks/bench_train.py --out bench-results/train.json

Model: a random-init Qwen2-style student (4 layers, hidden 256) with the embedded SmolLM2's
tokenizer and chat template (49k vocab, so the output layer costs what a real one does).
Data: `--n` arithmetic traces whose reasoning lengths are log-normal (median ~40 tokens, a long
tail up to the max length): the skew real R1 traces have. Both sides train one epoch, full
fine-tuning in fp32 on CPU, batch 8, on the same examples; each side runs in its own process.

Measured: non-pad tokens per second of `trainer.train()` (the data loader's own batches are
counted, so the number is what the model really saw) and the pad fraction of those batches.
Goal (issue 4): >= 1.3x the baseline's non-pad tokens/s, pad waste <= 5%.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import write_result

ROOT = Path(__file__).resolve().parent.parent


def make_data(path: Path, n: int, seed: int) -> None:
    rng = random.Random(seed)
    words = "so we add the tens and then the ones carry one to get".split()
    with open(path, "w") as f:
        for i in range(n):
            a, b = rng.randint(10, 99), rng.randint(10, 99)
            k = max(4, min(420, int(rng.lognormvariate(3.4, 1.0))))
            reasoning = " ".join(rng.choice(words) for _ in range(k))
            rec = {
                "id": f"t{i}",
                "prompt_id": f"p{i}",
                "sample": 0,
                "messages": [{"role": "user", "content": f"What is {a} + {b}?"}],
                "reasoning": reasoning,
                "answer": f"The answer is \\boxed{{{a + b}}}.",
                "gold": str(a + b),
                "teacher": {"backend": "bench", "model": "synthetic", "params": {}},
                "finish_reason": "stop",
                "usage": {},
            }
            f.write(json.dumps(rec) + "\n")


def make_model(path: Path, tok=None, vocab_size: int | None = None, seed: int = 0) -> None:
    """The benchmarks' random Qwen2-style model (4 layers, hidden 256), saved with `tok`
    (default: SmolLM2's), `vocab_size` embedding rows (default: the tokenizer's size)."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    from distill.models import load_tokenizer

    torch.manual_seed(seed)
    tok = tok if tok is not None else load_tokenizer("builtin:smollm2")
    config = Qwen2Config(
        vocab_size=vocab_size or len(tok),
        hidden_size=256,
        intermediate_size=688,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=True,
    )
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.save_pretrained(path)
    tok.save_pretrained(path)


def loader_stats(trainer) -> dict:
    """Non-pad and total token slots of the batches the trainer will feed the model."""
    real = slots = 0
    for batch in trainer.get_train_dataloader():
        ids = batch["input_ids"]
        slots += ids.numel()
        if "attention_mask" in batch:
            real += int(batch["attention_mask"].sum())
        else:  # padding-free: one flat row, every slot is a real token
            real += ids.numel()
    return {"non_pad_tokens": real, "token_slots": slots, "pad_fraction": 1 - real / slots}


def side_distill(model: Path, data: Path, out: Path, args) -> dict:
    from distill.train import TrainConfig, build_trainer

    cfg = TrainConfig(
        data=str(data),
        model=str(model),
        output_dir=str(out),
        lora=False,
        packing=True,
        max_length=args.max_length,
        per_device_train_batch_size=args.batch,
        num_train_epochs=1,
        logging_steps=10_000,
        save_steps=10_000,
        gradient_checkpointing=False,
        seed=0,
    )
    trainer, _ = build_trainer(cfg)
    return {**loader_stats(trainer), **timed_train(trainer)}


def side_trl(model: Path, data: Path, out: Path, args) -> dict:
    """The baseline: a `messages` dataset straight into SFTTrainer, TRL's defaults."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    rows = []
    for line in data.read_text().splitlines():
        r = json.loads(line)
        content = f"<think>\n{r['reasoning']}\n</think>\n\n{r['answer']}"
        rows.append({"messages": [*r["messages"], {"role": "assistant", "content": content}]})
    sft = SFTConfig(
        output_dir=str(out),
        max_length=args.max_length,
        per_device_train_batch_size=args.batch,
        num_train_epochs=1,
        logging_steps=10_000,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        seed=0,
    )
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(model),
        args=sft,
        train_dataset=Dataset.from_list(rows),
        processing_class=AutoTokenizer.from_pretrained(model),
    )
    return {**loader_stats(trainer), **timed_train(trainer)}


def timed_train(trainer) -> dict:
    from common import peak_rss_mb  # benchmarks/, beside this file

    t0 = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - t0
    return {
        "train_seconds": round(seconds, 2),
        "peak_rss_mb": round(peak_rss_mb()),
    }


def child(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    work = Path(args.work)
    fn = side_distill if args.side == "distill" else side_trl
    res = fn(work / "model", work / "data.jsonl", work / f"out-{args.side}", args)
    res["non_pad_tokens_per_s"] = round(res["non_pad_tokens"] / res["train_seconds"], 1)
    print("RESULT " + json.dumps(res), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--out", default="bench-results/train.json")
    ap.add_argument("--side", choices=["distill", "trl"], help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.side:
        return child(args)
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        make_data(work / "data.jsonl", args.n, seed=0)
        make_model(work / "model")
        results = {}
        for side in ("trl", "distill"):
            cmd = [sys.executable, __file__, "--side", side, "--work", tmp]
            cmd += ["--n", str(args.n), "--max-length", str(args.max_length)]
            cmd += ["--batch", str(args.batch), "--threads", str(args.threads)]
            res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
            line = next((x for x in res.stdout.splitlines() if x.startswith("RESULT ")), None)
            if res.returncode != 0 or line is None:
                sys.exit(f"{side} side failed:\n{res.stderr[-3000:]}")
            results[side] = json.loads(line[len("RESULT ") :])
            print(side, results[side], flush=True)
    speedup = results["distill"]["non_pad_tokens_per_s"] / results["trl"]["non_pad_tokens_per_s"]
    report = {
        "benchmark": "train: distill (bfd packing, padding-free) vs TRL SFTTrainer defaults",
        "examples": args.n,
        "max_length": args.max_length,
        "batch": args.batch,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "trl_default": results["trl"],
        "distill": results["distill"],
        "speedup_non_pad_tokens_per_s": round(speedup, 2),
        "goal": {"speedup": 1.3, "pad_fraction": 0.05},
        "meets_goal": speedup >= 1.3 and results["distill"]["pad_fraction"] <= 0.05,
    }
    out = write_result(args.out, report)
    print(
        f"train bench: distill {results['distill']['non_pad_tokens_per_s']:.0f} non-pad tok/s "
        f"(pad {results['distill']['pad_fraction']:.1%}) vs TRL default "
        f"{results['trl']['non_pad_tokens_per_s']:.0f} (pad {results['trl']['pad_fraction']:.1%}): "
        f"{speedup:.2f}x -> {out}"
    )


if __name__ == "__main__":
    main()
