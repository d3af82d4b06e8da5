"""Peak memory of one sft / kd / onpolicy loss step: full-vocabulary logits vs the chunked loss.

    make bench-kd        # or: python benchmarks/bench_kd_memory.py --out bench-results/kd-memory.json

Student and local teacher: random Qwen2-style models with Qwen2.5's 151,936-token vocabulary and a
tiny body (hidden 64, 2 layers), so the LM head and the logits are nearly all the memory; batch 4,
a 32-token prompt and `--tokens`/4 completion tokens per row. One step = the forward and backward of
the loss with every parameter trainable (no optimizer). kd and onpolicy run DistillTrainer's own
compute_loss (kd: alpha 0.5, T 2; onpolicy: the loss on given samples, beta 0.5) at
--loss-chunk-size 0 (today's path: the full [B, L, V] logits) and --chunk (128); sft runs the full logits
(a plain HF forward with labels, what TRL's SFTTrainer did before its fused LM head), TRL's fused
LM head (what `distill train --method sft` runs with TRL >= 1.x) and the same chunked torch
cross-entropy from the hidden states.

Memory: the peak resident size (VmHWM, which is ru_maxrss without what the parent had before
execve: benchmarks/common.py) of a fresh process per configuration, minus its resident
size just before the step; each process runs under an address-space cap (--cap-gb above its size
before the step), so a path that would need more is reported as refused rather than swapping the
machine. Differences: max |loss| and max |grad| difference of a path against the full logits at
--compare-tokens (where the full path fits).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from common import write_result

ROOT = Path(__file__).resolve().parent.parent
VOCAB = 151_936
PROMPT = 32
BATCH = 4


def _rss_kb(field: str = "VmRSS") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _model(seed: int):
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=VOCAB,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=False,
    )
    return AutoModelForCausalLM.from_config(config).train()


class _Fake:
    """DistillTrainer.compute_loss without a Trainer (no optimizer, data): the state it reads is
    set here; its own methods (_teacher_rows, _row_weights, ...) are DistillTrainer's."""

    def __init__(self, kd, teacher, model):
        import types

        self.kd, self.teacher, self.model = kd, teacher, model
        self.accelerator = types.SimpleNamespace(unwrap_model=lambda m: m, num_processes=1)
        self.args = types.SimpleNamespace(average_tokens_across_devices=False)
        self.current_gradient_accumulation_steps = 1
        self.teacher_tokens, self._sums = 0, {"kl": 0.0, "ce": 0.0, "n": 0}
        self.gated: set = set()

    def __getattr__(self, name):
        from distill.train.kd.trainer import DistillTrainer

        return getattr(DistillTrainer, name).__get__(self)


def child(args) -> None:
    sys.path.insert(0, str(ROOT))
    import types

    import torch
    import torch.nn.functional as F

    from distill.teachers.scorers import LocalTeacher
    from distill.train.kd.loss import chunked_sum, lm_head

    torch.set_num_threads(args.threads)
    student = _model(0)
    per_row = args.tokens // BATCH
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, VOCAB, (BATCH, PROMPT + per_row), generator=g)
    labels = ids.clone()
    labels[:, :PROMPT] = -100
    attn = torch.ones_like(ids)
    if args.method == "sft":
        if args.path == "trl":
            from trl.trainer.utils import add_fused_lm_head

            add_fused_lm_head(student)
        step = _sft_step(args.path, student, ids, attn, labels, chunked_sum, lm_head, F, args.chunk)
    else:
        teacher = LocalTeacher.__new__(LocalTeacher)
        teacher.model, teacher.vocab, teacher.name = _model(1).eval(), VOCAB, "teacher"
        teacher.model.requires_grad_(False)
        kd = types.SimpleNamespace(
            method=args.method,
            kd_temperature=2.0 if args.method == "kd" else 1.0,
            kd_alpha=0.5,
            beta=0.5,
            reward="none",
            reward_weight=0.0,
            loss_chunk_size=0 if args.path == "full" else args.chunk,
        )
        fake = _Fake(kd, teacher, student)

        def step():
            return fake.compute_loss(
                student, {"input_ids": ids, "attention_mask": attn, "labels": labels}
            )

    # Cap the address space: a path that needs more fails here instead of swapping the machine.
    cap = _rss_kb("VmSize") * 1024 + int(args.cap_gb * 2**30)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    before = _rss_kb()
    try:
        loss = step()
        loss.backward()
    except (RuntimeError, MemoryError) as e:
        print("RESULT " + json.dumps({"refused": str(e).splitlines()[0][:200]}), flush=True)
        return
    peak = _rss_kb("VmHWM")
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    if args.save:
        grads = {n: p.grad for n, p in student.named_parameters() if p.grad is not None}
        torch.save({"loss": float(loss), "grads": grads}, args.save)
    res = {"peak_rss_mb": round(peak / 1024), "step_mb": round((peak - before) / 1024)}
    print("RESULT " + json.dumps({**res, "loss": float(loss)}), flush=True)


def _sft_step(path, model, ids, attn, labels, chunked_sum, lm_head, F, chunk):
    """sft's loss: mean cross-entropy over the completion tokens, three ways."""
    n = (labels[:, 1:] != -100).sum()
    if path == "full":
        return lambda: model(input_ids=ids, attention_mask=attn, labels=labels).loss
    if path == "trl":
        return lambda: (
            model(input_ids=ids, attention_mask=attn, labels=labels, fused_lm_head=True).loss
        )

    def step():
        out = model(input_ids=ids, attention_mask=attn, output_hidden_states=True, logits_to_keep=1)
        mask = labels[:, 1:] != -100
        h = out.hidden_states[-1][:, :-1][mask]
        head = lm_head(model)

        def ce(x, y):
            return F.cross_entropy(head(x).float(), y, reduction="sum")

        return chunked_sum(ce, chunk, h, labels[:, 1:][mask]) / n

    return step


def run_one(args, method, path, tokens, save=None) -> dict:
    cmd = [sys.executable, __file__, "--method", method, "--path", path, "--tokens", str(tokens)]
    cmd += [
        "--threads",
        str(args.threads),
        "--cap-gb",
        str(args.cap_gb),
        "--chunk",
        str(args.chunk),
    ]
    if save:
        cmd += ["--save", save]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    line = next((x for x in res.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        return {"refused": f"exit {res.returncode}: {res.stderr.strip().splitlines()[-1:]}"}
    return json.loads(line[len("RESULT ") :])


def diff(a: str, b: str) -> dict:
    import torch

    x, y = torch.load(a), torch.load(b)
    g = max(float((x["grads"][k] - y["grads"][k]).abs().max()) for k in x["grads"])
    return {"loss_diff": abs(x["loss"] - y["loss"]), "grad_max_abs_diff": g}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=4096)
    ap.add_argument("--compare-tokens", type=int, default=1024)
    ap.add_argument("--chunk", type=int, default=128)
    ap.add_argument("--cap-gb", type=float, default=12.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="bench-results/kd-memory.json")
    ap.add_argument("--method", choices=["sft", "kd", "onpolicy"], help=argparse.SUPPRESS)
    ap.add_argument("--path", choices=["full", "chunked", "trl"], help=argparse.SUPPRESS)
    ap.add_argument("--save", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.method:
        return child(args)
    sys.path.insert(0, str(ROOT))
    report: dict = {
        "benchmark": "one loss step (forward + backward), peak RSS: full logits vs chunked",
        "vocab": VOCAB,
        "tokens": args.tokens,
        "compare_tokens": args.compare_tokens,
        "chunk": args.chunk,
        "memory": "peak RSS (VmHWM) of a fresh process per configuration; step_mb = it minus the RSS "
        "just before the step",
    }
    paths = {
        "sft": ("full", "trl", "chunked"),
        "kd": ("full", "chunked"),
        "onpolicy": ("full", "chunked"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for method, names in paths.items():
            rows: dict = {}
            for path in names:
                rows[path] = run_one(args, method, path, args.tokens)
                print(method, path, args.tokens, rows[path], flush=True)
            saved = {p: f"{tmp}/{method}-{p}.pt" for p in names}
            for path in names:
                small = run_one(args, method, path, args.compare_tokens, saved[path])
                rows[path][f"at_{args.compare_tokens}"] = small
                print(method, path, args.compare_tokens, small, flush=True)
            for path in names[1:]:
                if Path(saved["full"]).exists() and Path(saved[path]).exists():
                    rows[path]["vs_full"] = diff(saved["full"], saved[path])
            report[method] = rows
    for m in ("kd", "onpolicy"):
        full, part = report[m]["full"], report[m]["chunked"]
        if "step_mb" in full and "step_mb" in part:
            report[f"{m}_chunked_over_full"] = round(part["step_mb"] / full["step_mb"], 3)
    sft_now = report["sft"]["trl"].get("step_mb")
    if sft_now:
        for m in ("kd", "onpolicy"):
            if "step_mb" in report[m]["chunked"]:
                report[f"{m}_chunked_over_sft"] = round(
                    report[m]["chunked"]["step_mb"] / sft_now, 3
                )
    sft_chunked = report["sft"]["chunked"].get("step_mb")
    if sft_chunked:  # the goal: kd's chunked step within 1.3x of sft's chunked step
        for m in ("kd", "onpolicy"):
            if "step_mb" in report[m]["chunked"]:
                report[f"{m}_chunked_over_sft_chunked"] = round(
                    report[m]["chunked"]["step_mb"] / sft_chunked, 3
                )
    out = write_result(args.out, report)
    print(json.dumps(report, indent=1))
    print(f"-> {out}")


if __name__ == "__main__":
    main()
