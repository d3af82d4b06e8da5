"""On-policy rollouts from vLLM instead of `model.generate` (`--rollout vllm`).

    # the student served by vLLM (server mode; a LoRA student is hot-loaded every --sync-steps)
    VLLM_ALLOW_RUNTIME_LORA_UPDATING=True vllm serve STUDENT --enable-lora --max-lora-rank 16 --port 8000
    distill train --method onpolicy --rollout vllm --rollout-url http://localhost:8000/v1 ...
    # vLLM inside the training process (colocate, CUDA only), as TRL's vllm_mode="colocate"
    distill train --method onpolicy --rollout vllm --vllm-mode colocate ...

The trainer calls `Rollout.generate(trainer, model, inputs)` where the hf path calls GKD's
`generate_on_policy_outputs`, and gets the same three tensors back: the batch's left-padded prompt
ids followed by the sampled completion (right-padded), the attention mask and the labels
(-100 on prompt and padding). The prompts are the token ids the hf path samples from (rendered
with the student's chat template by the data stage), sent as ids, so both paths see one prompt.

Server mode, LoRA student: every `sync_steps` optimizer steps the adapter is saved under
OUTPUT_DIR/rollout-adapters/step-N and loaded with vLLM's runtime endpoints
(`POST /v1/load_lora_adapter`, the previous one unloaded), named `<run>-step-N` (<run>: the
output folder's name and a hash of its path, `run_name`); rollouts ask
for that name. The server's reply names the adapter that produced the sample (`model`): a
rollout whose adapter is more than `max_staleness` steps older than the step being trained is
dropped (its tokens get no loss), counted in loss.jsonl (`rollouts_stale`), and every rollout is
recorded in OUTPUT_DIR/rollouts.jsonl with the step of the sync that produced it (under DDP every
process appends its own, each line with its `rank`).

Server mode, `--weight-sync reload` (a full fine-tune's default without CUDA; a LoRA student's
choice where vLLM's LoRA kernels are slow, as on CPU): the weights, a LoRA adapter merged in
(`write_merged`: merge_and_unload's checkpoint, layer by layer and shard by shard, without a copy
of the model; the trained weights are only read), are saved under
OUTPUT_DIR/rollout-weights/step-N and the server reloads them in place through the routes of
vLLM's dev mode (`VLLM_SERVER_DEV_MODE=1`, to be served on a trusted host only): POST /pause
(in-flight requests finish first), /collective_rpc `reload_weights(weights_path=...)`,
/reset_prefix_cache (no KV of the old weights is reused), /update_weight_version `<run>-step-N`,
/resume; the folder is removed once loaded. The server then samples the base model's name with
no LoRA kernel. After each sampling call GET /weight_info says which weights the server holds:
a version this run did not set (another run reloaded and versioned the server) or one older
than `max_staleness` steps marks the batch's rollouts stale, as a LoRA adapter's name does. A
client that changes the weights without setting a version is not seen: the server is the run's.

Server mode, full fine-tune with `--weight-sync nccl` (the default with CUDA): the weights are
pushed with TRL's `VLLMClient` (vLLM's NCCL weight-transfer engine, which needs CUDA; the server
is started with `--weight-transfer-config '{"backend": "nccl"}'`), from process 0 alone. Each push
versions the weights `<run>-step-N` (/update_weight_version, read back: a server that does not
keep it stops the run) and the samples are checked against GET /weight_info as reload's are: a
server restarted mid-run (the base model's weights again, its weight-transfer group gone) marks
them stale, dropped rather than trained as the student's (a batch of stale ones only is said on
stderr); rerun with --resume to join it again. Without CUDA this is refused in one line.

A rollout within --max-staleness (sampled by weights up to that many optimizer steps older than
the ones trained) trains as if the current student had sampled it: no importance weight corrects
for the older policy (the teacher's term is still a divergence on those tokens; --reward's pg
term is then slightly off-policy). --sync-steps 1 (the default) trains on-policy samples only.

A server that refuses the adapter or stops answering mid-run stops the run with one line naming
the URL and the fix, after saving a checkpoint that `--resume` continues from. One restarted
between two syncs (--sync-steps > 1) that answers 404 for the adapter gets the same adapter
loaded again (its folder is kept until the next sync) and the request is sent again.

A server started with `--api-key KEY` (or VLLM_API_KEY) is sent the key in $OPENAI_API_KEY as
`Authorization: Bearer`, as the served teacher (--teacher-url) is; a 401/403 is one line naming
that variable. The key is never written anywhere, and the URL is shown without userinfo or query.

The completion a rollout trains is the one the hf path trains (TRL's generate_on_policy_outputs):
the sampled ids up to and including the first of the student's EOS ids, or all max_new_tokens of
them; vLLM is asked to stop on exactly those ids (`stop_token_ids` with `ignore_eos`, so a
tokenizer EOS the student's generation config does not list does not end it early) and nothing
is ever appended.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
from functools import partial
from pathlib import Path
from typing import Any

from distill.errors import DistillError
from distill.teachers.openai import scrub, scrub_line
from distill.urls import redact_url

ROLLOUTS = ("hf", "vllm")
VLLM_MODES = ("server", "colocate")
WEIGHT_SYNCS = ("lora", "reload", "nccl")
ADAPTERS_DIR = "rollout-adapters"
# --weight-sync reload: the step's weights until the server has read them
WEIGHTS_DIR = "rollout-weights"
KEY_ENV = "OPENAI_API_KEY"  # the rollout server's --api-key, as the served teacher reads it
# A completion request is answered when its last sample ends: the wait allowed grows with
# --max-new-tokens at a slow sequence's pace (a loaded server decodes a long batch at tens of
# tokens/s per sequence), so a 32k-token sample is not taken for a server gone away
SAMPLE_WAIT_S, SAMPLE_S_PER_TOKEN = 600.0, 0.1


class RolloutError(DistillError):
    """The rollout server failed mid-run: the trainer saves a checkpoint, then this line."""


def mode_of(cfg: Any) -> str | None:
    """server | colocate for --rollout vllm (server when a URL is given), None for hf."""
    if cfg.rollout != "vllm":
        return None
    return cfg.vllm_mode or ("server" if cfg.rollout_url else "colocate")


def sync_of(cfg: Any) -> str:
    """How a server-mode rollout sends the student's weights: --weight-sync, or its default (lora
    for a LoRA student; a full fine-tune nccl with CUDA, reload without)."""
    if cfg.weight_sync:
        return cfg.weight_sync
    if cfg.lora:
        return "lora"
    import torch

    return "nccl" if torch.cuda.is_available() else "reload"


# vLLM's max_lora_rank takes these only (vllm/config/lora.py MaxLoRARanks; 1 is newer): a bound,
# so an adapter of --lora-r 4 loads under 8
_VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)


def vllm_lora_rank(r: int) -> int:
    """The smallest max_lora_rank vLLM accepts that holds a rank-r adapter."""
    return next((x for x in _VLLM_LORA_RANKS if x >= r), r)


def serve_command(cfg: Any, model_path: str) -> str:
    """The `vllm serve` line that serves this run's student for --rollout vllm."""
    from urllib.parse import urlparse

    port = (urlparse(cfg.rollout_url).port if cfg.rollout_url else None) or 8000
    if model_path.startswith("builtin:"):  # the converted folder, printed by distill.models
        model_path = f"$(python -m distill.models {model_path})"
    sync = sync_of(cfg)
    if sync == "nccl":
        return (
            f"VLLM_SERVER_DEV_MODE=1 vllm serve {model_path} --weight-transfer-config "
            f'\'{{"backend": "nccl"}}\' --port {port}'
        )
    if sync == "reload":  # the dev routes (/collective_rpc...): on loopback where it is local
        host = urlparse(cfg.rollout_url).hostname if cfg.rollout_url else "127.0.0.1"
        # the loopback the URL names (a server on 127.0.0.1 is not reached at [::1])
        loopback = {"127.0.0.1": "127.0.0.1", "localhost": "127.0.0.1", "::1": "::1"}
        bind = f" --host {loopback[host]}" if host in loopback else ""
        return f"VLLM_SERVER_DEV_MODE=1 vllm serve {model_path}{bind} --port {port}"
    return (
        f"VLLM_ALLOW_RUNTIME_LORA_UPDATING=True vllm serve {model_path} --enable-lora "
        f"--max-lora-rank {vllm_lora_rank(cfg.lora_r)} --max-loras 2 --port {port}"
    )


def rollout_for(cfg: Any, tok: Any, model: Any, out: Path) -> Any:
    """The run's rollout engine: None for --rollout hf (the trainer's model.generate)."""
    mode = mode_of(cfg)
    if mode is None:
        return None
    import torch

    from distill.models import resolve_model

    path = str(resolve_model(cfg.model))
    if mode == "colocate":
        if not torch.cuda.is_available():
            raise DistillError(
                "--rollout vllm --vllm-mode colocate runs vLLM inside the training process and "
                "needs CUDA; on this machine serve the student and pass --rollout-url: "
                f"{serve_command(cfg, path)}"
            )
        return ColocateRollout(cfg, tok, model, out, path)
    _check_server_sync(cfg)
    return ServerRollout(cfg, tok, model, out, path)


def _check_server_sync(cfg: Any) -> None:
    import torch

    if sync_of(cfg) == "nccl" and not torch.cuda.is_available():
        raise DistillError(
            "--weight-sync nccl pushes the weights through vLLM's NCCL weight transfer (TRL's "
            "VLLMClient), which needs CUDA: use --weight-sync reload here (the server reloads "
            "them from disk) or --rollout hf"
        )


# =========================================================================== shared


class _Rollout:
    """What both modes share: when to sync, the batch tensors, the staleness check, the log."""

    def __init__(self, cfg: Any, tok: Any, model: Any, out: Path, path: str):
        self.cfg, self.out, self.path = cfg, Path(out), path
        self.pad_id = tok.pad_token_id
        eos = model.generation_config.eos_token_id
        self.eos = [eos] if isinstance(eos, int) else list(eos or [])
        self.synced: int | None = None  # optimizer step of the newest sync
        self.names: dict[str, int] = {}  # adapter/weights name -> the step it was synced at
        self.stats = {"rollouts": 0, "rollouts_stale": 0, "rollout_tokens": 0}
        self.times = {"sync_s": 0.0, "syncs": 0, "rollout_s": 0.0}
        # (step, rollouts of it recorded so far): a row's index within its step's on-policy
        # rows, every micro-batch's (--gradient-accumulation-steps) counted on from the last's
        self.recorded = (-1, 0)
        # rollouts.jsonl: started fresh, or trimmed to the checkpoint resumed, by train.run

    def generate(self, trainer: Any, model: Any, inputs: dict[str, Any]) -> tuple[Any, Any, Any]:
        """(ids, attention mask, labels) of the batch's prompts and the student's samples, as
        GKDTrainer.generate_on_policy_outputs returns them."""
        import torch

        step = trainer.state.global_step
        try:
            if self.synced is None or step - self.synced >= self.cfg.sync_steps:
                t0 = time.monotonic()
                self.sync(trainer, model, step)
                self.times["sync_s"] += time.monotonic() - t0
                self.times["syncs"] += 1
                self.synced = step
            prompts, pmask = inputs["prompts"], inputs["prompt_attention_mask"]
            n = int(trainer.gen_kwargs.get("num_return_sequences") or 1)
            seqs = [p[m.bool()].tolist() for p, m in zip(prompts, pmask, strict=True)]
            t0 = time.monotonic()
            samples = self.sample(seqs, n, trainer.gen_kwargs)
            self.times["rollout_s"] += time.monotonic() - t0
        except RolloutError:
            save_resumable(trainer)
            raise
        if n > 1:  # the order hf's num_return_sequences gives: each prompt's n samples together
            prompts, pmask = prompts.repeat_interleave(n, 0), pmask.repeat_interleave(n, 0)
        comps, rows = [], []
        first = self.recorded[1] if self.recorded[0] == step else 0
        self.recorded = (step, first + len(samples))
        for i, (ids, finish, name) in enumerate(samples, first):
            ids = completion(ids, self.eos)
            made_at = self.names.get(name)
            stale = made_at is None or step - made_at > self.cfg.max_staleness
            self.stats["rollouts"] += 1
            self.stats["rollout_tokens"] += len(ids)
            self.stats["rollouts_stale"] += int(stale)
            rows.append(
                {
                    "step": step,
                    "row": i,
                    "adapter": name,
                    "sync_step": made_at,
                    "tokens": len(ids),
                    "finish_reason": finish,
                    "stale": stale,
                }
            )
            comps.append([] if stale else ids)  # a stale rollout trains nothing
        if rows and all(r["stale"] for r in rows):
            # the batch trains nothing: said where the run is watched, not only in a counter
            seen = sorted({f"{r['adapter']} (synced at step {r['sync_step']})" for r in rows})
            print(
                f"onpolicy: step {step}: all {len(rows)} rollouts of this batch are stale, "
                f"sampled by {', '.join(seen)}, more than --max-staleness "
                f"{self.cfg.max_staleness} steps old or weights this run did not sync (a "
                "restarted server?): they train nothing; if it goes on, restart the server "
                "and rerun with --resume",
                file=sys.stderr,
            )
        rank, _ = _process(trainer)
        # every process its own rollouts (DDP: each samples its rows), one O_APPEND write per
        # line so the processes' lines never interleave
        fd = os.open(self.out / "rollouts.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            for r in rows:
                os.write(fd, (json.dumps({**r, "rank": rank}) + "\n").encode())
        finally:
            os.close(fd)
        width = max(1, max(len(c) for c in comps))
        comp = torch.full((len(comps), width), self.pad_id, dtype=prompts.dtype)
        cmask = torch.zeros((len(comps), width), dtype=pmask.dtype)
        for i, c in enumerate(comps):
            comp[i, : len(c)] = torch.tensor(c, dtype=prompts.dtype)
            cmask[i, : len(c)] = 1
        comp, cmask = comp.to(prompts.device), cmask.to(prompts.device)
        ids = torch.cat([prompts, comp], 1)
        attn = torch.cat([pmask, cmask], 1)
        labels = ids.clone()
        labels[attn == 0] = -100
        labels[:, : prompts.shape[1]] = -100
        return ids, attn, labels

    def logs(self) -> dict[str, Any]:
        """The counters loss.jsonl carries (cumulative over this process's run)."""
        syncs = self.times["syncs"]
        tok_s = self.stats["rollout_tokens"] / max(1e-9, self.times["rollout_s"])
        return {
            **self.stats,
            "rollout_sync_step": self.synced,
            "rollout_tokens_per_s": round(tok_s, 1),
            "sync_s": round(self.times["sync_s"] / syncs, 3) if syncs else None,
        }

    def save_adapter(self, trainer: Any, model: Any, step: int) -> Path:
        """The LoRA adapter as of `step`, under OUTPUT_DIR/rollout-adapters/step-N (the older
        ones removed once the server let go of them)."""
        folder = self.out / ADAPTERS_DIR / f"step-{step:06d}"
        if trainer.is_world_process_zero():
            trainer.accelerator.unwrap_model(model).save_pretrained(str(folder))
        trainer.accelerator.wait_for_everyone()
        return folder

    def prune(self, keep: Path) -> None:
        for old in (self.out / ADAPTERS_DIR).glob("step-*"):
            if old != keep:
                shutil.rmtree(old, ignore_errors=True)


def _process(trainer: Any) -> tuple[int, int]:
    """(this process's index, the number of processes); a trainer without accelerate's
    process state (a stand-in) is one process."""
    acc = getattr(trainer, "accelerator", None)
    return int(getattr(acc, "process_index", 0)), int(getattr(acc, "num_processes", 1))


def refuse_sharded(trainer: Any) -> None:
    """Every sync sends the student's weights (adapter, merged checkpoint, NCCL push, in-process
    load) from what process 0 holds: under FSDP or ZeRO-3 a shard. Raised on every process, so
    all stop and none waits on process 0."""
    if _sharded(trainer):
        raise DistillError(
            "--rollout vllm sends the student's weights from process 0, which under FSDP or "
            "DeepSpeed ZeRO-3 holds a shard of them: train with DDP or ZeRO-2 "
            "(recipes/accelerate/ddp.yaml, zero2.yaml), or use --rollout hf"
        )


def _sharded(trainer: Any) -> bool:
    """Whether the trainer shards the student's weights over its processes (FSDP, DeepSpeed
    ZeRO-3): process 0 alone then holds a shard, and reading the whole model is a collective."""
    if getattr(trainer, "is_fsdp_enabled", False):
        return True
    if not getattr(trainer, "is_deepspeed_enabled", False):
        return False
    plugin = getattr(getattr(trainer.accelerator, "state", None), "deepspeed_plugin", None)
    return getattr(plugin, "zero_stage", 3) == 3


def _on_rank0(trainer: Any, work: Any) -> None:
    """`work()` on process 0 alone; what it raises is raised on every process, with the same
    line (the others went on to the next collective and waited there for the NCCL timeout)."""
    failed: tuple[bool, str] | None = None
    error: BaseException | None = None
    rank, procs = _process(trainer)
    several = procs > 1
    if rank == 0:
        try:
            work()
        except Exception as e:  # noqa: BLE001 - told to the other processes, then raised
            if not several:
                raise
            error = e
            line = str(e) if isinstance(e, DistillError) else f"{type(e).__name__}: {e}"
            failed = (isinstance(e, RolloutError), line)
    if several:
        from accelerate.utils import broadcast_object_list

        failed = broadcast_object_list([failed], from_process=0)[0]
    if error is not None:
        raise error
    if failed is not None:  # a RolloutError: every process saves its part of the checkpoint
        resumable, line = failed
        raise (RolloutError if resumable else DistillError)(line)


def completion(ids: list[int], eos: list[int]) -> list[int]:
    """The sampled ids the hf path trains (GKD's completion mask): up to and including the first
    EOS id, all of them when none came; never a token the student did not sample."""
    cut = next((i for i, t in enumerate(ids) if t in eos), None)
    return list(ids) if cut is None else list(ids[: cut + 1])


def save_resumable(trainer: Any) -> None:
    """A checkpoint at the current step (what the optimizer has done so far), as the Trainer's
    own save does it, so `--resume` continues from here after the server is fixed."""
    if trainer.state.global_step == 0:
        return  # nothing trained yet: a rerun starts where a resume would
    trainer._save_checkpoint(trainer.model_wrapped, trial=None)
    trainer.control = trainer.callback_handler.on_save(trainer.args, trainer.state, trainer.control)


# =========================================================================== merged weights

# --weight-sync reload writes the merged checkpoint in shards of this size: the CPU holds one
# at a time (save_pretrained's default is one 50 GB file, a 7B student's 14 GB held at once)
MERGED_SHARD = "1GB"


def write_merged(peft_model: Any, folder: Path, max_shard_size: int | str = MERGED_SHARD) -> None:
    """`peft_model` with its active adapters merged in, written to `folder` as
    `copy.deepcopy(peft_model).merge_and_unload().save_pretrained(folder)` writes it (the base
    model's names, its tied weights dropped, its config.json and generation_config.json), without
    the copy: a LoRA layer's weight is its base weight plus peft's `get_delta_weight`, added as
    peft's merge adds it, made on the layer's device one layer at a time and moved to the CPU,
    which holds one shard at a time. The model is only read: the weights being trained are never
    merged and unmerged (in bf16 that would change them by rounding)."""
    import copy

    import torch
    from huggingface_hub import split_torch_state_dict_into_shards
    from safetensors.torch import save_file
    from transformers.core_model_loading import revert_weight_conversion
    from transformers.modeling_utils import remove_tied_weights_from_state_dict

    base = peft_model.get_base_model()  # the transformers model, peft's layers inside
    plan: dict[str, tuple[Any, Any, bool]] = {}  # name: (tensor, its merge or None, a parameter)
    _plan(base, "", plan)
    kept = remove_tied_weights_from_state_dict({k: t for k, (t, _, _) in plan.items()}, base)
    # A tied weight dropped for its twin (a LoRA lm_head tied to the embedding) was merged into
    # the one Parameter both share: the name kept writes every merge into it, in merge_and_unload's
    # order (LoRA on both embed_tokens and a tied lm_head: both deltas, as merge_and_unload adds them)
    shared: dict[tuple, list[Any]] = {}
    for t, merge, _ in plan.values():
        if merge is not None:
            shared.setdefault(_same(t), []).append(merge)
    merges = {k: shared.get(_same(plan[k][0]), []) for k in kept}
    split = split_torch_state_dict_into_shards(
        kept, filename_pattern="model{suffix}.safetensors", max_shard_size=max_shard_size
    )
    folder.mkdir(parents=True, exist_ok=True)
    weight_map: dict[str, str] = {}
    with torch.no_grad():  # (the adapter's weights want grad: no graph for the deltas)
        for file, names in split.filename_to_tensors.items():
            shard = {}
            for name in names:
                tensor = kept[name]
                for merge in merges[name]:
                    tensor = merge(tensor)
                shard[name] = tensor.detach().to("cpu").contiguous()  # (on the CPU: no copy)
            shard = revert_weight_conversion(base, shard)  # as save_pretrained, for shards
            save_file(shard, str(folder / file), metadata={"format": "pt"})
            weight_map.update(dict.fromkeys(shard, file))
            del shard
    if split.is_sharded:
        total = sum(plan[k][0].numel() for k in kept if plan[k][2])
        index = {
            "metadata": {"total_parameters": total, **split.metadata},
            "weight_map": weight_map,
        }
        text = json.dumps(index, indent=2, sort_keys=True) + "\n"
        (folder / "model.safetensors.index.json").write_text(text)
    # the config save_pretrained writes for the merged model (a copy: the trained model's own
    # config is not the merged one's to change)
    config = copy.deepcopy(base.config)
    dtype = next(t.dtype for t, _, p in plan.values() if p and t.is_floating_point())
    config.dtype = str(dtype).split(".")[1]  # (save_pretrained's: its first parameter's)
    config.architectures = [type(base).__name__]
    config.save_pretrained(str(folder))
    if base.can_generate():
        base.generation_config.save_pretrained(str(folder))


def _same(t: Any) -> tuple:
    """One key for tensors that are the same memory (tied weights), not for two views of it."""
    return (t.device, t.data_ptr(), tuple(t.shape), t.stride())


def _plan(module: Any, prefix: str, plan: dict[str, tuple[Any, Any, bool]]) -> None:
    """`plan` gets the state of `module` after peft's merge_and_unload, in state_dict's order:
    each name with the tensor there now and the merge that makes its merged value (None: as it
    is). merge_and_unload puts a layer's base layer where peft's layer was (the trainable token
    rows' embedding, a modules_to_save copy); this walks the same structure without building it."""
    from peft.tuners.lora import Embedding, LoraLayer
    from peft.tuners.lora import Linear as LoraLinear
    from peft.tuners.tuners_utils import check_adapters_to_merge
    from peft.utils.other import ModulesToSaveWrapper, TrainableTokensWrapper

    merges: dict[str, Any] = {}
    if isinstance(module, ModulesToSaveWrapper):  # the active adapter's copy (a tuner in it too)
        kept = module.modules_to_save[module.active_adapter] if module.active_adapters else None
        _plan(module.original_module if kept is None else kept, prefix, plan)
        return
    if isinstance(module, TrainableTokensWrapper):  # --lora-trainable-tokens: the rows replaced
        tokens = module.token_adapter
        module = tokens.get_base_layer()
        if live := check_adapters_to_merge(tokens, None):
            merges["weight"] = partial(_merged_rows, tokens, live)
    elif isinstance(module, (LoraLinear, Embedding)):
        layer, module = module, module.get_base_layer()
        live = [
            a
            for a in check_adapters_to_merge(layer, None)
            if a in layer.lora_A or a in layer.lora_embedding_A
        ]
        for a in live:
            if a in getattr(layer, "lora_variant", {}):
                raise DistillError(
                    f"--weight-sync reload merges plain LoRA layers; {prefix.rstrip('.')} is a "
                    f"{type(layer.lora_variant[a]).__name__} (DoRA or another peft variant): "
                    "train plain LoRA, or use --weight-sync lora"
                )
        if live:
            merges["weight"] = partial(_merged_weight, layer, live)
        if any(layer.lora_bias.get(a) for a in live):
            merges["bias"] = partial(_merged_bias, layer, live)
    elif isinstance(module, LoraLayer) or hasattr(module, "unload_and_optionally_merge_module"):
        raise DistillError(
            f"--weight-sync reload cannot merge {prefix.rstrip('.')} ({type(module).__name__}): "
            "it merges LoRA on linear and embedding layers; use --weight-sync lora"
        )
    for name, p in module._parameters.items():
        if p is not None:
            plan[prefix + name] = (p, merges.get(name), True)
    for name, b in module._buffers.items():
        if b is not None and name not in module._non_persistent_buffers_set:
            plan[prefix + name] = (b, None, False)
    for name, child in module._modules.items():
        if child is not None:
            _plan(child, f"{prefix}{name}.", plan)


def _merged_weight(layer: Any, adapters: list[str], weight: Any) -> Any:
    """`weight` (the base weight, or what a tied twin's merge made of it) + each adapter's delta,
    as peft's unsafe merge (merge_and_unload's) adds them to the weight: a Linear's delta as
    computed (an fp32 adapter over a bf16 weight: one rounding), an Embedding's cast to the
    weight's dtype first."""
    from peft.tuners.lora import Embedding

    weight = weight.detach().clone()
    for a in adapters:
        delta = layer.get_delta_weight(a)
        weight += delta.to(weight.dtype) if isinstance(layer, Embedding) else delta
    return weight


def _merged_bias(layer: Any, adapters: list[str], bias: Any) -> Any:
    bias = bias.detach().clone()
    for a in adapters:
        if layer.lora_bias[a]:
            bias += layer.lora_B[a].bias * layer.scaling[a]
    return bias


def _merged_rows(tokens: Any, adapters: list[str], weight: Any) -> Any:
    """`weight` with the trainable token rows in place, as peft's TrainableTokensLayer.merge
    writes them (its get_merged_weights, over the weight given)."""
    import torch

    for a in adapters:
        index = torch.tensor(tokens.token_indices[a]).to(weight.device)
        weight = weight.index_copy(0, index, tokens.trainable_tokens_delta[a].to(weight))
    return weight


# =========================================================================== server mode


class ServerRollout(_Rollout):
    """The student served by an OpenAI-compatible vLLM server the user started."""

    def __init__(self, cfg: Any, tok: Any, model: Any, out: Path, path: str):
        super().__init__(cfg, tok, model, out, path)
        # Without userinfo or query: urllib sends neither (a user:token@ host is no host, a
        # query would sit before the route); the key goes in $OPENAI_API_KEY. Error lines name
        # this URL, so a secret written into --rollout-url is never printed.
        self.url = redact_url(cfg.rollout_url).rstrip("/")  # .../v1/?k=...: the slash too
        self.key = os.environ.get(KEY_ENV) or None
        self.command = serve_command(cfg, path)
        self.run_name = run_name(cfg.output_dir)
        self.current: str | None = None
        # more sampling fields for the server (vLLM's own, e.g. min_tokens, as the benchmark sets)
        self.extra_body: dict[str, Any] = {}
        self.client: Any = None  # TRL's VLLMClient, --weight-sync nccl only
        self.sync_mode = sync_of(cfg)
        self.base = served_base(self.url, self.key, self.command)
        # whether the server versions its weights (GET /weight_info, vLLM's dev mode, which the
        # NCCL weight transfer is served with): each push then sets `<run>-step-N` and a sample
        # is of the version the server reports, as --weight-sync reload's. Without it a server
        # restarted mid-run served the base model under the same name and its samples trained
        # as this step's until the next push failed.
        self.versioned = self.sync_mode == "reload"
        if self.sync_mode == "nccl":  # the served weights are the student's until the first push
            self.names[self.base] = 0
            root = self.url.removesuffix("/v1")
            try:
                _request(root, self.key, self.command, "GET", "/weight_info", None, 30)
                self.versioned = True
            except _HTTPRefused:  # no dev routes (a stand-in server): the served name it is
                pass

    def _call(self, method: str, route: str, body: Any, timeout: float = 600) -> Any:
        return _request(self.url, self.key, self.command, method, route, body, timeout)

    def sync(self, trainer: Any, model: Any, step: int) -> None:
        refuse_sharded(trainer)
        if self.sync_mode == "nccl":  # TRL's client pushes every weight over NCCL
            # process 0 alone (TRL's vllm_generation does the same): the server's weight
            # transfer group has one trainer rank, and a second client joining it as that rank
            # hangs the init (or pushes the weights once per process)
            # (_on_rank0's broadcast is the barrier: no process samples before the push)
            version = f"{self.run_name}-step-{step}"
            _on_rank0(trainer, lambda: self._push_weights(trainer, model, version))
            self.names[version if self.versioned else self.base] = step
            return
        if self.sync_mode == "reload":
            folder = self.out / WEIGHTS_DIR / f"step-{step:06d}"
            version = f"{self.run_name}-step-{step}"
            # one process writes the weights and has the server reload them; all stop with its
            # line if either failed (a full disk included), none waits on a barrier it never meets
            _on_rank0(
                trainer, lambda: self._reload(self.write_weights(trainer, model, folder), version)
            )
            trainer.accelerator.wait_for_everyone()
            self.names[version] = step
            return
        folder = self.save_adapter(trainer, model, step)
        name = f"{self.run_name}-step-{step}"
        # one process talks to the server; all sample (and all stop if it failed)
        _on_rank0(trainer, lambda: self._load(folder, name))
        trainer.accelerator.wait_for_everyone()
        self.names[name] = step
        self.current = name

    def _load(self, folder: Path, name: str) -> None:
        if self.current is None:  # adapters an earlier process of this run left loaded
            try:
                listed = self._call("GET", "/models", None, timeout=30)
            except _HTTPRefused as e:
                raise RolloutError(
                    f"--rollout-url {self.url}: GET /models answered HTTP {e.code} "
                    f"({e.text[:120].strip()}); is it a vLLM server? Start it with: {self.command}"
                ) from None
            for m in listed.get("data", []) if isinstance(listed, dict) else []:
                if str(m.get("id", "")).startswith(f"{self.run_name}-step-"):
                    self._unload(m["id"])
        body = {"lora_name": name, "lora_path": str(folder.resolve())}
        try:
            self._call("POST", "/load_lora_adapter", body)
        except _HTTPRefused as e:
            raise RolloutError(
                f"--rollout-url {self.url} refused to load the LoRA adapter (HTTP {e.code}: "
                f"{e.text[:120].strip()}); restart it with runtime LoRA loading and this rank: "
                f"{self.command}, then rerun with --resume"
            ) from None
        if self.current is not None:
            self._unload(self.current)
        self.prune(folder)

    def _load_again(self) -> bool:
        """A server restarted since the last sync has lost the adapter (404 on its name): the
        same adapter (its folder is kept until the next sync) is loaded again under its name,
        by whichever process sees it first (no collective: the others may have sampled before
        the restart). False when there is nothing to load again."""
        folder = self.out / ADAPTERS_DIR / f"step-{self.names[self.current]:06d}"
        if not folder.is_dir():
            return False
        body = {"lora_name": self.current, "lora_path": str(folder.resolve())}
        try:
            self._call("POST", "/load_lora_adapter", body)
        except _HTTPRefused as e:
            if "already" not in e.text:  # (another process loaded it first: vLLM's 400)
                return False
        print(
            f"onpolicy: --rollout-url {self.url} had lost the adapter {self.current} (a restarted "
            "server?): loaded it again",
            file=sys.stderr,
        )
        return True

    def write_weights(self, trainer: Any, model: Any, folder: Path) -> Path:
        """The student's weights now, a LoRA adapter merged in (`write_merged`: layer by layer,
        shard by shard, the weights being trained only read), written to `folder`
        (OUTPUT_DIR/rollout-weights/step-N) as a checkpoint vLLM reads; process 0 alone. A write
        that fails (a full disk: each sync writes the whole model; the GPU out of memory for a
        layer's merge) leaves no half-written copy and is a RolloutError: a checkpoint, then one
        line."""
        import torch
        from safetensors import SafetensorError

        shutil.rmtree(self.out / WEIGHTS_DIR, ignore_errors=True)  # a killed run's
        unwrapped = trainer.accelerator.unwrap_model(model)
        try:
            if hasattr(unwrapped, "merge_and_unload"):
                write_merged(unwrapped, folder, MERGED_SHARD)
            else:
                # in MERGED_SHARD shards too: save_pretrained's default, one 50 GB shard, has
                # the CPU hold a copy of all of a student's weights on the GPU at every sync
                unwrapped.save_pretrained(str(folder), max_shard_size=MERGED_SHARD)
        except (OSError, SafetensorError) as e:
            # safetensors' save_file (the shards: nearly all the bytes) fails a full disk with
            # its own SafetensorError, "Error while serializing: I/O error: No space left on
            # device (os error 28)", not an OSError
            text = str(e)
            if not isinstance(e, OSError) and "I/O error" not in text:
                raise
            reason = e.strerror if isinstance(e, OSError) else None
            if reason is None and "I/O error: " in text:
                reason = text.split("I/O error: ", 1)[1].split(" (os error")[0].strip()
            shutil.rmtree(self.out / WEIGHTS_DIR, ignore_errors=True)  # never half a model
            raise RolloutError(
                f"--weight-sync reload could not write the student's weights to {folder} "
                f"({reason or type(e).__name__}): free space there (each sync writes the "
                "whole model) and rerun with --resume"
            ) from None
        except torch.OutOfMemoryError:
            shutil.rmtree(self.out / WEIGHTS_DIR, ignore_errors=True)
            raise RolloutError(
                "--weight-sync reload ran out of GPU memory merging the LoRA adapter into a "
                f"layer's weight for {folder}: free some (a smaller --batch-size, or the vLLM "
                "server on another GPU) and rerun with --resume"
            ) from None
        return folder

    def _dev(self, method: str, route: str, body: Any, timeout: float = 600) -> Any:
        """One request to a route of vLLM's dev mode (at the server's root, not under /v1) that
        --weight-sync reload uses; an HTTP error is one line naming the route and the fix."""
        root = self.url.removesuffix("/v1")
        try:
            return _request(root, self.key, self.command, method, route, body, timeout)
        except _HTTPRefused as e:
            raise RolloutError(
                f"--rollout-url {self.url}: {method} {route} answered HTTP {e.code} "
                f"({e.text[:120].strip()}): {_dev_hint(e.code)}; restart it "
                f"({self.command}) and rerun with --resume"
            ) from None

    def _reload(self, folder: Path, version: str) -> None:
        """The server reloads `folder` in place (vLLM's dev-mode routes), with nothing in flight
        and no KV of the old weights kept, and records `version` as its weights."""
        try:
            # (another client's requests finish on the old weights; inside the try: a pause
            # whose answer was lost may still have paused the server)
            self._dev("POST", "/pause?mode=wait", None)
            rpc = {"method": "reload_weights", "kwargs": {"weights_path": str(folder.resolve())}}
            self._dev("POST", "/collective_rpc", rpc)
            self._dev("POST", "/reset_prefix_cache", None)
            self._dev("POST", "/update_weight_version", {"new_version": version})
        except BaseException:  # a refused step, a lost answer or Ctrl-C: never left paused
            with contextlib.suppress(Exception):  # the first failure is the one to tell
                self._dev("POST", "/resume", None)
            raise
        self._dev("POST", "/resume", None)
        shutil.rmtree(self.out / WEIGHTS_DIR, ignore_errors=True)  # in the server's memory now

    def weight_version(self) -> str | None:
        """The version of the weights the server holds (GET /weight_info), None when unset."""
        info = self._dev("GET", "/weight_info", None, timeout=30)
        return info.get("weight_version") if isinstance(info, dict) else None

    def _unload(self, name: str) -> None:
        try:
            self._call("POST", "/unload_lora_adapter", {"lora_name": name})
        except _HTTPRefused:
            pass  # already gone (a restarted server): nothing holds it

    def _push_weights(self, trainer: Any, model: Any, version: str) -> None:
        try:
            self._push(trainer, model)
            if self.versioned:
                self._dev("POST", "/update_weight_version", {"new_version": version})
                # read back: a server that answers GET /weight_info but does not keep the
                # version (a proxy's page, a route refused or ignored) had every sample of the
                # run dropped as stale, the run training nothing without a word
                held = self.weight_version()
                if held != version:
                    raise RolloutError(
                        f"--rollout-url {self.url}: after POST /update_weight_version {version} "
                        f"GET /weight_info reports {held!r}, so every sample would be dropped as "
                        f"stale; serve the student as {self.command} and rerun with --resume"
                    )
        except (RolloutError, ImportError):  # (ImportError: TRL without vllm, its own line)
            raise
        except Exception as e:  # noqa: BLE001 - requests' errors, TRL's "Request failed", NCCL's
            # a server gone mid-run: one line and (generate) a checkpoint, as the LoRA path
            why = scrub_line(f"{type(e).__name__}: {e}", self.key or "", limit=200)
            raise RolloutError(
                f"--rollout-url {self.url}: pushing the weights with TRL's VLLMClient failed "
                f"({why}); restart the server ({self.command}) and rerun with --resume"
            ) from None

    def _push(self, trainer: Any, model: Any) -> None:
        if self.client is None:
            from trl.generation.vllm_client import VLLMClient

            key = self.key

            class KeyedClient(VLLMClient):
                """TRL's client asks the guarded GET /v1/models when built: with the key too."""

                def check_server(self, *a: Any, **kw: Any) -> None:  # the first request
                    if key:
                        self.session.headers["Authorization"] = f"Bearer {key}"
                    super().check_server(*a, **kw)

            self.client = KeyedClient(base_url=self.url.removesuffix("/v1"))
            self.client.init_communicator(device=trainer.accelerator.device)
        self.client.update_model_params(trainer.accelerator.unwrap_model(model))
        self.client.reset_prefix_cache()

    def sample(self, prompts: list[list[int]], n: int, gen: dict[str, Any]) -> list[tuple]:
        """[(completion ids, finish reason, the adapter that produced it)] in prompt order, each
        prompt's n samples together."""
        body = {
            "model": self.current or self.base,
            "prompt": prompts,
            "n": n,
            "max_tokens": gen["max_new_tokens"],
            "temperature": gen["temperature"],
            "top_p": gen.get("top_p", 1.0),
            # as the hf path samples (top_k 0: none); left out, vLLM takes the model's
            # generation_config.json default (Qwen2.5-Instruct's top_k 20): not the policy trained
            "top_k": gen.get("top_k") or -1,
            # the same for the penalties and min_p (vLLM fills them from generation_config.json
            # too: Qwen2.5-Instruct's repetition_penalty 1.1): the policy's own distribution
            "repetition_penalty": 1.0,
            "min_p": 0.0,
            "presence_penalty": 0.0,
            "frequency_penalty": 0.0,
            # stop on the student's EOS ids and only those, as model.generate does (vLLM also
            # stops on its tokenizer's EOS unless told to ignore it; stop_token_ids still stop)
            "stop_token_ids": self.eos,
            "ignore_eos": True,
            "return_token_ids": True,  # vLLM >= 0.10.2: the sampled ids, not re-tokenized text
            **self.extra_body,
        }
        wait = SAMPLE_WAIT_S + SAMPLE_S_PER_TOKEN * gen["max_new_tokens"]
        try:
            try:
                reply = self._call("POST", "/completions", body, wait)
            except _HTTPRefused as e:
                if not (e.code == 404 and self.current and self._load_again()):
                    raise
                reply = self._call("POST", "/completions", body, wait)
        except _HTTPRefused as e:
            if e.code == 400 and "maximum context length" in e.text:
                # the same batch fails again on --resume until the server holds it
                need = (self.cfg.max_length or 0) + gen["max_new_tokens"]
                raise RolloutError(
                    f"--rollout-url {self.url}: a prompt of this batch and its --max-new-tokens "
                    f"{gen['max_new_tokens']} do not fit the server's context "
                    f"({e.text[:120].strip()}); restart it with --max-model-len {need} or more "
                    f"(--max-length + --max-new-tokens), then rerun with --resume"
                ) from None
            raise RolloutError(
                f"--rollout-url {self.url}: sampling from {body['model']} failed (HTTP {e.code}: "
                f"{e.text[:120].strip()}); check the server ({self.command}), then --resume"
            ) from None
        if not isinstance(reply, dict) or not isinstance(reply.get("choices"), list):
            # a 200 that is no completion (a proxy's page in front of a server gone away)
            text = scrub_line(str(reply), self.key or "", limit=120)
            raise RolloutError(
                f"--rollout-url {self.url}: POST /completions answered no completions ({text}); "
                f"check the server ({self.command}), then rerun with --resume"
            )
        name = reply.get("model", body["model"])
        if self.versioned:  # the reply names the base model whatever weights it holds
            name = self.weight_version() or "(unversioned weights)"
        out = []
        for c in sorted(reply["choices"], key=lambda c: c["index"]):
            if c.get("token_ids") is None:
                raise RolloutError(
                    f"--rollout-url {self.url} returns no token_ids (vLLM >= 0.10.2 does with "
                    "return_token_ids): upgrade the server"
                )
            made_by = name if self.versioned else c.get("model", name)
            out.append((list(c["token_ids"]), c.get("finish_reason"), made_by))
        if len(out) != len(prompts) * n:
            raise RolloutError(
                f"--rollout-url {self.url} answered {len(out)} samples for {len(prompts) * n}"
            )
        return out


def run_name(output_dir: str | Path) -> str:
    """The prefix of this run's adapter names on the server: the output folder's name and a hash
    of its path. Two runs sharing a server under folders of one name (seed0/student,
    seed1/student) would otherwise load the same names and unload each other's adapters."""
    from distill.records import stable_hash

    path = Path(output_dir).resolve()
    return f"{path.name or 'student'}-{stable_hash(str(path), 6)}"


class _AuthRefused(RolloutError):
    """The server wants (another) API key: one line naming the variable the key is read from."""


class _HTTPRefused(Exception):
    def __init__(self, code: int, text: str):
        super().__init__(f"HTTP {code}")
        self.code, self.text = code, text


def _request(
    url: str, key: str | None, command: str, method: str, route: str, body: Any, timeout: float
) -> Any:
    """One request to the rollout server at `url` (its --api-key `key`); `command`: the
    `vllm serve` line an error tells the user to start it with."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if key:  # vllm serve --api-key: every /v1 route wants it
        headers["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(url + route, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read().decode()
    except urllib.error.HTTPError as e:
        # one line however the server wrote it (a proxy's HTML page), without the key
        text = scrub_line(e.read().decode(errors="replace"), key or "")
        if e.code in (401, 403):
            refused = f"the key in ${KEY_ENV} was refused" if key else f"${KEY_ENV} is unset"
            raise _AuthRefused(
                f"--rollout-url {url} answered HTTP {e.code} to {method} {route} "
                f"({text[:80].strip()}): {refused}; set ${KEY_ENV} to the server's --api-key "
                "(VLLM_API_KEY) and rerun (with --resume if steps were saved)"
            ) from None
        raise _HTTPRefused(e.code, text) from None
    except (OSError, urllib.error.URLError, http.client.HTTPException) as e:
        # (HTTPException: a reply cut short by a server killed while sending it)
        why = scrub(str(getattr(e, "reason", e)) or type(e).__name__, key or "")
        raise RolloutError(
            f"--rollout-url {url} stopped answering ({why}); restart "
            f"the server ({command}) and rerun with --resume"
        ) from None
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw  # vLLM answers the LoRA endpoints in plain text


def served_base(url: str, key: str | None, command: str) -> str:
    """The base model the rollout server at `url` serves (GET /models); one line when it does
    not answer, answers an error or lists none."""
    try:
        models = _request(url, key, command, "GET", "/models", None, timeout=10)
    except _AuthRefused:
        raise
    except RolloutError:
        raise DistillError(
            f"--rollout-url {url} does not answer; start the student's server first: {command}"
        ) from None
    except _HTTPRefused as e:
        raise DistillError(
            f"--rollout-url {url}: GET /models answered HTTP {e.code} "
            f"({e.text[:120].strip()}); is it a vLLM server? Start it with: {command}"
        ) from None
    listed = models.get("data", []) if isinstance(models, dict) else []  # (a proxy's page)
    served = [m["id"] for m in listed if isinstance(m, dict) and not m.get("parent")]
    if not served:
        raise DistillError(f"--rollout-url {url}/models lists no base model")
    return served[0]


def _dev_hint(code: int) -> str:
    """What an HTTP error from one of the dev routes --weight-sync reload uses means."""
    if code in (404, 405):
        return "--weight-sync reload needs vLLM's dev routes (start it with VLLM_SERVER_DEV_MODE=1)"
    return "check the server's log"


def check_server(cfg: Any) -> None:
    """--rollout vllm with a server: the server answers, asked before train loads the student or
    writes train.yaml and train_data.json (the ServerRollout asks again when it is built)."""
    if mode_of(cfg) != "server":
        return
    _check_server_sync(cfg)
    from distill.models import resolve_model

    command = serve_command(cfg, str(resolve_model(cfg.model)))
    url, key = redact_url(cfg.rollout_url).rstrip("/"), os.environ.get(KEY_ENV) or None
    served_base(url, key, command)
    if sync_of(cfg) == "reload":  # its routes, before the models load (a GET changes nothing)
        try:
            _request(url.removesuffix("/v1"), key, command, "GET", "/weight_info", None, 10)
        except _HTTPRefused as e:
            raise DistillError(
                f"--rollout-url {url}: GET /weight_info answered HTTP {e.code}: "
                f"{_dev_hint(e.code)}: {command}"
            ) from None
        except RolloutError as e:  # gone between the two requests
            raise DistillError(str(e)) from None


# =========================================================================== colocate mode


def _room(cfg: Any, model: Any) -> int | None:
    """vLLM's max_model_len for a colocated student: a prompt of up to --max-length and its
    --max-new-tokens sample, as model.generate samples (vLLM cuts a sample at max_model_len:
    --max-length alone cut the samples of long prompts short, as neither the hf path nor a
    server does), within the student's max_position_embeddings (vLLM refuses more)."""
    if cfg.max_length is None:
        return None  # vLLM's default: the model's own
    room = cfg.max_length + getattr(cfg, "max_new_tokens", 0)  # (a stand-in config: none)
    limit = _positions(getattr(model, "config", None))
    return min(room, limit) if limit is not None else room


def _positions(config: Any) -> int | None:
    """The longest context vLLM builds the student with: max_position_embeddings, stretched by
    its RoPE scaling as vLLM's _get_and_verify_max_len stretches it (a YaRN Qwen2.5 of 32768
    positions and factor 4 holds 131072); None when the config does not say."""
    limit = getattr(config, "max_position_embeddings", None)
    if not isinstance(limit, int):
        return None
    rope = getattr(config, "rope_scaling", None) or getattr(config, "rope_parameters", None)
    if not isinstance(rope, dict) or "gemma3" in str(getattr(config, "model_type", "")):
        return limit  # (vLLM: Gemma3's max_position_embeddings is already scaled)
    kind = rope.get("rope_type", rope.get("type"))
    if kind in (None, "default", "su", "longrope", "llama3", "mrope"):
        return limit
    if kind == "yarn":
        limit = int(rope.get("original_max_position_embeddings") or limit)
    return int(limit * float(rope.get("factor") or 1))


class ColocateRollout(_Rollout):
    """vllm.LLM in the training process, asleep while the trainer steps (TRL's colocate mode
    with vllm_enable_sleep_mode). CUDA only; not run by the tests here (no GPU): they drive it
    with a stand-in `vllm` module.

    As TRL's colocate mode (trl/generation/vllm_generation.py, TRL 1.16): one vLLM per training
    process on vLLM's `external_launcher` backend, which keeps the engine in this process. vLLM
    V1 otherwise runs it in a child process, where `llm.llm_engine` has no `model_executor` and a
    full fine-tune's weights cannot be loaded into the model; with it, the sync is TRL's
    `llm.llm_engine.model_executor.driver_worker.model_runner.model.load_weights`. A LoRA
    student is sampled through a LoRARequest of the newest adapter; the one before is removed
    from vLLM (`llm_engine.remove_lora`) and from disk, so a long run holds one adapter."""

    def __init__(self, cfg: Any, tok: Any, model: Any, out: Path, path: str):
        super().__init__(cfg, tok, model, out, path)
        from accelerate import PartialState
        from trl.trainer.utils import ensure_master_addr_port
        from vllm import LLM

        state = PartialState()  # vLLM's external launcher reads the process group's env
        os.environ["RANK"] = str(state.process_index)
        os.environ["LOCAL_RANK"] = str(state.local_process_index)
        os.environ["WORLD_SIZE"] = str(state.num_processes)
        ensure_master_addr_port()
        self.llm = LLM(
            model=path,
            gpu_memory_utilization=cfg.vllm_gpu_memory_utilization,
            enable_sleep_mode=True,
            enable_lora=cfg.lora,
            max_lora_rank=vllm_lora_rank(cfg.lora_r) if cfg.lora else None,
            max_model_len=_room(cfg, model),
            distributed_executor_backend="external_launcher",
            # each process samples its own prompts: its own stream of draws
            seed=cfg.seed + state.process_index,
        )
        self.llm.sleep(level=1)  # level 1 keeps the base weights (a LoRA run never resends them)
        self.lora: Any = None

    def sync(self, trainer: Any, model: Any, step: int) -> None:
        refuse_sharded(trainer)
        name = f"student-step-{step}"
        self.llm.wake_up()  # writes go to mapped memory (TRL wakes before load_weights too)
        try:
            if self.cfg.lora:
                from vllm.lora.request import LoRARequest

                folder = self.save_adapter(trainer, model, step)
                old, self.lora = self.lora, LoRARequest(name, step + 1, str(folder.resolve()))
                if old is not None:  # vLLM keeps every adapter it loaded until told otherwise
                    self.llm.llm_engine.remove_lora(old.lora_int_id)
                self.prune(folder)
            else:  # as TRL's colocate sync: each weight straight into vLLM's model
                runner = self.llm.llm_engine.model_executor.driver_worker.model_runner
                unwrapped = trainer.accelerator.unwrap_model(model)
                for n, p in unwrapped.named_parameters():
                    runner.model.load_weights([(n, p.data)])
                self.llm.reset_prefix_cache()
        finally:
            self.llm.sleep(level=1)
        self.names[name] = step

    def sample(self, prompts: list[list[int]], n: int, gen: dict[str, Any]) -> list[tuple]:
        from vllm import SamplingParams

        params = SamplingParams(
            n=n,
            temperature=gen["temperature"],
            top_p=gen.get("top_p", 1.0),
            top_k=gen.get("top_k") or -1,
            max_tokens=gen["max_new_tokens"],
            stop_token_ids=self.eos,
            ignore_eos=True,  # the student's EOS ids only, as model.generate (ServerRollout)
        )
        self.llm.wake_up()
        try:
            outs = self.llm.generate(
                [{"prompt_token_ids": p} for p in prompts], params, lora_request=self.lora
            )
        finally:
            self.llm.sleep(level=1)
        name = f"student-step-{self.synced}"
        return [(list(o.token_ids), o.finish_reason, name) for r in outs for o in r.outputs]
