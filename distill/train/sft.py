"""The train stage: kept traces -> a LoRA / QLoRA / fully fine-tuned student, with TRL.

    distill train --recipe recipes/smoke.yaml
    distill train --data kept.jsonl --model Qwen/Qwen2.5-Math-1.5B --output-dir out --format r1 --lora
    accelerate launch --config_file recipes/accelerate/zero2.yaml -m distill train --recipe R.yaml

Examples are rendered and tokenized by distill.examples (loss on the completion only, EOS
included), then handed to TRL's SFTTrainer pre-tokenized, with peft for LoRA. The output dir
holds the adapter (or weights), the tokenizer with its chat template, train.yaml (resolved
config), train_data.json (example counts: kept, dropped, truncated; the fingerprint of the tokens
trained on, which a --resume compares: fingerprint.py), loss.jsonl and loss.png.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from distill.config import keys_where, result_keys
from distill.errors import DistillError
from distill.train.callbacks import (
    loss_log_callback,
    own_checkpoint,
    plot_loss,
    run_config_callback,
    trim_log,
)
from distill.train.config import DEFAULT_MAX_LENGTH, TrainConfig, trained_precisions
from distill.train.fingerprint import (
    began_at,
    check_rendered,
    fingerprint,
    loaded_teacher,
    teacher_record,
    template_clock,
    template_record,
)
from distill.urls import redact_urls

# =========================================================================== pieces


def resolved_precision(precision: str) -> str:
    """--precision as this machine trains it: auto is bf16 on a GPU that has it, else fp16 on
    CUDA, fp32 on CPU. "Has it": in hardware (Ampere on), not torch's emulation, which
    is_bf16_supported() counts by default (a T4 or V100 said yes, and trained slowly in bf16)."""
    import torch

    if precision != "auto":
        return precision
    if not torch.cuda.is_available():
        return "fp32"
    try:
        bf16 = torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:  # a torch without the argument
        bf16 = torch.cuda.is_bf16_supported()
    return "bf16" if bf16 else "fp16"


def _precision(cfg: TrainConfig) -> tuple[bool, bool, Any]:
    """-> (bf16, fp16, torch dtype to load the model in). cfg.precision becomes the one used:
    train.yaml (and so the model card, and a --resume's comparison) holds bf16/fp16/fp32, not
    auto."""
    import torch

    cuda = torch.cuda.is_available()
    p = cfg.precision = resolved_precision(cfg.precision)
    if p in ("bf16", "fp16") and not cuda:
        raise DistillError(
            f"precision {p} needs a CUDA GPU here; use --precision fp32 (or auto) on CPU"
        )
    # fp16 training keeps fp32 master weights (AMP); bf16 weights train fine as they are.
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float32, "fp32": torch.float32}[p]
    return p == "bf16", p == "fp16", dtype


def student_config(cfg: TrainConfig, path: str) -> Any:
    """The student's model config with the asked-for context extension applied. Refuses a
    max_length longer than the positions the student has: past them RoPE angles are ones the
    model never saw, and nothing else would say so."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as e:
        raise DistillError(f"cannot load model '{cfg.model}': {str(e).splitlines()[0]}") from None
    if cfg.rope_theta is not None or cfg.max_position_embeddings is not None:
        rope = getattr(config, "rope_parameters", None)  # transformers >= 5; older: rope_theta
        if not (isinstance(rope, dict) and "rope_theta" in rope) and not hasattr(
            config, "rope_theta"
        ):
            raise DistillError(
                f"--rope-theta/--max-position-embeddings extend RoPE students; '{cfg.model}' "
                f"({config.model_type}) has no single rope_theta to change"
            )
        if cfg.rope_theta is not None:
            if isinstance(rope, dict) and "rope_theta" in rope:
                rope["rope_theta"] = cfg.rope_theta
            else:
                config.rope_theta = cfg.rope_theta
        if cfg.max_position_embeddings is not None:
            config.max_position_embeddings = cfg.max_position_embeddings
    positions = getattr(config, "max_position_embeddings", None)
    if cfg.max_length is None:  # not asked for: as long as the student reads, up to 2048
        cfg.max_length = min(DEFAULT_MAX_LENGTH, positions or DEFAULT_MAX_LENGTH)
        if cfg.max_length < DEFAULT_MAX_LENGTH:
            print(
                f"train: max_length {cfg.max_length}, the context of '{cfg.model}' "
                f"(max_position_embeddings; the default {DEFAULT_MAX_LENGTH} is longer)"
            )
    elif positions and cfg.max_length > positions:
        raise DistillError(
            f"max_length {cfg.max_length} is longer than the context of '{cfg.model}' "
            f"({positions} positions, max_position_embeddings); lower --max-length, or extend the "
            f"context with --max-position-embeddings (and --rope-theta), as open-r1 did for "
            f"Qwen2.5-Math: 32768 positions, rope_theta 300000"
        )
    return config


def check_qlora(cfg: TrainConfig) -> None:
    """--qlora's needs (CUDA, bitsandbytes' config class), known from the machine alone:
    build_trainer asks before the examples are built, _load_model again."""
    import torch

    if not cfg.qlora:
        return
    if not torch.cuda.is_available():
        raise DistillError(
            "QLoRA needs a CUDA GPU (bitsandbytes 4-bit); on CPU use --lora without --qlora"
        )
    try:
        from transformers import BitsAndBytesConfig  # noqa: F401
    except ImportError:  # pragma: no cover
        raise DistillError("QLoRA needs bitsandbytes: pip install bitsandbytes") from None


def _load_model(cfg: TrainConfig, path: str, dtype: Any, config: Any = None) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"dtype": dtype}
    if config is not None:
        kwargs["config"] = config
    if cfg.attn_implementation:
        kwargs["attn_implementation"] = cfg.attn_implementation
    if cfg.qlora:
        check_qlora(cfg)
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16  # (bf16 in hardware: resolved_precision)
            if resolved_precision("auto") == "bf16"
            else torch.float16,
        )
    try:
        return AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except OSError as e:
        raise DistillError(f"cannot load model '{cfg.model}': {str(e).splitlines()[0]}") from None


# Packed examples stay apart under sdpa/eager only where transformers builds a block-diagonal mask
# from position_ids (4.53.1: masking_utils.find_packed_sequence_indices, huggingface/transformers
# #39194) AND the trainer calls the model without a KV cache (transformers skips that mask when a
# cache is passed; TRL's SFTTrainer.compute_loss sets use_cache=False from 0.22.0). pyproject's
# floors are higher for other reasons; this guards an environment installed past them. Proven by
# tests/test_train.py::test_packing_never_lets_one_example_attend_to_another.
PACKING_NEEDS = {"transformers": "4.53.1", "trl": "0.22.0"}


def check_packing_versions() -> None:
    """Refuse --packing where the installed transformers/TRL would let packed examples mix."""
    import importlib.metadata

    from packaging.version import Version

    old = [
        f"{name} {importlib.metadata.version(name)}"
        for name, least in PACKING_NEEDS.items()
        if Version(importlib.metadata.version(name)) < Version(least)
    ]
    if old:
        need = ", ".join(f"{k} >= {v}" for k, v in PACKING_NEEDS.items())
        raise DistillError(
            f"--packing: with {', '.join(old)} packed examples attend to each other under "
            f"sdpa/eager attention (needs {need}); upgrade, or train with --no-packing"
        )


def build_dataset(cfg: TrainConfig, tok: Any, model_eos: Any = None) -> tuple[Any, dict[str, Any]]:
    """Tokenized examples (input_ids + completion_mask) and their counts."""
    from datasets import Dataset

    from distill.examples import Renderer, load_examples, say_halves, tokenize_examples

    if cfg.max_length is None:  # build_trainer resolved it already; a caller of this alone not
        from distill.models import resolve_model

        student_config(cfg, resolve_model(cfg.model))
    if cfg.method == "onpolicy":
        from distill.train.kd.data import prompt_dataset, prompt_source

        if prompt_source(cfg):
            from distill.train.kd.multi import route_extra

            prompts, st = prompt_dataset(cfg, tok, model_eos, **route_extra(cfg))
            rendered = fingerprint(prompts.to_dict(), dropped=st["dropped_overlong"], unit="prompt")
            return prompts, {**st, "rendered": rendered}
    # onpolicy samples a reply to the prompt before the first trained token: the last turn's
    train_on = "last" if cfg.method == "onpolicy" else cfg.train_on
    renderer = Renderer(tok, cfg.format, model_eos, train_on, cfg.chat)
    origins: list[int] = []  # each row's example: its teacher (--teacher-route-field), fingerprint
    cols, st = tokenize_examples(
        load_examples(cfg.data, cfg.split, cfg.limit, cfg, cfg.keep_markers),
        renderer,
        cfg.max_length,
        cfg.overlong,
        origins,
    )
    if cfg.teacher_route_field:  # several teachers, routed: each sequence's teacher (kd/multi.py)
        from distill.train.kd.multi import route_column

        cols["teacher_route"] = route_column(cfg, origins)
    if renderer.reasoning_dropped:
        print(
            f"train: warning: --format alpaca trains the answer only: the reasoning of "
            f"{renderer.reasoning_dropped} of {st.examples} examples is left out (--format r1 "
            "trains it)",
            file=sys.stderr,
        )
    say_halves(renderer)
    if renderer.raw_seen:
        print(
            f"train: {renderer.raw_seen} text prompt/completion examples train as a raw "
            "continuation (TRL's rule for text rows, no chat template); --chat trains them in "
            "the student's chat turn"
        )
    if st.kept == 0:
        raise DistillError(
            f"{cfg.data}: no training examples left ({st.examples} read, {st.dropped_overlong} longer than "
            f"max_length {cfg.max_length}, {st.dropped_all_masked - st.all_masked_weight_0} with no "
            f"completion left, {st.all_masked_weight_0} with every assistant turn of weight 0)"
        )
    # what a --resume compares (fingerprint.py): the rows in the data's order, before TRL packs
    # them or the Trainer shuffles them, an example dropped as too long one with no rows
    rendered = fingerprint(cols, origins, st.examples, st.dropped_overlong)
    return Dataset.from_dict(cols), {**st.__dict__, "rendered": rendered}


# =========================================================================== several processes


def _main_process() -> bool:
    """Whether this process writes the output dir: the only one, or rank 0 under accelerate /
    torchrun / mpirun. Read from the launcher's environment, because the files written before the
    Trainer exists (train.yaml, train_data.json) must not wait for its process group."""
    from accelerate.utils import get_int_from_env

    ranks = ["RANK", "PMI_RANK", "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_RANK"]
    return get_int_from_env(ranks, 0) == 0


def _die_with_launcher() -> None:
    """torchrun (under `accelerate launch`) starts each worker in a session of its own, so a
    SIGKILL of the launcher, even of its whole process group, leaves the workers training and
    writing checkpoints, racing the `--resume` that follows. On Linux the kernel can kill a worker
    when its parent dies (PR_SET_PDEATHSIG, as sglang does for its workers)."""
    if sys.platform != "linux" or "TORCHELASTIC_RUN_ID" not in os.environ:
        return
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() == 1:  # the launcher died before prctl: too late for the kernel to tell us
        os._exit(1)


def _warn_if_one_cpu_process() -> None:
    """`accelerate launch --cpu --num_processes N` starts ONE process: accelerate runs several CPU
    processes only through mpirun. Its trace: MASTER_PORT set (only for N > 1) but no world size."""
    env = os.environ
    world = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
    cpu = env.get("ACCELERATE_USE_CPU", "").lower() in ("true", "1")
    if cpu and "MASTER_PORT" in env and not any(k in env for k in world):
        print(
            "train: warning: `accelerate launch --cpu` started 1 process, not --num_processes "
            "(accelerate starts several CPU processes only with mpirun); for N CPU processes use "
            "`accelerate launch --multi_gpu --num_processes N` (torchrun, gloo)",
            file=sys.stderr,
        )


def _warn_if_fsdp_dropped(trainer: Any) -> None:
    """accelerate 1.15 turns FSDP on for GPUs and other accelerators only (AcceleratorState): on
    CPU processes (gloo) `--use_fsdp` / an FSDP config trains as plain DDP, whole model per process."""
    from accelerate.utils import DistributedType

    asked = os.environ.get("ACCELERATE_USE_FSDP", "").lower() in ("true", "1")
    if asked and trainer.accelerator.distributed_type != DistributedType.FSDP:
        print(
            f"train: warning: FSDP was asked for, but accelerate runs these "
            f"{trainer.accelerator.distributed_type.value} processes as plain DDP (it shards on "
            "GPUs/accelerators only): every process holds the whole model",
            file=sys.stderr,
        )


# =========================================================================== the stage


def show_examples(cfg: TrainConfig, tok: Any, dataset: Any, model_eos: Any = None) -> None:
    """The pre-flight (distill/preflight.py) on the first rows of the dataset the trainer gets."""
    from distill.examples import stop_token_ids
    from distill.preflight import preflight

    head = dataset.select(range(min(max(cfg.show_example, 1), len(dataset))))
    preflight(
        tok,
        zip(head["input_ids"], head["completion_mask"]),
        stop_token_ids(tok, model_eos),
        cfg.show_example,
        max_length=cfg.max_length if cfg.overlong == "truncate" else None,
        emit=print if _main_process() else None,
    )


def check_tokenizer(cfg: TrainConfig, tok: Any, rows: int) -> None:
    """--tokenizer may change the added tokens (their text, the chat template), never the BPE the
    student was trained with: an ordinary token at another id is another vocabulary."""
    from distill.models import load_tokenizer

    if len(tok) > rows:
        raise DistillError(
            f"tokenizer '{cfg.tokenizer}' has {len(tok)} tokens but student '{cfg.model}' embeds "
            f"{rows}: a tokenizer for another vocabulary"
        )
    own = load_tokenizer(cfg.model)
    added = set(own.added_tokens_decoder) | set(tok.added_tokens_decoder)
    mine = {t: i for t, i in own.get_vocab().items() if i not in added}
    theirs = {t: i for t, i in tok.get_vocab().items() if i not in added}
    differ = sum(1 for t, i in mine.items() if theirs.get(t) != i) + len(
        theirs.keys() - mine.keys()
    )
    if differ:
        raise DistillError(
            f"tokenizer '{cfg.tokenizer}' and student '{cfg.model}''s own tokenizer differ on "
            f"{differ} of {len(mine)} ordinary tokens: --tokenizer may rename special tokens, "
            "not change the vocabulary the student was trained with"
        )


def trainable_token_ids(cfg: TrainConfig, tok: Any) -> list[int]:
    """--lora-trainable-tokens as token ids: each text one token of the student's vocabulary, or
    `template`: the added special tokens the student's chat template writes around a turn."""
    wanted = list(cfg.lora_trainable_tokens)
    if not wanted:
        return []
    if not cfg.lora:
        raise DistillError(
            "--lora-trainable-tokens is for a LoRA student (full fine-tuning trains every row)"
        )
    ids: list[int] = []
    for text in wanted:
        if text == "template":
            if not getattr(tok, "chat_template", None):
                raise DistillError(
                    "--lora-trainable-tokens template: the student's tokenizer has no chat template"
                )
            found = template_token_ids(tok)
            if not found:
                raise DistillError(
                    "--lora-trainable-tokens template: the student's chat template writes no "
                    "special token; name them instead"
                )
            ids += found
            continue
        i = tok.convert_tokens_to_ids(text)
        if i is None or (i == tok.unk_token_id and text != tok.unk_token):
            raise DistillError(
                f"--lora-trainable-tokens: '{text}' is no token of the student's tokenizer "
                "(give one token's text, e.g. <end_of_turn>)"
            )
        ids.append(int(i))
    return sorted(set(ids))


def template_token_ids(tok: Any) -> list[int]:
    """The added special tokens the tokenizer's chat template writes around a turn."""
    if not getattr(tok, "chat_template", None):
        return []
    chat = [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]
    try:
        rendered = tok.apply_chat_template(chat, tokenize=False)
    except Exception:  # noqa: BLE001 (a template that needs more than a plain chat)
        return []
    special = {t.content for t in tok.added_tokens_decoder.values() if t.special}
    return sorted({tok.convert_tokens_to_ids(t) for t in special if t and t in rendered})


def untrained_template_tokens(tok: Any, embeddings: Any, alike: int = 32) -> list[str]:
    """The template's special tokens whose embedding row is (cosine > 0.98) the row of at least
    `alike` other tokens: rows a base model never trained apart (gemma-3-270m's <end_of_turn> and
    thousands of <unusedN>), which a LoRA adapter alone cannot tell apart through the head."""
    import torch

    rows = embeddings.detach()
    if rows.dim() != 2 or rows.shape[0] == 0 or rows.device.type == "meta":  # sharded, lazy
        return []
    ids = [i for i in template_token_ids(tok) if i is not None and i < rows.shape[0]]
    if not ids:
        return []
    v = rows[ids].float()  # (k, d)
    vn = torch.linalg.vector_norm(v, dim=-1).clamp(min=1e-12)
    alike_rows = torch.zeros(len(ids), dtype=torch.long)
    # One pass in chunks for every template token: no float copy of a whole (bf16) matrix
    for at in range(0, rows.shape[0], 65536):
        chunk = rows[at : at + 65536].float()
        norms = torch.linalg.vector_norm(chunk, dim=-1).clamp(min=1e-12)
        cos = (chunk @ v.T) / (norms[:, None] * vn[None, :])
        alike_rows += (cos > 0.98).sum(0).cpu()
    return [
        tok.convert_ids_to_tokens(i) for i, n in zip(ids, alike_rows.tolist()) if n - 1 >= alike
    ]


def generation_eos(path: str, config: Any) -> Any:
    """The eos_token_id the loaded model's generation_config holds, read without its weights:
    as transformers sets it, generation_config.json's, else the model config's."""
    from transformers import GenerationConfig

    try:
        return GenerationConfig.from_pretrained(path).eos_token_id
    except OSError:
        return GenerationConfig.from_model_config(config).eos_token_id


def _print_stats(cfg: TrainConfig, tok: Any, dataset: Any, stats: dict[str, Any]) -> None:
    if stats.get("prompts_only"):
        print(
            f"train: {stats['kept']} prompts ({stats['dropped_overlong']} dropped as longer "
            f"than max_length {cfg.max_length} - max_new_tokens {cfg.max_new_tokens}); the "
            "student samples every completion, the teacher scores it."
        )
        if cfg.show_example:
            print(f"train: the first prompt:\n{tok.decode(dataset[0]['input_ids'])}")
        return
    print(
        f"train: {stats['kept']} examples ({stats['dropped_overlong']} dropped as longer than "
        f"{cfg.max_length} tokens, {stats['truncated']} truncated, "
        f"{stats['dropped_all_masked'] - stats.get('all_masked_weight_0', 0)} all-masked"
        + (
            f", {stats['all_masked_weight_0']} with every assistant turn of weight 0"
            if stats.get("all_masked_weight_0")
            else ""
        )
        + "); "
        f"{stats['turns']:,} assistant turns in {stats['sequences']:,} sequences, "
        f"{stats['completion_tokens']:,} completion tokens carry the loss"
        + (" (--train-on last: the last turn of each chat)" if cfg.train_on == "last" else "")
        + (
            f"; {stats['turns_left_out']} turns of longer chats left out (their rows "
            f"exceed {cfg.max_length} tokens)"
            if stats.get("turns_left_out")
            else ""
        )
    )


def build_trainer(cfg: TrainConfig) -> tuple[Any, Any]:
    """The SFTTrainer `run` trains with (model, tokenized examples, peft, args), and the tokenizer.
    Writes train.yaml and train_data.json into the output dir."""
    from distill.config import save_config
    from distill.manifest import check_input
    from distill.models import load_tokenizer, resolve_model
    from distill.records import write_atomic

    check_input(cfg.data)  # before the model loads: a kept file whose filter run did not finish
    out = Path(cfg.output_dir)
    if cfg.packing:
        check_packing_versions()
    check_qlora(cfg)  # before the examples are built (the weights load after them)
    if cfg.method == "onpolicy":  # --rollout-url answers: before the model loads, files are written
        from distill.train.kd.rollout import check_server

        check_server(cfg)
    bf16, fp16, dtype = _precision(cfg)
    record = precision_record(cfg) if _main_process() else None  # (rank 0 writes train.yaml)
    path = resolve_model(cfg.model)
    tok = load_tokenizer(cfg.tokenizer or cfg.model)
    # --lora-trainable-tokens (a full fine-tune refused, a token the tokenizer lacks named)
    # before the model loads
    rows = trainable_token_ids(cfg, tok)
    config = student_config(cfg, path)
    # --tokenizer of another vocabulary: the tokenizers and the rows the config embeds tell
    # (transformers builds the embedding from config.vocab_size), before the data is built
    if cfg.tokenizer:
        vocab = getattr(config.get_text_config(), "vocab_size", None)
        check_tokenizer(cfg, tok, vocab if isinstance(vocab, int) else len(tok))
    # The examples and their pre-flight need the tokenizer, the data and the student's stop ids
    # only: built before the weights load, so a refused file, row or template is one line with
    # no loading bar (or a teacher's warnings) before it, and the weights load for nothing.
    model_eos = generation_eos(path, config)
    # a template may write the day it renders (Llama 3.2): a resume renders at the clock its run
    # began at (every rank alike), so its rows are those the steps before the checkpoint trained on
    began = began_at(out) if cfg.resume and last_complete_checkpoint(out) else None
    with template_clock(began) as clock:
        dataset, stats = build_dataset(cfg, tok, model_eos)
    if _main_process():  # every process builds the same examples; one says what they are
        _print_stats(cfg, tok, dataset, stats)
    if not stats.get("prompts_only"):  # every process checks (all stop together); rank 0 prints
        show_examples(cfg, tok, dataset, model_eos)
    stats["rendered"] = {
        **stats["rendered"],
        **template_record(cfg.tokenizer or cfg.model, tok),
        "clock": clock,
    }
    # kd/onpolicy learn the teacher's targets too: its stored top-K, its tokenizer (one process
    # reads the side files: the one that writes train_data.json and compares a resume)
    teacher = teacher_record(cfg) if _main_process() else None
    if teacher is not None:
        stats["rendered"]["teacher"] = teacher
    ckpt = last_complete_checkpoint(out) if cfg.resume and _main_process() else None
    compared = bool(ckpt) and not (at_last_step(ckpt) and holds_model(Path(ckpt)))
    if compared:  # (a checkpoint at the last step: run takes that one's)
        # the steps after the checkpoint train on the tokens the steps before it did: before
        # train_data.json is written again, and before the weights load
        check_rendered(out, ckpt, stats["rendered"], cfg.data)
    # peft and TRL (seconds of imports) once the examples are built: a refused --max-length,
    # file or row above is one line at once
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    model = _load_model(cfg, path, dtype, config)
    if cfg.tokenizer:  # the rows the loaded student embeds
        check_tokenizer(cfg, tok, model.get_input_embeddings().num_embeddings)
    if _main_process():  # written once the run is set to train (the model loaded)
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / "train.yaml", record)
        if Path(cfg.data).is_file():  # what this run learns from: a rerun checks it is the same
            from distill.manifest import file_sha256

            stats = {**stats, "data_sha256": file_sha256(Path(cfg.data))}
        write_atomic(out / "train_data.json", json.dumps(stats, indent=2) + "\n")

    peft_config = None
    if cfg.lora:
        targets: Any = cfg.lora_target_modules
        if targets == ["all-linear"]:
            targets = "all-linear"
        untrained = (  # one process looks (the others would only spend its seconds too)
            []
            if rows or not _main_process()
            else untrained_template_tokens(tok, model.get_input_embeddings().weight)
        )
        if untrained:
            print(
                f"train: warning: the student's template tokens {', '.join(untrained)} have "
                "embedding rows nearly equal to many others' (a base model that never trained "
                "them): a LoRA adapter alone learns to stop slowly; --lora-trainable-tokens "
                "template trains those rows"
            )
        peft_config = LoraConfig(
            r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            target_modules=targets,
            task_type="CAUSAL_LM",
            **({"trainable_token_indices": rows} if rows else {}),
        )
    args = SFTConfig(
        **{k: getattr(cfg, k) for k in keys_where(TrainConfig, "trainer")},
        output_dir=str(out),
        packing_strategy="bfd",
        completion_only_loss=True,
        warmup_steps=cfg.warmup_ratio,  # a float < 1 is a ratio of the total steps
        bf16=bf16,
        fp16=fp16,
        data_seed=cfg.seed,
        report_to=[] if cfg.report_to == "none" else [cfg.report_to],
        include_num_input_tokens_seen="non_padding",
        disable_tqdm=False,
        use_cpu=not __import__("torch").cuda.is_available(),
    )
    if cfg.method != "sft":
        from distill.train.kd.trainer import build_distill_trainer

        with template_clock(clock):  # its own rows (the last turn, a teacher's) at the same day
            trainer = build_distill_trainer(cfg, model, tok, args, dataset, peft_config, out)
        trainer.add_callback(run_config_callback(cfg, record))  # each checkpoint's, as SFT's
        if _main_process():  # a teacher's own rendering: the last turn of each chat
            from distill.examples import stop_token_ids

            stops = stop_token_ids(tok, model.generation_config.eos_token_id)
            recount(out, trainer.train_dataset, stats, cfg, stops, built=dataset)
            # what the HF cache holds of a Hub-id teacher once it loaded (a fresh cache: only now)
            loaded_teacher(out, compared)
        return _own_rotation(_no_model_card(trainer)), tok
    trainer_cls, extra = SFTTrainer, {}
    # Off CUDA TRL's fused head scores every position in 4k x 32k tiles (~4.4 GB at a 152k
    # vocabulary, benchmarks/bench_kd_memory.py): there, the completion tokens in chunks.
    if cfg.loss_chunk_size and not __import__("torch").cuda.is_available():
        from distill.train.sft_loss import ChunkedSFTTrainer

        trainer_cls, extra = ChunkedSFTTrainer, {"loss_chunk_size": cfg.loss_chunk_size}
    trainer = trainer_cls(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tok,
        peft_config=peft_config,
        callbacks=[loss_log_callback(out / "loss.jsonl"), run_config_callback(cfg, record)],
        **extra,
    )
    return _own_rotation(_no_model_card(_count_tokens(trainer))), tok


def recount(
    out: Path,
    dataset: Any,
    stats: dict[str, Any],
    cfg: Any,
    stops: set[int],
    built: Any = None,
) -> None:
    """train_data.json and the train line counted SFT's rendering (every assistant turn with
    --train-on all); a teacher of another tokenizer or stored top-K (either vocabulary) is
    compared on the last assistant turn of each chat, the turn it was aligned on or stored for:
    its counts (examples = kept + dropped, as SFT's: a chat whose last turn does not fit is
    dropped here though an earlier turn fitted), and a line. `built`: the dataset `stats`
    counted (build_dataset's); the trainer's rows are its own where their masks are its."""
    from distill.records import write_atomic

    if "completion_mask" not in dataset.column_names or stats.get("prompts_only"):
        return
    masks = dataset["completion_mask"]
    tokens = sum(sum(m) for m in masks)
    n = len(dataset)
    if built is not None:
        # Row for row, not the token sum: stored top-K realigned onto the teacher's ids can
        # add up to SFT's sum while kd drops a row SFT keeps (and trains no earlier turn)
        if len(built) == n and built["completion_mask"] == masks:  # SFT's rows (a local teacher)
            return
    elif stats.get("completion_tokens") in (None, tokens):
        return
    # one row per example: the others were left out (--overlong drop: too long; truncate:
    # nothing of the completion left), or had nothing to train (every assistant turn of weight
    # 0: SFT's count, kd skips them alike); a kept row max_length long with no stop token was cut
    untrained = stats.get("all_masked_weight_0", 0)
    dropped = stats.get("examples", n) - n - untrained
    cut = sum(
        len(m) >= cfg.max_length and not stops & {t for t, k in zip(ids, m) if k}
        for ids, m in zip(dataset["input_ids"], masks)
    )
    stats = {
        **stats,
        "kept": n,
        "turns": n,
        "sequences": n,
        "completion_tokens": tokens,
        "prompt_tokens": sum(len(m) - sum(m) for m in masks),
        "dropped_overlong": dropped if cfg.overlong == "drop" else 0,
        "dropped_all_masked": untrained + (0 if cfg.overlong == "drop" else dropped),
        "truncated": 0 if cfg.overlong == "drop" else cut,
        "turns_left_out": 0,
    }
    write_atomic(
        out / "train_data.json", json.dumps({**stats, "last_turn_only": True}, indent=2) + "\n"
    )
    print(
        f"kd: as the teacher's examples are built (the last assistant turn of each chat), "
        f"{n:,} examples ({dropped} left out as longer than {cfg.max_length} tokens, "
        + (f"{untrained} with every assistant turn of weight 0, " if untrained else "")
        + f"{stats['truncated']} truncated), {tokens:,} completion tokens carry the loss (the "
        "count above was SFT's rendering)"
    )


def _count_tokens(trainer: Any) -> Any:
    """The step's completion tokens counted for a student whose model class says its forward takes
    no loss kwargs (Gemma 4 / Gemma 3n: AutoModelForCausalLM gives *ForConditionalGeneration,
    accepts_loss_kwargs False): the Trainer then passed no num_items_in_batch and each
    micro-batch was divided by its own tokens under --gradient-accumulation-steps (a short
    example's tokens weighed more). The loss is not the model's: the chunked loss is ours, and
    TRL's fused head (add_fused_lm_head) computes it itself; a TRL that asks the model for its
    loss keeps the Trainer's reading."""
    from trl.trainer import sft_trainer

    ours = getattr(trainer, "loss_chunk_size", None) is not None
    pc = getattr(trainer.accelerator, "parallelism_config", None)
    if pc is not None and getattr(pc, "sp_enabled", False):  # sequence parallel counts its own
        return trainer
    if ours or hasattr(sft_trainer, "add_fused_lm_head"):
        trainer.model_accepts_loss_kwargs = True
        trainer._loss_shifts_labels = True  # the loss reads labels[:, 1:]
    return trainer


def _no_model_card(trainer: Any) -> Any:
    """No README.md into --output-dir: TRL writes its model card there at every checkpoint and
    peft at every adapter save, over a README.md of the user's in that folder (publish writes
    its own card; train's was read by nothing)."""
    trainer.create_model_card = lambda *args, **kwargs: None
    if hasattr(trainer.model, "create_or_update_model_card"):  # a PeftModel
        trainer.model.create_or_update_model_card = lambda *args, **kwargs: None
    return trainer


def _own_rotation(trainer: Any) -> Any:
    """save_total_limit applied to the run's checkpoint-N folders alone (callbacks.rotate_callback):
    the Trainer's rotation took any checkpoint-* folder, a copy the user kept aside too."""
    from distill.train.callbacks import rotate_callback

    trainer.add_callback(rotate_callback(trainer.args.save_total_limit))
    trainer.args.save_total_limit = None  # the Trainer's rotation off
    return trainer


def last_complete_checkpoint(out: Path) -> str | None:
    """The newest checkpoint the Trainer finished writing (trainer_state.json is written last).
    A kill mid-save leaves a partial checkpoint-N: it is removed, so the run redoes those steps."""
    import shutil

    from distill.paths import train_checkpoints

    found = sorted(
        train_checkpoints(out),  # checkpoint-N, and copies kept as checkpoint-N-<anything>
        # at one step the run's own checkpoint-N before a copy kept aside (checkpoint-N-slim,
        # its optimizer left out): not the folder listing's order
        key=lambda p: (int(p.name.split("-")[1]), own_checkpoint(p)),
        reverse=True,
    )
    for ckpt in found:
        state = ckpt / "trainer_state.json"
        try:  # whole: save_to_json opens it "w", then writes (a kill between leaves it cut short)
            if isinstance(json.loads(state.read_text()), dict):
                return str(ckpt)
        except (FileNotFoundError, IsADirectoryError, ValueError):
            pass
        except OSError as e:  # not a cut: a checkpoint that may be whole is never removed for it
            raise DistillError(f"cannot read {state}: {e.strerror or e}") from None
        if not own_checkpoint(ckpt):
            continue  # a copy the user named (checkpoint-4-best: the adapter alone): not ours
        print(f"train: {ckpt.name} was cut off mid-save; removing it")
        shutil.rmtree(ckpt, ignore_errors=True)  # every rank may look at once (finished_run)
    return None


def at_last_step(ckpt: str | Path) -> bool:
    """A checkpoint saved at its run's last step (its trainer_state's global_step >= max_steps)."""
    state = json.loads((Path(ckpt) / "trainer_state.json").read_text())
    last = int(state.get("max_steps") or 0)
    return bool(last) and int(state["global_step"]) >= last


# What a checkpoint holds beside the model Trainer.save_model writes: the training state
# (DeepSpeed's global_step*/, latest and zero_to_fp32.py; FSDP's sharded pytorch_model_fsdp_*/
# and optimizer_*/, which save_model never writes into --output-dir).
TRAINING_STATE = (
    "optimizer",
    "scheduler",
    "rng_state",
    "trainer_state.json",
    "global_step",
    "latest",
    "zero_to_fp32.py",
    "pytorch_model_fsdp",
)


def holds_model(ckpt: Path) -> bool:
    """A checkpoint with the model save_model wrote into it (adapter or weights)."""
    names = ("adapter_model.safetensors", "model.safetensors", "model.safetensors.index.json")
    return any((ckpt / n).is_file() for n in names)


def save_final(trainer: Any, out: Path) -> None:
    """The trained model into the output folder, whole. Under FSDP with SHARDED_STATE_DICT (the
    fsdp recipe's setting, cheap checkpoints) Trainer.save_model writes no weights at all: the
    final save gathers the full state dict instead, as TRL's and the alignment-handbook's
    scripts do (every rank takes part in the gather)."""
    if getattr(trainer, "is_fsdp_enabled", False):
        plugin = trainer.accelerator.state.fsdp_plugin
        if "FULL_STATE_DICT" not in str(plugin.state_dict_type):
            plugin.set_state_dict_type("FULL_STATE_DICT")
    trainer.save_model(str(out))


def remove_model(out: Path) -> None:
    """The model files an earlier run (or the user) left in `out`, removed when --overwrite
    starts over: a run killed before its first checkpoint left them beside its own train.yaml,
    with no checkpoint, and guard_train refused the --resume that should start it afresh."""
    import shutil

    from distill.models import MODEL_FILES

    index = out / "model.safetensors.index.json"
    try:  # a sharded model's shards, named in its index
        shards = list(json.loads(index.read_text())["weight_map"].values())
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        shards = []
    for name in (*MODEL_FILES, *shards):
        # a file in out, never a path the index points elsewhere
        if isinstance(name, str) and Path(name).name == name and (out / name).is_file():
            (out / name).unlink(missing_ok=True)
    # the merged weights of the run it replaces (train's own folder): a run without --merge
    # left them beside its adapter, and `publish --merged` shipped the old student
    merged = out / "merged"
    if merged.is_symlink():
        merged.unlink()
    elif merged.is_dir():
        shutil.rmtree(merged)


def restore_checkpoint(ckpt: Path, out: Path) -> None:
    """The model a checkpoint holds (what save_model wrote into it: adapter or weights, config,
    kd.json as of it) copied into the output folder; its optimizer and trainer state left."""
    import shutil

    for item in ckpt.iterdir():
        if item.name.startswith(TRAINING_STATE) or item.name == "train.yaml":
            continue
        if item.is_dir():
            shutil.copytree(item, out / item.name, dirs_exist_ok=True)
        else:
            shutil.copy2(item, out / item.name)


def _whole_safetensors(path: Path) -> bool:
    """A safetensors file written to its end (its header's last tensor ends within it): a kill
    mid-save leaves it cut short."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if size < 8 + n:
                return False
            header = json.loads(f.read(n))
        ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"]
    except (OSError, ValueError, TypeError, KeyError, IndexError):
        return False
    return size >= 8 + n + max(ends, default=0)


def complete_weights(folder: Path) -> bool:
    """The adapter or weights save_pretrained writes, whole in `folder` (config.json is written
    before them; a sharded model's index after its shards, each shard checked too)."""
    for name in ("adapter_model.safetensors", "model.safetensors"):
        if (folder / name).is_file():
            return _whole_safetensors(folder / name)
    index = folder / "model.safetensors.index.json"
    try:
        shards = set(json.loads(index.read_text())["weight_map"].values())
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return False
    return all(_whole_safetensors(folder / s) for s in shards)


def learned_from(out: Path, data: Path) -> bool | None:
    """Whether the run in train's --output-dir `out` learned from `data` as the file is now: its
    sha256 in train_data.json, kept at train start (a filter run again may write the same
    bytes); a run from before that: not written since its train.yaml. None: no record says."""
    from distill.manifest import file_sha256

    counts, began = out / "train_data.json", out / "train.yaml"
    try:
        saved = json.loads(counts.read_text()).get("data_sha256") if counts.is_file() else None
    except (ValueError, AttributeError):
        saved = None
    if saved is not None:
        return saved == file_sha256(data)
    if began.is_file():
        return data.stat().st_mtime <= began.stat().st_mtime
    return None


def check_same_data(cfg: TrainConfig) -> None:
    """--resume over checkpoints: the data file is the one they trained on (`learned_from`), as
    `distill run` checks; a filter run again with new settings is not resumed, nor its finished
    run taken for done."""
    data, out = Path(cfg.data), Path(cfg.output_dir)
    if not data.is_file() or not checkpoints(out):
        return
    if learned_from(out, data) is False:
        raise DistillError(
            f"--resume: {cfg.data} changed after {out} began training on it (its checkpoints "
            "learned other data); train on it from the start with --overwrite, or pick another "
            "--output-dir"
        )


def finished_run(cfg: TrainConfig) -> str | None:
    """The newest checkpoint of `cfg.output_dir` when it is this run's (the same settings: a
    different one is refused as --resume refuses it) at its last step with its weights saved
    (and merged/ when --merge): a rerun has nothing to train. None: train (resume) it."""
    import dataclasses

    ckpt = check_output_dir(dataclasses.replace(cfg, resume=True))
    if ckpt is None:
        return None
    out = Path(cfg.output_dir)
    # not cut short by a kill in save_model, nor before its tokenizer (written after the weights,
    # as into each checkpoint)
    saved = complete_weights(out) and all(
        (out / p.name).is_file() for p in Path(ckpt).glob("tokenizer*")
    )
    merged = not (cfg.merge and cfg.lora) or complete_weights(out / "merged")
    return ckpt if at_last_step(ckpt) and saved and merged else None


# A run config saved before these keys existed trained as they now read: its last assistant turn
# only, thought markers verbatim, a text prompt/completion in a chat turn.
PREDATED = {"train_on": "last", "keep_markers": True, "chat": True}
# Keys that do not change what is learned (setting(result=False)): a resumed run may differ.
NOT_RUN_DEFINING = set(TrainConfig.__dataclass_fields__) - set(result_keys(TrainConfig))


def changed_run_keys(cfg: TrainConfig, saved: dict[str, Any]) -> list[str]:
    """'key: saved -> now' for every result-changing key where cfg differs from a saved run config
    (a key the saved config predates counts as its default, or as the value that gives the
    behaviour of the distill that wrote it: PREDATED)."""
    import dataclasses

    defaults = {
        f.name: f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
        for f in dataclasses.fields(cfg)
    }
    defaults.update(PREDATED)
    now = dataclasses.asdict(cfg)
    # train.yaml holds the precision the run trained in (one written before: auto), of each
    # part (precision_record). A run given auto (a resume, distill run again) leaves it to the
    # machine: the saved run whatever it trained in (a GPU's bf16 on a CPU, where auto is fp32
    # and bf16 cannot train; a finished run, where nothing trains). A precision given is compared
    # with the one the run trained in last (it goes on as it was going), auto as it resolves here.
    given_auto = now["precision"] == "auto"
    now["precision"] = resolved_precision(now["precision"])
    defaults["precision"] = resolved_precision(defaults["precision"])
    if "precision" in saved:
        saved = {**saved, "precision": last_precision(saved)}
    # A server is the same server with another token in its URL (user:pass@, ?api_key=): compared
    # and shown without them, so a rotated key resumes and no token reaches the error line.
    shown = {k: without_tokens(k, v) for k, v in now.items()}
    was = {k: without_tokens(k, saved.get(k, defaults.get(k))) for k in now}
    # the verifier's limits change only what --reward and --gate-teacher verify: a run with
    # neither (sft, kd, plain onpolicy) given filter's by distill run is the run it was
    unverified = now["reward"] == "none" and not now["gate_teacher"]
    return [
        f"{k}: {was[k]!r} -> {v!r}"
        for k, v in shown.items()
        if k not in NOT_RUN_DEFINING
        and not (unverified and k in ("verify_timeout", "code_memory_mb"))
        and not (k == "precision" and given_auto)
        and not _same(k, was[k], v)
    ]


def last_precision(saved: dict[str, Any]) -> str:
    """The precision a saved run trained in last (an older train.yaml's auto as it resolves
    here, as before)."""
    last = trained_precisions(saved)[-1][1]
    return resolved_precision(last)


def saved_config_path(ckpt: str | Path) -> Path | None:
    """The train.yaml a checkpoint was trained with: its own, or (checkpoints written before
    distill kept one in them) the run's."""
    ckpt = Path(ckpt)
    return next((p for p in (ckpt / "train.yaml", ckpt.parent / "train.yaml") if p.is_file()), None)


def precision_record(cfg: TrainConfig) -> dict[str, Any] | None:
    """train.yaml's precision keys for a --resume (cfg.precision resolved): the precision its
    checkpoint's run began in, and `precision_from_step` ({step: precision}) for each part
    trained in another: a run given auto goes on in what auto is on this machine (bf16 begun on
    one GPU, fp16 on another), and train.yaml (so the card, publish's lineage) then says what
    each step trained in, not the last part's precision for the whole run. None: a fresh run
    (or nothing saved to go on from), train.yaml holds cfg.precision as it is."""
    import yaml

    ckpt = last_complete_checkpoint(Path(cfg.output_dir)) if cfg.resume else None
    saved_path = saved_config_path(ckpt) if ckpt else None
    if saved_path is None:
        return None
    saved = yaml.safe_load(saved_path.read_text()) or {}
    if not isinstance(saved, dict) or "precision" not in saved:
        return None
    step = int(json.loads((Path(ckpt) / "trainer_state.json").read_text())["global_step"])
    parts = [
        (s, resolved_precision(p))
        for i, (s, p) in enumerate(trained_precisions(saved))
        if i == 0 or s <= step
    ]
    # the steps after the checkpoint train in cfg.precision (none when it is the run's last)
    if parts[-1][1] != cfg.precision and not at_last_step(ckpt):
        parts.append((step + 1, cfg.precision))
    record: dict[str, Any] = {"precision": parts[0][1]}
    if len(parts) > 1:
        record["precision_from_step"] = dict(parts[1:])
    return record


URL_KEYS = ("teacher_url", "teacher_model", "rollout_url")  # teacher_model: NAME@URL
URL_FLAGS = dict(zip(URL_KEYS, ("--teacher-url", "--teacher-model", "--rollout-url")))


def without_tokens(key: str, value: Any) -> Any:
    """A saved or given value as train.yaml holds it: a *url key's URL(s) without user:pass@ or
    ?key= (one typed without its scheme too: config.save_config), NAME@URL's URL so too."""
    from distill.urls import redact_url

    if key not in URL_KEYS:
        return value
    if key.endswith("url") and isinstance(value, (str, list)):
        return [redact_url(v) for v in value] if isinstance(value, list) else redact_url(value)
    return redact_urls(value)


def url_left_out(cfg: TrainConfig, saved: dict[str, Any]) -> str | None:
    """'--flag URL' (without its token) of a server the saved run had and `cfg` does not name:
    train.yaml cannot give its token back, so a --resume must be given the URL again. A key a
    resume may change (--rollout-url: a colocated vLLM then) is none of its business."""
    for key, flag in URL_FLAGS.items():
        if key in NOT_RUN_DEFINING:
            continue
        was, now = without_tokens(key, saved.get(key)), without_tokens(key, getattr(cfg, key))
        # teacher_model: NAME@URL given as NAME (or none); a *url key: not given
        served = "://" in str(was) and "://" not in str(now)
        if (bool(was) and not now) if key.endswith("url") else served:
            return f"{flag} {' '.join(was) if isinstance(was, list) else was}"
    return None


def _same(key: str, saved: Any, now: Any) -> bool:
    """Equal values; for a local data/model path, the same file however it is spelled
    (`kept.jsonl`, `./kept.jsonl`, its absolute path)."""
    if saved == now:
        return True
    if key in ("data", "model") and isinstance(saved, str) and isinstance(now, str):
        return os.path.exists(now) and os.path.realpath(saved) == os.path.realpath(now)
    return False


def checkpoints(out: Path) -> list[str]:
    """The checkpoints of an output folder, by name (complete or not): checkpoint-N folders and
    copies kept as checkpoint-N-<anything> (paths.train_checkpoints), never the user's
    checkpoint-best/ or checkpoint-notes.txt."""
    from distill.paths import train_checkpoints

    return [p.name for p in train_checkpoints(out)]


def check_output_dir(cfg: TrainConfig) -> str | None:
    """-> the checkpoint to resume from, or None. A fresh run refuses a folder holding an earlier
    run's checkpoints (checkpoint rotation would mix the two runs) unless --overwrite, which
    deletes them; --resume refuses a checkpoint whose run config differs in a key that changes
    the result, naming the keys."""
    import shutil

    import yaml

    out = Path(cfg.output_dir)
    if not cfg.resume:
        found = checkpoints(out)
        if found and not cfg.overwrite:
            raise DistillError(
                f"{out} holds checkpoints of an earlier run ({', '.join(found)}); continue it with "
                f"--resume (resume: true), start over with --overwrite, or pick another --output-dir"
            )
        from distill.train.callbacks import own_checkpoint

        # --overwrite removes the Trainer's checkpoint-N folders alone; a copy kept under its
        # own name (checkpoint-4-best) is the user's, and would be taken by a later --resume
        # of this run for its own: refused before anything is removed
        kept = [name for name in found if not own_checkpoint(out / name)]
        if kept:
            raise DistillError(
                f"{out} holds {', '.join(kept)}, a checkpoint of an earlier run kept under its "
                "own name: --overwrite removes only checkpoint-N folders, and --resume would "
                "take it for this run's; move it out of the folder or pick another --output-dir"
            )
        for name in found:
            shutil.rmtree(out / name, ignore_errors=True)  # every rank may try; one wins
        return None
    ckpt = last_complete_checkpoint(out)
    if ckpt is None:
        return None
    saved_path = saved_config_path(ckpt)
    if saved_path is None:
        print(f"train: {ckpt} has no train.yaml; cannot check it belongs to this run")
        return ckpt
    if cfg.max_length is None:  # resolved (from the student's context) before it is compared
        from distill.models import resolve_model

        student_config(cfg, resolve_model(cfg.model))
    saved = yaml.safe_load(saved_path.read_text()) or {}
    changed = changed_run_keys(cfg, saved)
    was, here = last_precision(saved), resolved_precision("auto")
    if not changed and cfg.precision == "auto" and was != here:
        print(f"train: {ckpt} trained in {was}; auto is {here} on this machine")
    left_out = url_left_out(cfg, saved) if changed else None
    if left_out:
        raise DistillError(
            f"--resume: {ckpt} was trained with {left_out} (train.yaml keeps a server URL without "
            "its user:password@ or ?key=): pass it again as you gave it, or the key in "
            "$OPENAI_API_KEY"
        )
    if changed:
        raise DistillError(
            f"--resume: {ckpt} belongs to a different run ({'; '.join(changed)}); resume with "
            f"the same settings, or start over with --overwrite"
        )
    return ckpt


def merge_adapter(cfg: TrainConfig, out: Path, tok: Any) -> Path:
    """out/merged: the saved adapter folded into a freshly loaded, unquantized base, in the
    training precision (bf16 or fp32). Never into the 4-bit QLoRA base: merging there
    requantizes the sum (lossy) and the result would need bitsandbytes to load."""
    from dataclasses import replace

    from peft import PeftModel

    from distill.models import resolve_model

    _, _, dtype = _precision(cfg)
    path = resolve_model(cfg.model)
    full = replace(cfg, qlora=False)
    base = _load_model(full, path, dtype, student_config(full, path))
    merged = PeftModel.from_pretrained(base, str(out)).merge_and_unload()
    # the tokenizer first: whole weights are what finished_run takes for a finished merge
    tok.save_pretrained(str(out / "merged"))
    merged.save_pretrained(str(out / "merged"))
    return out / "merged"


def run(cfg: TrainConfig) -> Path:
    import dataclasses

    from distill.paths import guard_train

    guard_train(cfg)  # --data/--model are never a file train writes: checked before any write
    out = Path(cfg.output_dir)
    if cfg.resume:
        check_same_data(cfg)  # before anything is written (train_data.json keeps the new hash)
        # a rerun of a finished run (`make r1-distill` again, every rank alike) has nothing to
        # train: its weights, merged/ and records stay as they are (a 7B merge is not redone)
        done = finished_run(cfg)
        if done:
            print(f"train: done ({done} is its last step); nothing to resume, {out} kept")
            return out
    _die_with_launcher()
    _warn_if_one_cpu_process()
    from accelerate.utils import get_int_from_env

    # The world size from whichever launcher (mpirun sets no WORLD_SIZE), as _main_process reads it.
    world = ["WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"]
    distributed = get_int_from_env(world, 1) > 1
    # Rank 0 (or the only process) checks the folder before the model loads, so a refused run
    # stops before build_trainer rewrites train.yaml and train_data.json in a folder that holds
    # another run (the launcher then stops the others), and removes a checkpoint cut off
    # mid-save. The other ranks look only after it (below): they must agree.
    checked_first = not distributed or _main_process()
    resume_from = check_output_dir(cfg) if checked_first else None
    given = dataclasses.replace(cfg)  # (build_trainer resolves cfg.precision: auto as given)
    trainer, tok = build_trainer(cfg)
    # Under accelerate every process runs this function; rank 0 alone writes files, the Trainer
    # itself saves checkpoints and the model that way (save_model is called by all: FSDP gathers).
    main = trainer.is_world_process_zero()
    if main:
        _warn_if_fsdp_dropped(trainer)
    if distributed:
        with trainer.args.main_process_first(local=False, desc="checking the output folder"):
            if not checked_first:
                resume_from = check_output_dir(given)
    if cfg.resume and main:
        print(
            f"train: resuming from {resume_from}"
            if resume_from
            else "train: no checkpoint to resume; starting fresh"
        )
    if main and resume_from:  # the steps after that checkpoint are logged again: once each
        # its own global_step (the Trainer resumes there), not its name: a kept copy
        # checkpoint-N-<anything> is a checkpoint last_complete_checkpoint takes
        state = json.loads((Path(resume_from) / "trainer_state.json").read_text())
        trim_log(out / "loss.jsonl", int(state["global_step"]))
        # --rollout vllm's record: a rollout's step is the global step it was sampled at,
        # before that step's update: those from the checkpoint's step on are sampled again
        trim_log(out / "rollouts.jsonl", int(state["global_step"]) - 1)
    elif main:  # a fresh run (or --resume with nothing to resume) starts fresh records
        (out / "loss.jsonl").unlink(missing_ok=True)
        (out / "rollouts.jsonl").unlink(missing_ok=True)
        (out / "kd.json").unlink(missing_ok=True)  # another run's teacher and counts
        if cfg.overwrite:  # the model it replaces (guard_train let only --overwrite past one)
            remove_model(out)
    if resume_from and at_last_step(resume_from) and holds_model(Path(resume_from)):
        # killed after its last checkpoint (saving the model, merging): Trainer.train would run
        # one more optimizer step from it when max_steps is not a whole number of epochs (it
        # skips the epoch's trained batches and trains the next), so its saved model is taken
        # (an FSDP checkpoint of sharded state holds none: that one is trained from, as before)
        if main:
            restore_checkpoint(Path(resume_from), out)
    else:
        trainer.train(resume_from_checkpoint=resume_from)
        save_final(trainer, out)
    if not main:
        return out
    tok.save_pretrained(str(out))
    plot_loss(out / "loss.jsonl", out / "loss.png")
    if cfg.merge and cfg.lora:
        merge_adapter(cfg, out, tok)
    if cfg.rope_theta is not None or cfg.max_position_embeddings is not None:
        where = "train.yaml" + (", config.json" if not cfg.lora else "")
        where += ", merged/config.json" if cfg.lora and cfg.merge else ""
        print(
            f"train: context extended (max_position_embeddings={cfg.max_position_embeddings}, "
            f"rope_theta={cfg.rope_theta}), as recorded in {where}"
            + ("; serve the adapter on a base with that config" if cfg.lora else "")
        )
    print(f"train: saved {'adapter' if cfg.lora else 'weights'} to {out}")
    return out
