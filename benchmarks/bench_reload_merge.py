"""Peak memory of one `--weight-sync reload` write of a LoRA student: a merged copy vs layer by layer.

    python benchmarks/bench_reload_merge.py --out bench-results/reload-merge.json

Student: a random Qwen2-style model (--hidden, --layers, --vocab, fp32 or --dtype bf16) with LoRA
r 16 on every linear layer, its adapter moved off zero as if trained. Arms, each in a fresh
process: `copy` is what write_weights did before s9 (`copy.deepcopy(model).merge_and_unload()`
then save_pretrained, one file); `stream` is write_weights now (distill.train.kd.rollout
.write_merged: each LoRA layer's merged weight made alone, written in shards of --shard, default
rollout.MERGED_SHARD). Memory: the peak resident size (VmHWM, reset through /proc/self/clear_refs
once the model is built) minus the resident size just before the write; on a GPU the `copy` arm's
extra is on the accelerator too, the `stream` arm's is one layer there.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine, write_result

ROOT = Path(__file__).resolve().parent.parent


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise SystemExit(f"no {field} in /proc/self/status (Linux only)")


def child(args: argparse.Namespace) -> None:
    import copy
    from types import SimpleNamespace

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, Qwen2Config

    sys.path.insert(0, str(ROOT))
    from distill.train.kd import rollout as ro

    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=args.vocab,
        hidden_size=args.hidden,
        intermediate_size=3 * args.hidden,
        num_hidden_layers=args.layers,
        num_attention_heads=8,
        num_key_value_heads=2,
        tie_word_embeddings=False,
    )
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    base = AutoModelForCausalLM.from_config(config).to(dtype)
    lora = LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM")
    model = get_peft_model(base, lora)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.01)
    if args.shard:
        ro.MERGED_SHARD = args.shard
    folder = Path(args.tmp) / args.child
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS from here
    before = _status_kb("VmRSS")
    start = time.perf_counter()
    if args.child == "copy":
        copy.deepcopy(model).merge_and_unload().save_pretrained(str(folder))
    else:
        r = ro.ServerRollout.__new__(ro.ServerRollout)
        r.out = Path(args.tmp)
        trainer = SimpleNamespace(accelerator=SimpleNamespace(unwrap_model=lambda m: m))
        r.write_weights(trainer, model, folder)
    seconds = time.perf_counter() - start
    peak = _status_kb("VmHWM")
    weights = [p for n, p in model.named_parameters() if "lora_" not in n]
    res = {
        "model_mb": round(sum(p.numel() * p.element_size() for p in weights) / 2**20),
        "before_mb": round(before / 1024),
        "extra_peak_mb": round((peak - before) / 1024),
        "seconds": round(seconds, 2),
        "files": len(list(folder.glob("*.safetensors"))),
    }
    print("RESULT " + json.dumps(res), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--shard", default=None, help="shard size of the stream arm (e.g. 64MB)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--child", choices=["copy", "stream"], help=argparse.SUPPRESS)
    ap.add_argument("--tmp", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    result = {**machine(), "args": vars(args), "arms": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for arm in ("copy", "stream"):
            cmd = [sys.executable, __file__, *sys.argv[1:], "--child", arm, "--tmp", tmp]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
            result["arms"][arm] = json.loads(line.removeprefix("RESULT "))
            print(arm, result["arms"][arm], flush=True)
    if args.out:
        write_result(args.out, result)


if __name__ == "__main__":
    main()
