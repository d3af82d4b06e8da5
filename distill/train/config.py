"""The train and export stages' settings (TrainConfig, ExportConfig). Light on purpose: no torch,
so `distill --help` and recipe checks stay instant.

    distill train --help      # every key below, as a flag
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from distill.config import setting
from distill.errors import DistillError
from distill.examples import FORMATS, REASONING_CHUNKS, REASONING_KEYS, Layout

PRECISIONS = ("auto", "bf16", "fp16", "fp32")
DEFAULT_MAX_LENGTH = 2048  # tokens per example when --max-length is not given (or the context)


def trained_precisions(saved: dict[str, Any]) -> list[tuple[int, str]]:
    """[(first step, precision)] of each part of the run a train.yaml records: `precision` (the
    one it began in) from step 1, then `precision_from_step` ({step: precision}), written where a
    --resume given auto went on on a machine where auto resolves to another (a bf16 run resumed
    where it is fp16). A train.yaml from before that key: one part (`auto` in one older still)."""
    parts = [(1, str(saved.get("precision") or "auto"))]
    later = saved.get("precision_from_step") or {}
    return parts + sorted((int(step), str(p)) for step, p in later.items())


# train.yaml keys that record how the run went, beside its settings (sft.precision_record)
RUN_RECORD_KEYS = ("precision_from_step",)


def saved_settings(saved: dict[str, Any]) -> dict[str, Any]:
    """A train.yaml's TrainConfig keys, to build the run's config again (from_dict names any
    other key as unknown: a resumed run's precision_from_step refused its folder)."""
    return {k: v for k, v in saved.items() if k not in RUN_RECORD_KEYS}


@dataclass
class TrainConfig(Layout):
    data: str = setting(
        "",
        "Kept traces (JSONL), or a dataset with a `messages` column or Alpaca columns; --method onpolicy (lmbda 1) also takes prompts alone, as generate does.",
    )
    model: str = setting("", "Student: HF name/path or builtin:smollm2.")
    output_dir: str = setting(
        "", "Where the adapter/weights, tokenizer, config and loss log go.", result=False
    )
    format: str = setting(
        "r1", "r1 (chat template + <think> block) | alpaca (Alpaca prompt).", card=True
    )
    split: str = setting("train", "Dataset split (a hub dataset's or local folder's).")
    limit: int | None = setting(None, "Use the first N examples.")
    # tokens per example (prompt + completion); default min(2048, the student's context)
    max_length: int | None = setting(
        None,
        "Max tokens per example (default: min(2048, the student's context)).",
        trainer=True,
        card=True,
    )
    overlong: str = setting("drop", "drop | truncate examples longer than max_length.")
    # --- LoRA / QLoRA / full
    # The student's tokenizer when not its own (the teacher's: same BPE, the teacher's special
    # tokens and chat template, as DeepSeek's R1-Distill-Qwen students); saved with the student.
    tokenizer: str | None = setting(
        None,
        "The student's tokenizer when not its own: e.g. the teacher's (same BPE, the teacher's special tokens and chat template), as DeepSeek's R1-Distill students.",
    )
    lora: bool = setting(True, "LoRA adapter (default) or full fine-tuning.", card=True)
    # 4-bit base via bitsandbytes (CUDA only)
    qlora: bool = setting(
        False, "4-bit QLoRA (CUDA + bitsandbytes).", flags=("--qlora",), card=True
    )
    lora_r: int = setting(16, "LoRA rank.", card=True)
    lora_alpha: int = setting(32, "LoRA alpha.", card=True)
    lora_dropout: float = setting(0.05, "LoRA dropout.", card=True)
    lora_target_modules: list[str] = setting(
        factory=lambda: ["all-linear"],
        help="Comma list of modules, or all-linear (default).",
        csv=True,
        card=True,
    )
    # A base model's chat-template tokens are rows it never trained (gemma-3-270m's
    # <end_of_turn> has cosine 0.99 with thousands of its <unusedN> rows): LoRA alone cannot
    # tell them apart through the tied head, so a stop raises them all. PEFT's
    # trainable_token_indices trains those rows alone.
    lora_trainable_tokens: list[str] = setting(
        factory=list,
        help="LoRA: tokens whose embedding rows train too (PEFT's trainable_token_indices), by "
        "text (comma list, e.g. '<start_of_turn>,<end_of_turn>'), or 'template': the special "
        "tokens the student's chat template writes. For a base model in a chat template it "
        "never saw.",
        csv=True,
        card=True,
    )
    # --- optimisation
    learning_rate: float = setting(2e-4, "Peak learning rate.", trainer=True, card=True)
    num_train_epochs: float = setting(3.0, "Epochs.", trainer=True, card=True)
    # > 0 overrides epochs
    max_steps: int = setting(
        -1, "Stop after N optimizer steps (overrides epochs).", trainer=True, card=True
    )
    per_device_train_batch_size: int = setting(
        8,
        "Sequences per device per step.",
        flags=("--batch-size", "--per-device-train-batch-size"),
        trainer=True,
        card=True,
    )
    gradient_accumulation_steps: int = setting(1, "Gradient accumulation.", trainer=True, card=True)
    warmup_ratio: float = setting(0.03, "Warmup share of steps.", card=True)
    lr_scheduler_type: str = setting("cosine", "Scheduler.", trainer=True, card=True)
    weight_decay: float = setting(0.0, "Weight decay.", trainer=True)
    max_grad_norm: float = setting(1.0, cli=False, trainer=True)
    # BFD packing, padding-free; sequences never attend to each other
    packing: bool = setting(
        False, "BFD packing, padding-free (no cross-example attention).", trainer=True, card=True
    )
    show_example: int = setting(
        1,
        "Before training, print N tokenized examples with the trained tokens in [[...]] (0 = off). The first is checked either way: loss mask not empty, end of turn trained, <think> not opened twice; a failed check stops the run.",
        result=False,
    )
    gradient_checkpointing: bool = setting(
        False, "Trade compute for memory.", result=False, trainer=True
    )
    # auto: bf16 on GPUs that have it, else fp16 on GPU, fp32 on CPU
    precision: str = setting("auto", "auto | bf16 | fp16 | fp32 (auto: by hardware).", card=True)
    attn_implementation: str | None = setting(
        None, "e.g. flash_attention_2, sdpa, eager.", result=False
    )
    seed: int = setting(42, "Seed.", trainer=True, card=True)
    # --- context: a max_length beyond the student's max_position_embeddings is refused unless
    # extended here (RoPE models), as open-r1 did for Qwen2.5-Math (4k -> 32k, rope_theta 300k)
    rope_theta: float | None = setting(
        None, "Set the student's RoPE base (with --max-position-embeddings, to extend it)."
    )
    max_position_embeddings: int | None = setting(
        None, "Extend the student's context (max_length beyond it is refused otherwise)."
    )
    # --- bookkeeping
    logging_steps: int = setting(1, "Log loss every N steps.", result=False, trainer=True)
    save_steps: int = setting(200, "Checkpoint every N steps.", result=False, trainer=True)
    save_total_limit: int = setting(
        2, "Checkpoints kept (older ones are deleted).", cli=False, trainer=True, result=False
    )
    resume: bool = setting(
        False,
        "Continue from the last checkpoint in --output-dir.",
        flags=("--resume",),
        result=False,
    )
    # a fresh run may delete the checkpoints an earlier run left there
    overwrite: bool = setting(
        False,
        "Start over in an --output-dir holding an earlier run's checkpoints.",
        flags=("--overwrite",),
        result=False,
    )
    merge: bool = setting(
        False,
        "Also write merged full weights to OUTPUT_DIR/merged.",
        flags=("--merge",),
        result=False,
    )
    report_to: str = setting("none", "none | tensorboard | wandb.", result=False)
    dataloader_num_workers: int = setting(
        0, "Data loader worker processes.", cli=False, trainer=True, result=False
    )
    # --- token-level distillation (distill/train/kd/; README "Token-level distillation")
    method: str = setting(
        "sft",
        "sft (teacher text, default) | kd (teacher log-probs on the traces) | onpolicy (the student samples, the teacher scores).",
    )
    # local teacher path/name; with teacher_url: its served name. Several (a list, the flag
    # repeated): distill/train/kd/multi.py; one stays a string, as train.yaml always held it
    teacher_model: str | list[str] | None = setting(
        None,
        "kd/onpolicy teacher: a local model path/name (frozen, full vocabulary); with --teacher-url, the served model's name; NAME@URL: served at URL. Repeat for several teachers (weighted, or routed with --teacher-route-field). kd without any uses the stored top-K.",
    )
    teacher_url: str | list[str] | None = setting(
        None,
        "OpenAI-compatible vLLM server that scores tokens with prompt_logprobs (run it with --no-enable-prefix-caching). Several teachers: one per --teacher-model in the same order, or one for all.",
    )
    teacher_weight: list[float] = setting(
        factory=list,
        help="Several teachers: the weight of each one's divergence at every token, one per --teacher-model in order (normalised to sum 1; default equal; 0 = not run).",
        card=True,
    )
    teacher_route_field: str | None = setting(
        None,
        "Several teachers: the dataset column (a trace's meta column, or a.b) whose value names each example's one teacher, by its --teacher-model name or its index.",
        card=True,
    )
    teacher_top_k: int = setting(20, "Log-probs per position asked of a served teacher.")
    kd_alpha: float = setting(0.5, "kd: weight of the KL term; 1 - kd_alpha weighs cross-entropy.")
    kd_temperature: float = setting(
        1.0,
        "Distillation temperature T, softening both sides; kd scales its KL by T^2 (Hinton), "
        "onpolicy does not (TRL GKD).",
    )
    # a local teacher of another tokenizer (distill/train/kd/xtok.py)
    xtok: str = setting(
        "hybrid",
        "kd with a local teacher of another tokenizer: uld (sorted-probability L1, vocabulary-free) | hybrid (GOLD: exact KL over the tokens both vocabularies spell alike + ULD on the rest).",
    )
    beta: float = setting(1.0, "onpolicy: generalized JSD, 0 forward KL .. 1 reverse KL.")
    lmbda: float = setting(
        1.0, "onpolicy: share of batches sampled by the student; the rest are the traces."
    )
    max_new_tokens: int = setting(128, "onpolicy: tokens the student samples per prompt.")
    # --- where the student's on-policy samples come from (distill/train/kd/rollout.py; TRL's
    # use_vllm / vllm_mode). Sampling engine only: the loss is the same either way.
    rollout: str = setting(
        "hf",
        "onpolicy: who samples the student's completions: hf (model.generate in the training process) | vllm (a vLLM server at --rollout-url, or vLLM colocated on the GPU).",
    )
    rollout_url: str | None = setting(
        None,
        "--rollout vllm: the OpenAI-compatible vLLM server serving the student (http://host:port/v1); the student's weights reach it every --sync-steps as --weight-sync says (a run that cannot reach it prints the `vllm serve` line to start it with).",
        result=False,
    )
    vllm_mode: str | None = setting(
        None,
        "--rollout vllm: server (--rollout-url) | colocate (vLLM inside the training process, CUDA only, sleep mode). Default: server when --rollout-url is given, else colocate.",
    )
    sync_steps: int = setting(
        1, "--rollout vllm: send the student's weights (--weight-sync) to vLLM every N steps."
    )
    weight_sync: str | None = setting(
        None,
        "--rollout vllm with a server: how the student's weights reach it every --sync-steps: lora (the adapter hot-loaded through the runtime LoRA endpoints) | reload (the weights, a LoRA adapter merged in, saved and reloaded in place through vLLM's dev-mode /collective_rpc; serve with VLLM_SERVER_DEV_MODE=1; any device, no LoRA kernels while sampling) | nccl (TRL's VLLMClient, CUDA). Default: lora for a LoRA student; a full fine-tune nccl with CUDA, reload without.",
    )
    # None: sync_steps - 1, the age a rollout reaches between two syncs
    max_staleness: int | None = setting(
        None,
        "--rollout vllm: drop rollouts sampled from weights more than N optimizer steps old (default: --sync-steps - 1); counted in loss.jsonl as rollouts_stale.",
    )
    vllm_gpu_memory_utilization: float = setting(
        0.3,
        "--vllm-mode colocate: share of the GPU's memory vLLM takes (weights + KV cache).",
        result=False,
    )
    # memory, not results: the loss is the same to float rounding (tests/test_kd_loss.py). One
    # chunk holds ~10 [chunk, vocab] fp32 temporaries (logits, softmaxes, the divergence): at a
    # 152k vocabulary and 128 tokens ~0.8 GB, below TRL's fused SFT head on CPU (benchmarks/
    # bench_kd_memory.py)
    loss_chunk_size: int = setting(
        128,
        "Completion tokens whose logits (student and local teacher) exist at once: the head is applied per chunk from the hidden states (kd/onpolicy; sft off CUDA, where TRL's fused head is used otherwise). 0 = the full [tokens, vocab] logits (sft: TRL's own head).",
        result=False,
    )
    onpolicy_temperature: float = setting(1.0, "onpolicy: the student's sampling temperature.")
    # TRL GRPO's mask_truncated_completions (DAPO's overlong filtering): text after an answer the
    # student never ended is what the teacher is asked to score there, and a student that has
    # not learned its end of turn would be trained mostly on that
    mask_truncated: bool = setting(
        False,
        "onpolicy: a sample that ran to --max-new-tokens without ending its turn gets no loss (TRL GRPO's mask_truncated_completions); an on-policy batch whose samples all ran on trains on its kept traces instead (counted as onpolicy_fallback in loss.jsonl; a prompt source has none: no loss).",
        flags=("--mask-truncated",),
        card=True,
    )
    # --- the verifier in the loop (onpolicy; distill/train/kd/reward.py, README "Verifier in
    # the loop"): the student's samples of prompts with a gold answer are verified as filter and
    # eval verify (distill.filter.verify.judge) and a policy-gradient term on that reward joins
    # the teacher's reverse KL
    reward: str = setting(
        "none",
        "onpolicy: verify the student's samples against each prompt's gold answer (math) or tests (code, run in the sandbox) and add --reward-weight x a policy-gradient term on that reward: none | math | code.",
        card=True,
    )
    # 1.0: both terms are per-token means over the same sampled tokens; a right-or-wrong
    # advantage of +-0.5 then moves a token's log-prob about as hard as half a nat of reverse KL
    # does, so neither term drowns the other (the coefficient Tinker's on-policy recipe gives
    # its KL penalty beside the reward)
    reward_weight: float = setting(
        1.0,
        "onpolicy with --reward: weight of the policy-gradient term beside the teacher's KL.",
        card=True,
    )
    # GRPO's num_generations: a batch of B prompts becomes B x k samples
    rollouts_per_prompt: int = setting(
        1,
        "onpolicy: samples of each prompt in one batch (k; a batch of B prompts samples B x k); the reward's advantage is centred over a prompt's k samples (k = 1: over the batch).",
        card=True,
    )
    gate_teacher: bool = setting(
        False,
        "onpolicy: leave out of the teacher's term the prompts whose teacher samples in --gate-traces all failed verification (the reward term still applies to them); counted in kd.json and the card.",
        flags=("--gate-teacher",),
        card=True,
    )
    # kept.jsonl holds passing samples only: the verdicts are in generate's traces (verified here
    # with --reward's verifier) or the filter's kept + rejects (their checks.verify)
    gate_traces: list[str] = setting(
        factory=list,
        help="--gate-teacher's teacher samples: generate's traces file (verified with --reward's verifier), or the filter's kept and rejects files (their verdicts), comma-separated.",
        csv=True,
    )
    # the filter's limits (distill run gives train the filter's when its section sets none): a
    # slow test correct under filter's --verify-timeout scored 0 here at the default
    verify_timeout: int = setting(
        5, "--reward and --gate-teacher: seconds per item (math parse/verify; code per test)."
    )
    code_memory_mb: int = setting(512, cli=False)
    # onpolicy on a prompt source (rows without a completion, e.g. builtin:arithmetic or the
    # problems file given to generate): its prompts are rendered as `distill generate` renders
    # them, with these keys (defaults as generate's)
    # (and prompt_field, of Layout)
    template: str | None = setting(
        None,
        "onpolicy on a prompt source (--data without completions, e.g. builtin:arithmetic): the prompt template, as generate's (default: the built-in set's, else the raw prompt).",
    )
    system_prompt: str | None = setting(
        None, "onpolicy on a prompt source: a system message first, as generate's."
    )

    def __post_init__(self) -> None:
        if not self.data:
            raise DistillError("missing --data (kept traces or a messages/Alpaca dataset)")
        if not self.model:
            raise DistillError("missing --model (the student)")
        if not self.output_dir:
            raise DistillError("missing --output-dir")
        from distill.data import check_source_split

        check_source_split(self)  # a lone file has no test split to train on
        if self.format not in FORMATS:
            raise DistillError(f"unknown --format '{self.format}' (have: {', '.join(FORMATS)})")
        if self.overlong not in ("drop", "truncate"):
            raise DistillError("overlong must be drop or truncate")
        if self.precision not in PRECISIONS:
            raise DistillError(
                f"unknown precision '{self.precision}' (have: {', '.join(PRECISIONS)})"
            )
        if self.report_to not in ("none", "tensorboard", "wandb"):
            raise DistillError("report_to must be none, tensorboard or wandb")
        from distill.config import check_values

        check_values(
            self,
            [
                ("max_length", self.max_length is None or self.max_length >= 8, ">= 8"),
                ("per_device_train_batch_size", self.per_device_train_batch_size >= 1, ">= 1"),
                ("gradient_accumulation_steps", self.gradient_accumulation_steps >= 1, ">= 1"),
                ("lora_r", not self.lora or self.lora_r >= 1, ">= 1 (the LoRA rank)"),
                ("lora_alpha", not self.lora or self.lora_alpha > 0, "> 0"),
                ("lora_dropout", 0 <= self.lora_dropout < 1, "in [0, 1)"),
                ("learning_rate", self.learning_rate > 0, "> 0"),
                # max_steps > 0 overrides epochs; -1 (the default) trains num_train_epochs
                ("max_steps", self.max_steps == -1 or self.max_steps >= 1, ">= 1, or -1 (epochs)"),
                (
                    "num_train_epochs",
                    self.max_steps >= 1 or self.num_train_epochs > 0,
                    "> 0 (or set --max-steps): nothing would be trained",
                ),
                ("warmup_ratio", 0 <= self.warmup_ratio <= 1, "in [0, 1]"),
                ("weight_decay", self.weight_decay >= 0, ">= 0"),
                ("max_grad_norm", self.max_grad_norm > 0, "> 0"),
                ("limit", self.limit is None or self.limit >= 1, ">= 1"),
                ("logging_steps", self.logging_steps >= 1, ">= 1"),
                ("save_steps", self.save_steps >= 1, ">= 1"),
                ("loss_chunk_size", self.loss_chunk_size >= 0, ">= 0 (0 = unchunked)"),
                ("verify_timeout", self.verify_timeout >= 1, ">= 1 (seconds)"),
                ("code_memory_mb", self.code_memory_mb >= 1, ">= 1"),
            ],
            flags={"per_device_train_batch_size": "--batch-size"},
        )
        self.check_layout()
        if self.qlora and not self.lora:  # lora defaults to True: --no-lora was asked for
            raise DistillError(
                "--qlora trains a LoRA adapter on a 4-bit base, --no-lora a full fine-tune: "
                "pick one"
            )
        if self.resume and self.overwrite:
            raise DistillError(
                "--resume continues the run in --output-dir, --overwrite starts over: pick one"
            )
        if self.show_example < 0:
            raise DistillError(f"show_example must be >= 0 (0 = off), got {self.show_example}")
        if self.rope_theta is not None and self.rope_theta <= 0:
            raise DistillError(f"rope_theta must be > 0, got {self.rope_theta}")
        if self.max_position_embeddings is not None and self.max_position_embeddings < 8:
            raise DistillError(
                f"max_position_embeddings must be >= 8, got {self.max_position_embeddings}"
            )
        from distill.train.kd import check_config

        check_config(self)
        if self.mask_truncated and self.method != "onpolicy":  # (as --reward: refused, not ignored)
            raise DistillError(
                "--mask-truncated: for --method onpolicy (the student's own samples are what it "
                f"masks), not --method {self.method}"
            )
        from distill.models import check_model_path

        check_model_path(self.model, "--model")
        # with a URL it is the served name; several teachers are checked by check_config
        if isinstance(self.teacher_model, str) and not self.teacher_url:
            check_model_path(self.teacher_model, "--teacher-model")


@dataclass
class ExportConfig(Layout):
    data: str = setting("", "Kept traces (or any dataset train reads).", argument="data")
    format: str = setting("r1", "r1 -> `messages` column | alpaca -> instruction/input/output.")
    out: str = setting("", "data.jsonl or data.parquet.")
    split: str = setting("train", cli=False)
    limit: int | None = setting(None, "Only the first N examples.")
    # The student: with it, rows are prompt/completion text rendered exactly as `distill train`
    # renders them for this student (its chat template, pre-fill, end of turn, EOS).
    model: str = setting(
        "",
        "The student: write prompt/completion text rendered exactly as train renders it (needed for templates that drop reasoning, e.g. DeepSeek-R1-Distill).",
    )
    # Without --model, where a `messages` row holds each reply's reasoning: inline by default,
    # `<think>\nR\n</think>\n\nA` in the content (open-r1's Mixture-of-Thoughts layout, what a
    # template that reads the content trains, and what Qwen3's and GLM's split themselves); under
    # a key of its own for a student whose template reads it there (export.py says which).
    reasoning_key: str = setting(
        "",
        "Without --model: write each reply's reasoning under this message key (reasoning_content: Qwen3, GLM; thinking: gpt-oss; chunks: a thinking content chunk, Mistral's reasoning models) and the answer alone as content, instead of inline as <think>...</think> (default).",
    )
    # with --model: print N examples with their loss tokens in [[...]]
    show_example: int = setting(
        1,
        "With --model: print N examples tokenized as train does, trained tokens in [[...]] (0 = off), and check them as train does.",
    )

    def __post_init__(self) -> None:
        self.check_layout()
        if self.show_example < 0:
            raise DistillError(f"show_example must be >= 0 (0 = off), got {self.show_example}")
        if not self.data or not self.out:
            raise DistillError("needs the kept traces (DATA) and --out")
        from distill.data import check_source_split

        check_source_split(self, "split")  # (a recipe key: no --split flag)
        if self.format not in FORMATS:
            raise DistillError(f"unknown --format '{self.format}' (have: {', '.join(FORMATS)})")
        if not self.out.endswith((".jsonl", ".parquet")):
            raise DistillError(f"--out must end in .jsonl or .parquet: {self.out}")
        keys = (*REASONING_KEYS, REASONING_CHUNKS)
        if self.reasoning_key and self.reasoning_key not in keys:
            raise DistillError(
                f"--reasoning-key {self.reasoning_key}: must be one of {', '.join(keys)}"
            )
        if self.reasoning_key and (self.model or self.format != "r1"):
            raise DistillError(
                "--reasoning-key: only for --format r1 without --model ("
                + (
                    "--model renders each row with the student's own template, which puts the "
                    "reasoning where it reads it)"
                    if self.model
                    else "--format alpaca writes the answer alone)"
                )
            )
