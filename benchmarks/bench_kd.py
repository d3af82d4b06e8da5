"""Training throughput of --method kd and --method onpolicy vs sft, on the same data, and of the
cross-tokenizer path (`--xtok hybrid|uld`, distill/train/kd/xtok.py) vs the same-vocabulary one.

    make bench-kd        # or: python benchmarks/bench_kd.py --out bench-results/kd.json

Student: bench_train's random-init Qwen2-style model (4 layers, hidden 256, SmolLM2's 49k
vocabulary); teacher: a second copy of it (only the cost of a teacher forward matters here,
not its quality). Data: bench_train's arithmetic traces. Each method
runs in its own process, LoRA, fp32 on CPU, batch 8, `--steps` steps; the number is completion
tokens per second of `trainer.train()` (sft/kd: the traces' completion tokens; onpolicy: the
tokens the student sampled, which the teacher scored). kd with a local teacher pays one teacher
forward per step; onpolicy also pays the student's sampling, token by token.

The xtok rows (`kd_xtok_hybrid`, `kd_xtok_uld`, `onpolicy_xtok_hybrid`): the same student and
data, a teacher of the same shape (4 layers, hidden 256, 49,152 embedding rows) whose tokenizer is
another one, a byte-level BPE trained here on the bench's own traces (offline, no hub; its own
merges, a few hundred tokens, other turn markers), the rows past it padding as Qwen's are. What
differs from the same-vocabulary row of the method: the teacher reads its own tokenization of
each example (longer here: `xtok_teacher_tokens_per_student_token`); the loss is ULD / hybrid
(a sort of the student's 49k probabilities per compared position) through chunked_sum's autograd,
where the same-vocabulary kd/onpolicy rows take fused_head_loss; on policy, every step decodes
each sample, tokenizes it for the teacher and aligns the two by byte offsets (Python, on CPU;
kd does that once, when the dataset is built, outside the timed `train()`). `xtok_over_same`
is each one's tokens/s over the same-vocabulary row of its method (`_cpu`: over each process's
CPU seconds, less moved by other jobs than wall time), `aligned_share` the share of completion
positions compared with the teacher (kd.json). The machine is shared: compare the ratios of one
run, not absolute numbers across runs.
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
# side -> (method, --xtok or None: the same-vocabulary teacher)
SIDES = {
    "sft": ("sft", None),
    "kd": ("kd", None),
    "kd_xtok_hybrid": ("kd", "hybrid"),
    "kd_xtok_uld": ("kd", "uld"),
    "onpolicy": ("onpolicy", None),
    "onpolicy_xtok_hybrid": ("onpolicy", "hybrid"),
}
# the xtok teacher's turns: other markers than SmolLM2's ChatML (tests/test_xtok.py's)
TEMPLATE = (
    "{% for m in messages %}{{ '### ' + m['role'] + ':\\n' + m['content'] + '<|end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '### assistant:\\n' }}{% endif %}"
)


def make_xtok_teacher(path: Path, data: Path) -> None:
    """bench_train's model shape over another tokenizer: a byte-level BPE trained on the bench's
    traces (its own merges and size), 49,152 embedding rows (the rows past its vocabulary are
    padding, never tokens), so its forward costs what the same-vocabulary teacher's does."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    texts = []
    for line in data.read_text().splitlines():
        rec = json.loads(line)
        texts += [m["content"] for m in rec["messages"]] + [rec["reasoning"], rec["answer"]]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1024,
        special_tokens=["<|end|>", "<think>", "</think>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|end|>", pad_token="<|end|>")
    tok.chat_template = TEMPLATE
    make_model(path, tok, vocab_size=49152, seed=1)


def length_ratio(work: Path) -> float:
    """Teacher tokens per student token over the traces' completions (reasoning + answer): how
    much longer the xtok teacher's own reading of the same text is."""
    from transformers import AutoTokenizer

    s_tok = AutoTokenizer.from_pretrained(work / "model")
    t_tok = AutoTokenizer.from_pretrained(work / "teacher-xtok")
    s = t = 0
    for line in (work / "data.jsonl").read_text().splitlines():
        rec = json.loads(line)
        text = rec["reasoning"] + " " + rec["answer"]
        s += len(s_tok(text, add_special_tokens=False)["input_ids"])
        t += len(t_tok(text, add_special_tokens=False)["input_ids"])
    return round(t / s, 3)


def child(args) -> None:
    sys.path.insert(0, str(ROOT))
    import torch

    from distill.train import TrainConfig, build_trainer

    torch.set_num_threads(args.threads)
    work = Path(args.work)
    method, xtok = SIDES[args.side]
    extra = {}
    if method != "sft":
        extra["teacher_model"] = str(work / ("teacher-xtok" if xtok else "teacher"))
    if xtok:
        extra["xtok"] = xtok
    out = work / f"out-{args.side}"
    cfg = TrainConfig(
        data=str(work / "data.jsonl"),
        model=str(work / "model"),
        output_dir=str(out),
        method=method,
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
    t0, c0 = time.perf_counter(), time.process_time()
    trainer.train()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    if method == "sft":  # one epoch of batches = exactly what was trained
        batches = list(trainer.get_train_dataloader())[: args.steps]
        tokens = sum(int((b["labels"] != -100).sum()) for b in batches)
    else:  # the completion tokens the teacher scored (kd: the traces'; onpolicy: the samples')
        tokens = trainer.teacher_tokens
    res = {"train_seconds": round(seconds, 2), "completion_tokens": tokens}
    res["completion_tokens_per_s"] = round(tokens / seconds, 1)
    # CPU seconds of this process (all its threads): less moved than wall time by other jobs on a
    # shared machine, the xtok rows' ratio is given on both
    res["cpu_seconds"] = round(cpu, 2)
    res["completion_tokens_per_cpu_s"] = round(tokens / cpu, 1)
    if xtok:  # the share of completion positions compared with the teacher, the shared tokens
        state = json.loads((out / "kd.json").read_text())
        res.update(aligned_share=state["aligned_share"], shared_tokens=state["shared_tokens"])
        res["teacher_vocab"] = state["teacher_vocab"]
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
    ap.add_argument("--no-xtok", action="store_true", help="only sft, kd and onpolicy")
    ap.add_argument("--side", choices=list(SIDES), help=argparse.SUPPRESS)
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
        make_xtok_teacher(work / "teacher-xtok", work / "data.jsonl")
        ratio = length_ratio(work)
        results = {}
        for side in [x for x in SIDES if not (args.no_xtok and SIDES[x][1])]:
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
        "benchmark": "train: --method kd / onpolicy vs sft, --xtok vs the same vocabulary, completion tokens/s",
        "examples": args.n,
        "steps": args.steps,
        "batch": args.batch,
        **results,
        "kd_over_sft": round(results["kd"]["completion_tokens_per_s"] / base, 3),
        "onpolicy_over_sft": round(results["onpolicy"]["completion_tokens_per_s"] / base, 3),
    }
    xtok = {}
    for side, (method, kind) in SIDES.items():
        if kind and side in results:
            same, row = results[method], results[side]
            xtok[side] = {
                "xtok_over_same": round(
                    row["completion_tokens_per_s"] / same["completion_tokens_per_s"], 3
                ),
                "xtok_over_same_cpu": round(
                    row["completion_tokens_per_cpu_s"] / same["completion_tokens_per_cpu_s"], 3
                ),
                "aligned_share": results[side]["aligned_share"],
            }
    if xtok:
        report["xtok_over_same_vocab"] = xtok
        report["xtok_teacher_tokens_per_student_token"] = ratio
    out = write_result(args.out, report)
    print(
        f"kd bench: sft {base:.0f} tok/s, kd {report['kd_over_sft']:.2f}x, "
        f"onpolicy {report['onpolicy_over_sft']:.2f}x"
        + "".join(
            f", {k} {v['xtok_over_same']:.2f}x same-vocab ({v['xtok_over_same_cpu']:.2f}x CPU time,"
            f" aligned {v['aligned_share']})"
            for k, v in xtok.items()
        )
        + f" -> {out}"
    )


if __name__ == "__main__":
    main()
