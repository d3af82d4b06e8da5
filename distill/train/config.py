"""The train and export stages' settings (TrainConfig, ExportConfig). Light on purpose: no torch,
so `distill --help` and recipe checks stay instant.

    distill train --help      # every key below, as a flag
"""

from __future__ import annotations

from dataclasses import dataclass, field

from distill.errors import DistillError
from distill.examples import FORMATS, Layout

PRECISIONS = ("auto", "bf16", "fp16", "fp32")
DEFAULT_MAX_LENGTH = 2048  # tokens per example when --max-length is not given (or the context)


@dataclass
class TrainConfig(Layout):
    data: str = ""  # kept.jsonl, a dataset with a `messages` column, or Alpaca columns
    model: str = ""  # student: HF name/path or builtin:smollm2
    output_dir: str = ""
    format: str = "r1"  # r1 (chat template + <think>) | alpaca (Alpaca prompt)
    split: str = "train"
    limit: int | None = None  # use the first N examples
    # tokens per example (prompt + completion); default min(2048, the student's context)
    max_length: int | None = None
    overlong: str = "drop"  # drop | truncate: what to do with examples longer than max_length
    # --- LoRA / QLoRA / full
    # The student's tokenizer when not its own (the teacher's: same BPE, the teacher's special
    # tokens and chat template, as DeepSeek's R1-Distill-Qwen students); saved with the student.
    tokenizer: str | None = None
    lora: bool = True
    qlora: bool = False  # 4-bit base via bitsandbytes (CUDA only)
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: list[str] = field(default_factory=lambda: ["all-linear"])
    # --- optimisation
    learning_rate: float = 2e-4
    num_train_epochs: float = 3.0
    max_steps: int = -1  # > 0 overrides epochs
    per_device_train_batch_size: int = 8
    gradient_accumulation_steps: int = 1
    warmup_ratio: float = 0.03
    lr_scheduler_type: str = "cosine"
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    packing: bool = False  # BFD packing, padding-free; sequences never attend to each other
    show_example: int = 1  # print N tokenized examples, loss tokens in [[...]], before training
    gradient_checkpointing: bool = False
    precision: str = "auto"  # auto: bf16 on GPUs that have it, else fp16 on GPU, fp32 on CPU
    attn_implementation: str | None = None  # e.g. flash_attention_2 on GPUs
    seed: int = 42
    # --- context: a max_length beyond the student's max_position_embeddings is refused unless
    # extended here (RoPE models), as open-r1 did for Qwen2.5-Math (4k -> 32k, rope_theta 300k)
    rope_theta: float | None = None
    max_position_embeddings: int | None = None
    # --- bookkeeping
    logging_steps: int = 1
    save_steps: int = 200
    save_total_limit: int = 2
    resume: bool = False  # continue from the last checkpoint in output_dir (same run config)
    overwrite: bool = False  # a fresh run may delete the checkpoints an earlier run left there
    merge: bool = False  # also write merged full weights to output_dir/merged
    report_to: str = "none"  # none | tensorboard | wandb
    dataloader_num_workers: int = 0
    # --- token-level distillation (distill/train/kd/; README "Token-level distillation")
    method: str = "sft"  # sft (text) | kd (teacher log-probs on the traces) | onpolicy (GKD)
    teacher_model: str | None = None  # local teacher path/name; with teacher_url: its served name
    teacher_url: str | None = None  # OpenAI-compatible vLLM server scoring with prompt_logprobs
    teacher_top_k: int = 20  # log-probs per position asked of a served teacher
    kd_alpha: float = 0.5  # kd: weight of the KL term; 1 - kd_alpha weighs cross-entropy
    kd_temperature: float = 1.0  # softmax temperature of both distributions (KL scaled by T^2)
    beta: float = 1.0  # onpolicy: generalized JSD, 0 = forward KL, 1 = reverse KL
    lmbda: float = 1.0  # onpolicy: share of batches the student samples itself (GKD)
    max_new_tokens: int = 128  # onpolicy: tokens the student samples per prompt
    onpolicy_temperature: float = 1.0  # onpolicy: the student's sampling temperature
    # onpolicy on a prompt source (rows without a completion, e.g. builtin:arithmetic or the
    # problems file given to generate): its prompts are rendered as `distill generate` renders
    # them, with these keys (defaults as generate's)
    # (and prompt_field, of Layout)
    template: str | None = None
    system_prompt: str | None = None

    def __post_init__(self) -> None:
        if not self.data:
            raise DistillError("missing --data (kept traces or a messages/Alpaca dataset)")
        if not self.model:
            raise DistillError("missing --model (the student)")
        if not self.output_dir:
            raise DistillError("missing --output-dir")
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
            ],
            flags={"per_device_train_batch_size": "--batch-size"},
        )
        self.check_layout()
        if self.qlora:
            self.lora = True
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
        from distill.models import check_model_path

        check_model_path(self.model, "--model")
        if self.teacher_model and not self.teacher_url:  # with a URL it is the served name
            check_model_path(self.teacher_model, "--teacher-model")


@dataclass
class ExportConfig(Layout):
    data: str = ""
    format: str = "r1"  # r1 -> a `messages` dataset; alpaca -> instruction/input/output columns
    out: str = ""
    split: str = "train"
    limit: int | None = None
    # The student: with it, rows are prompt/completion text rendered exactly as `distill train`
    # renders them for this student (its chat template, pre-fill, end of turn, EOS).
    model: str = ""
    show_example: int = 1  # with --model: print N examples with their loss tokens in [[...]]

    def __post_init__(self) -> None:
        self.check_layout()
        if self.show_example < 0:
            raise DistillError(f"show_example must be >= 0 (0 = off), got {self.show_example}")
        if not self.data or not self.out:
            raise DistillError("export needs the kept traces and --out")
        if self.format not in FORMATS:
            raise DistillError(f"unknown --format '{self.format}' (have: {', '.join(FORMATS)})")
        if not self.out.endswith((".jsonl", ".parquet")):
            raise DistillError(f"--out must end in .jsonl or .parquet: {self.out}")
