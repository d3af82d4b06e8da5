"""The `distill` command. Each command parses flags (+ an optional recipe) into its stage's
config dataclass and calls that stage's `run`. Heavy libraries load inside the stages, so
`distill --help` is instant.

    distill --help
    distill generate --recipe recipes/smoke.yaml --n 8

Precedence: CLI flags > recipe keys > defaults. Bad input exits 1 with one line on stderr;
`--debug` (or DISTILL_DEBUG=1) shows the traceback instead.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

try:  # typer >= 0.22 carries its own copy of click
    from typer._click.exceptions import NoArgsIsHelpError, NoSuchOption, UsageError
except ImportError:  # pragma: no cover - older typer uses click itself
    from click.exceptions import NoArgsIsHelpError, NoSuchOption, UsageError

from distill.errors import DistillError


class _OneLineUsage(TyperGroup):
    """Usage errors (unknown flag, bad value, missing option) as one `error:` line on stderr,
    like every other bad input, instead of click's usage block. click suggests any option
    within 0.6 similarity counting the shared `--` (`--foo` -> `--out`); only close names are
    suggested here."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:  # `distill --bogus`: the group's own flags
            return super().parse_args(ctx, args)
        except UsageError as e:
            _usage_error(e, ctx)

    def invoke(self, ctx: Any) -> Any:
        try:  # a command's flags, and an unknown command
            return super().invoke(ctx)
        except UsageError as e:
            _usage_error(e, ctx)


def _usage_error(e: Any, ctx: Any) -> NoReturn:
    if isinstance(e, NoArgsIsHelpError):  # bare `distill`: the help, as typer shows it
        raise e
    sub = e.ctx or ctx
    msg = e.format_message().strip().splitlines()[0] if e.format_message() else str(e)
    if isinstance(e, NoSuchOption):
        names = [o for p in sub.command.params for o in (*p.opts, *p.secondary_opts)]
        close = difflib.get_close_matches(
            e.option_name.lstrip("-"), [n.lstrip("-") for n in names if n.startswith("--")],
            n=1, cutoff=0.7,
        )  # fmt: skip
        msg = f"no such option: {e.option_name}" + (
            f" (did you mean --{close[0]}?)" if close else ""
        )
    print(f"error: {msg} (see: {sub.command_path} --help)", file=sys.stderr)
    raise typer.Exit(2) from None


app = typer.Typer(
    cls=_OneLineUsage,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Knowledge distillation: teacher traces -> filter -> student SFT -> eval -> publish.",
)
_state = {"debug": False}


@app.callback()
def main(
    debug: bool = typer.Option(
        False, "--debug", help="Show tracebacks instead of one-line errors."
    ),
) -> None:
    _state["debug"] = debug or os.environ.get("DISTILL_DEBUG") == "1"


def _run(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except DistillError as e:
        if _state["debug"]:
            raise
        print(f"error: {e}", file=sys.stderr)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        print(
            "interrupted: everything finished so far is saved; rerun the same command to resume",
            file=sys.stderr,
        )
        raise typer.Exit(130) from None
    except Exception as e:  # noqa: BLE001 - last resort: still one line, never a raw traceback
        if _state["debug"]:
            raise
        if isinstance(e, OSError) and e.filename and e.strerror:
            # A filesystem error names its path: say which and what is wrong, not the class.
            print(f"error: {e.filename}: {e.strerror}", file=sys.stderr)
            raise typer.Exit(1) from None
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        print(
            f"error: {type(e).__name__}: {msg} (rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        raise typer.Exit(1) from None


RecipeOpt = typer.Option(None, "--recipe", help="Recipe YAML; CLI flags override its keys.")


# How a dataset's rows become training text (distill.examples.Layout), shared by `train` and
# `export`: one definition each, as TEACHER_OPTS.
LAYOUT_OPTS = {
    "messages_field": typer.Option(
        None, help="The chat column (needed when a row has both messages and conversations)."
    ),
    "system_field": typer.Option(None, help="Column holding a system message, put first."),
    "context_field": typer.Option(
        None,
        help="Column appended to the prompt after a blank line (Alpaca's input, dolly's context).",
    ),
    "reasoning_field": typer.Option(
        None,
        help="Column holding the reasoning (text, or a list of texts joined by blank lines, as "
        "s1K's thinking_trajectories); trained in a think block before the answer.",
    ),
    "answer_field": typer.Option(
        None,
        "--answer-field",
        "--completion-field",
        help="Column holding the completion's visible answer (with --prompt-field: any dataset "
        "layout, e.g. s1K: --prompt-field question --reasoning-field thinking_trajectories "
        "--answer-field attempt).",
    ),
    "train_on": typer.Option(
        None, help="all (default): every assistant turn of a chat carries the loss | last."
    ),
    "keep_markers": typer.Option(
        None,
        "--keep-markers",
        help="Train <|begin_of_thought|>/<|begin_of_solution|> markers verbatim (default: the "
        "thought is the reasoning, the solution the answer).",
    ),
    "chat": typer.Option(
        None,
        "--chat",
        help="Text prompt/completion rows in a chat turn (default: a raw continuation, as TRL).",
    ),
}


# Teacher flags shared by `generate` and `instruct`: one definition, the same name, default
# and help in both (typer reads options from each signature, so each still names them).
TEACHER_OPTS = {
    "teacher": typer.Option(None, help="Backend: openai | vllm | hf."),
    "model": typer.Option(None, help="Teacher model: API name, HF path/name, or builtin:smollm2."),
    "base_url": typer.Option(
        None, help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1."
    ),
    "api_key_env": typer.Option(None, help="Env var holding the API key (default OPENAI_API_KEY)."),
    "concurrency": typer.Option(None, help="Requests in flight (openai teacher; default 32)."),
    "max_retries": typer.Option(
        None, help="Retries on connection errors/408/409/429/5xx (default 6)."
    ),
    "request_timeout": typer.Option(None, help="Seconds per request try (default 600)."),
    "rpm": typer.Option(None, help="Max requests per minute."),
    "tpm": typer.Option(None, help="Max tokens per minute."),
    "price_input": typer.Option(
        None, help="$ per 1M prompt tokens (overrides the built-in table)."
    ),
    "price_output": typer.Option(None, help="$ per 1M completion tokens."),
    "tensor_parallel_size": typer.Option(None, help="vllm: GPUs per model."),
    "gpu_memory_utilization": typer.Option(None, help="vllm: fraction of memory to reserve."),
    "dtype": typer.Option(None, help="vllm: auto | bfloat16 | float16 | float32."),
    "max_model_len": typer.Option(None, help="vllm: context length cap."),
    "shard_size": typer.Option(
        None, help="vllm: prompts per shard written before the next starts."
    ),
    "batch_size": typer.Option(None, help="hf: sequences per generate batch."),
    "device": typer.Option(None, help="hf: auto | cpu | cuda."),
}


@app.command()
def generate(
    recipe: Path | None = RecipeOpt,
    data: str | None = typer.Option(
        None,
        help="builtin:arithmetic | builtin:countdown | .jsonl/.json/.parquet/.csv | HF dataset name",
    ),
    split: str | None = typer.Option(None, help="Dataset split (hub datasets)."),
    prompt_field: str | None = typer.Option(
        None, help="Field holding the prompt (default: problem/question/prompt/instruction)."
    ),
    answer_field: str | None = typer.Option(
        None, help="Field holding the gold answer (default: answer)."
    ),
    id_field: str | None = typer.Option(
        None, help="Field holding a stable row id (default: id, else a hash of the prompt)."
    ),
    limit: int | None = typer.Option(None, help="Use only the first L rows."),
    template: str | None = typer.Option(
        None, help="Prompt template: prompts/X.txt or a name (r1-math, alpaca, code, countdown)."
    ),
    system_prompt: str | None = typer.Option(
        None, help="System message (DeepSeek advises none for R1)."
    ),
    teacher: str | None = TEACHER_OPTS["teacher"],
    model: str | None = TEACHER_OPTS["model"],
    base_url: str | None = TEACHER_OPTS["base_url"],
    api_key_env: str | None = TEACHER_OPTS["api_key_env"],
    n: int | None = typer.Option(None, help="Samples per prompt."),
    temperature: float | None = typer.Option(None, help="Sampling temperature (default 0.6)."),
    top_p: float | None = typer.Option(None, help="Nucleus sampling (default 0.95)."),
    max_tokens: int | None = typer.Option(None, help="Max new tokens per sample (default 4096)."),
    seed: int | None = typer.Option(None, help="Sampling seed."),
    concurrency: int | None = TEACHER_OPTS["concurrency"],
    max_retries: int | None = TEACHER_OPTS["max_retries"],
    request_timeout: float | None = TEACHER_OPTS["request_timeout"],
    rpm: float | None = TEACHER_OPTS["rpm"],
    tpm: float | None = TEACHER_OPTS["tpm"],
    n_per_request: bool | None = typer.Option(
        None,
        "--n-per-request/--separate-requests",
        help="Use the API's n, or one request per sample.",
    ),
    price_input: float | None = TEACHER_OPTS["price_input"],
    price_output: float | None = TEACHER_OPTS["price_output"],
    tensor_parallel_size: int | None = TEACHER_OPTS["tensor_parallel_size"],
    gpu_memory_utilization: float | None = TEACHER_OPTS["gpu_memory_utilization"],
    dtype: str | None = TEACHER_OPTS["dtype"],
    max_model_len: int | None = TEACHER_OPTS["max_model_len"],
    shard_size: int | None = TEACHER_OPTS["shard_size"],
    logprobs: int | None = typer.Option(
        None,
        help="Keep the teacher's top-K log-probs per completion token in <out>.logprobs/ "
        "(hf, vllm; openai against a server that returns logprobs, e.g. vLLM's).",
    ),
    logprobs_shard: int | None = typer.Option(
        None, help="Records per log-prob shard; a kill loses at most this many (default 256)."
    ),
    batch_size: int | None = TEACHER_OPTS["batch_size"],
    device: str | None = TEACHER_OPTS["device"],
    out: str | None = typer.Option(
        None, help="Traces file to append to (resumes from what it holds)."
    ),
    batch: bool | None = typer.Option(
        None,
        "--batch/--online",
        help="openai: send the pending samples through the provider's Batch API (half price at "
        "OpenAI); batch ids are kept in <out>.batches.json, so a rerun re-attaches.",
    ),
    batch_requests: int | None = typer.Option(
        None, help="--batch: requests per batch (default 50000; files are also split at 190 MB)."
    ),
    batch_window: str | None = typer.Option(
        None, help="--batch: completion window (default 24h, the only one OpenAI accepts)."
    ),
    batch_poll: float | None = typer.Option(
        None, help="--batch: seconds between status polls (default 30)."
    ),
    batch_discount: float | None = typer.Option(
        None,
        help="--batch: cost = online price x (1 - discount) (default 0.5; 0 when --price-input/"
        "--price-output are the batch prices).",
    ),
    batch_max_rounds: int | None = typer.Option(
        None,
        help="--batch: submissions per sample; failed/expired lines go to the next batch "
        "(default 3).",
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Generate teacher traces into an append-only, resumable JSONL file."""
    overrides = {k: v for k, v in locals().items() if k not in ("recipe", "quiet")}

    def go() -> None:
        from distill.config import load_config
        from distill.generate import GenerateConfig, run

        cfg = load_config(GenerateConfig, "generate", recipe, overrides)
        run(cfg, progress=not quiet and sys.stderr.isatty())

    _run(go)


def _csv(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value is not None else None


@app.command()
def instruct(
    recipe: Path | None = RecipeOpt,
    seed_tasks: str | None = typer.Option(
        None,
        help="Seed tasks, self-instruct's JSONL (instruction, instances[0].input/output); default prompts/seed_tasks.jsonl.",
    ),
    method: str | None = typer.Option(
        None, help="self-instruct (default) | magpie (hf/vllm teachers only)."
    ),
    num_instructions: int | None = typer.Option(
        None, help="Kept instructions to reach (default 100; Alpaca: 52000)."
    ),
    out: str | None = typer.Option(
        None, help="instructions.jsonl (Alpaca columns; a rerun resumes from it)."
    ),
    template: str | None = typer.Option(
        None, help="Prompt template with {num_tasks} {examples} {next} (default self-instruct)."
    ),
    num_prompt_tasks: int | None = typer.Option(
        None, help="In-context tasks per request (default 3, as Alpaca)."
    ),
    num_prompt_generated: int | None = typer.Option(
        None, help="Of those, how many come from already-kept instructions (default 1)."
    ),
    num_tasks_per_request: int | None = typer.Option(
        None, help="Length of the list each request asks for (default 20)."
    ),
    request_batch_size: int | None = typer.Option(
        None, help="Requests per round (default: --concurrency, or --batch-size for hf)."
    ),
    max_rouge: float | None = typer.Option(
        None, help="Drop an instruction with ROUGE-L >= this vs any kept or seed one (default 0.7)."
    ),
    min_words: int | None = typer.Option(None, help="Drop instructions shorter (default 4)."),
    max_words: int | None = typer.Option(None, help="Drop instructions longer (default 150)."),
    blacklist: str | None = typer.Option(
        None, help="Comma list of words that drop an instruction (default: Alpaca's list)."
    ),
    language: str | None = typer.Option(
        None, help="en (default): drop non-English instructions | any."
    ),
    dedup: str | None = typer.Option(
        None, help="none | exact | near (default; MinHash, includes exact)."
    ),
    dedup_threshold: float | None = typer.Option(
        None, help="Jaccard similarity for near-duplicates (default 0.8)."
    ),
    include_seeds: bool | None = typer.Option(
        None, "--include-seeds/--no-include-seeds", help="Also write the seed tasks (source: seed)."
    ),
    system_prompt: str | None = typer.Option(
        None, help="magpie: system message that steers the instructions."
    ),
    instruction_max_tokens: int | None = typer.Option(
        None, help="magpie: max tokens of a written instruction (default 256)."
    ),
    stall_rounds: int | None = typer.Option(
        None, help="Stop after this many rounds in a row keep nothing (default 5)."
    ),
    teacher: str | None = TEACHER_OPTS["teacher"],
    model: str | None = TEACHER_OPTS["model"],
    base_url: str | None = TEACHER_OPTS["base_url"],
    api_key_env: str | None = TEACHER_OPTS["api_key_env"],
    temperature: float | None = typer.Option(None, help="Sampling temperature (default 1.0)."),
    top_p: float | None = typer.Option(None, help="Nucleus sampling (default 1.0)."),
    max_tokens: int | None = typer.Option(None, help="Max new tokens per reply (default 3072)."),
    seed: int | None = typer.Option(None, help="Seed for in-context sampling and the teacher."),
    concurrency: int | None = TEACHER_OPTS["concurrency"],
    max_retries: int | None = TEACHER_OPTS["max_retries"],
    request_timeout: float | None = TEACHER_OPTS["request_timeout"],
    rpm: float | None = TEACHER_OPTS["rpm"],
    tpm: float | None = TEACHER_OPTS["tpm"],
    price_input: float | None = TEACHER_OPTS["price_input"],
    price_output: float | None = TEACHER_OPTS["price_output"],
    tensor_parallel_size: int | None = TEACHER_OPTS["tensor_parallel_size"],
    gpu_memory_utilization: float | None = TEACHER_OPTS["gpu_memory_utilization"],
    dtype: str | None = TEACHER_OPTS["dtype"],
    max_model_len: int | None = TEACHER_OPTS["max_model_len"],
    shard_size: int | None = TEACHER_OPTS["shard_size"],
    batch_size: int | None = TEACHER_OPTS["batch_size"],
    device: str | None = TEACHER_OPTS["device"],
    chat_template: bool | None = typer.Option(
        None,
        "--chat-template/--raw-prompt",
        help="hf/vllm self-instruct: send the prompt in the chat template (default) or raw.",
    ),
) -> None:
    """Write new instructions from seed tasks (self-instruct as Alpaca did, or Magpie): filtered, resumable."""
    overrides = {k: v for k, v in locals().items() if k != "recipe"}
    overrides["blacklist"] = _csv(blacklist)

    def go() -> None:
        from distill.config import load_config
        from distill.instruct import InstructConfig, run

        run(load_config(InstructConfig, "instruct", recipe, overrides))

    _run(go)


@app.command("filter")
def filter_(
    traces: str | None = typer.Argument(None, help="traces.jsonl from `distill generate`."),
    recipe: Path | None = RecipeOpt,
    out: str | None = typer.Option(None, help="Kept traces (JSONL)."),
    rejects: str | None = typer.Option(
        None, help="Rejected traces with reject_reason (default: <out>.rejects.jsonl)."
    ),
    report: str | None = typer.Option(
        None, help="Report JSON (default: <out>.report.json; a PNG beside it)."
    ),
    verify: str | None = typer.Option(
        None, help="none | math | choice | exact | code | countdown | majority."
    ),
    verify_timeout: int | None = typer.Option(
        None, help="Seconds per item (math parse/verify; code per test)."
    ),
    min_agreement: float | None = typer.Option(
        None, help="majority: share of samples that must agree (default 0.5)."
    ),
    keep_unverifiable: bool | None = typer.Option(
        None,
        "--keep-unverifiable/--drop-unverifiable",
        help="Keep traces whose gold does not parse.",
    ),
    dedup: str | None = typer.Option(
        None, help="none | exact | near (MinHash LSH; includes exact)."
    ),
    dedup_threshold: float | None = typer.Option(
        None, help="Jaccard similarity for near-duplicates (default 0.8)."
    ),
    shingle_size: int | None = typer.Option(None, help="Words per MinHash shingle (default 5)."),
    dedup_prompts: bool | None = typer.Option(
        None, "--dedup-prompts/--no-dedup-prompts", help="Also drop duplicate prompts."
    ),
    checks: str | None = typer.Option(
        None,
        help="Comma list of checks to run (default: truncated,think_tags,empty,length,language_mix,repetition; + long_paragraph,code_block for math).",
    ),
    skip_checks: str | None = typer.Option(None, help="Comma list of checks to switch off."),
    min_tokens: int | None = typer.Option(None, help="Drop traces shorter than this."),
    max_tokens: int | None = typer.Option(None, help="Drop traces longer than this."),
    tokenizer: str | None = typer.Option(
        None, help="Student tokenizer for token counts (default ~4 chars/token)."
    ),
    decontam: list[str] | None = typer.Option(
        None,
        help="Benchmark file or hub dataset (name@split) to decontaminate against; repeatable.",
    ),
    decontam_ngram: int | None = typer.Option(
        None, help="Word n-gram size for decontamination (default 8)."
    ),
    select: str | None = typer.Option(
        None, help="all | first | shortest: which passing traces per prompt to keep."
    ),
    max_per_prompt: int | None = typer.Option(None, help="Keep at most k traces per prompt."),
    min_pass_rate: float | None = typer.Option(
        None, help="Drop prompts the teacher solves less often than this."
    ),
    max_pass_rate: float | None = typer.Option(
        None, help="Drop prompts the teacher solves more often than this (0.99: always-solved)."
    ),
    num_proc: int | None = typer.Option(None, help="Worker processes for checks and verification."),
    unsafe_sandbox: bool | None = typer.Option(
        None,
        "--unsafe-sandbox",
        help="code: run model-written code without OS isolation where bwrap/unshare do not work (rlimits + Python guard only; named in the report and card).",
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No report table."),
) -> None:
    """Dedup, verify, check, decontaminate and select traces; write kept, rejects and a report."""
    overrides = {k: v for k, v in locals().items() if k not in ("recipe", "quiet", "traces")}
    overrides["input"] = traces
    overrides["checks"] = _csv(checks)
    overrides["skip_checks"] = _csv(skip_checks)

    def go() -> None:
        from distill.config import load_config
        from distill.filter import FilterConfig, run

        cfg = load_config(FilterConfig, "filter", recipe, overrides)
        run(cfg, quiet=quiet)

    _run(go)


@app.command()
def train(
    recipe: Path | None = RecipeOpt,
    data: str | None = typer.Option(
        None,
        help="Kept traces (JSONL), or a dataset with a `messages` column or Alpaca columns; "
        "--method onpolicy (lmbda 1) also takes prompts alone, as generate does.",
    ),
    model: str | None = typer.Option(None, help="Student: HF name/path or builtin:smollm2."),
    tokenizer: str | None = typer.Option(
        None,
        help="The student's tokenizer when not its own: e.g. the teacher's (same BPE, the "
        "teacher's special tokens and chat template), as DeepSeek's R1-Distill students.",
    ),
    output_dir: str | None = typer.Option(
        None, help="Where the adapter/weights, tokenizer, config and loss log go."
    ),
    format: str | None = typer.Option(
        None, help="r1 (chat template + <think> block) | alpaca (Alpaca prompt)."
    ),
    split: str | None = typer.Option(None, help="Dataset split (hub datasets)."),
    limit: int | None = typer.Option(None, help="Use the first N examples."),
    max_length: int | None = typer.Option(
        None, help="Max tokens per example (default: min(2048, the student's context))."
    ),
    overlong: str | None = typer.Option(
        None, help="drop | truncate examples longer than max_length (default drop)."
    ),
    lora: bool | None = typer.Option(
        None, "--lora/--no-lora", help="LoRA adapter (default) or full fine-tuning."
    ),
    qlora: bool | None = typer.Option(None, "--qlora", help="4-bit QLoRA (CUDA + bitsandbytes)."),
    lora_r: int | None = typer.Option(None, help="LoRA rank (default 16)."),
    lora_alpha: int | None = typer.Option(None, help="LoRA alpha (default 32)."),
    lora_dropout: float | None = typer.Option(None, help="LoRA dropout (default 0.05)."),
    lora_target_modules: str | None = typer.Option(
        None, help="Comma list of modules, or all-linear (default)."
    ),
    learning_rate: float | None = typer.Option(None, help="Peak learning rate (default 2e-4)."),
    num_train_epochs: float | None = typer.Option(None, help="Epochs (default 3)."),
    max_steps: int | None = typer.Option(
        None, help="Stop after N optimizer steps (overrides epochs)."
    ),
    per_device_train_batch_size: int | None = typer.Option(
        None,
        "--batch-size",
        "--per-device-train-batch-size",
        help="Sequences per device per step (default 8).",
    ),
    gradient_accumulation_steps: int | None = typer.Option(
        None, help="Gradient accumulation (default 1)."
    ),
    warmup_ratio: float | None = typer.Option(None, help="Warmup share of steps (default 0.03)."),
    lr_scheduler_type: str | None = typer.Option(None, help="Scheduler (default cosine)."),
    weight_decay: float | None = typer.Option(None, help="Weight decay (default 0)."),
    packing: bool | None = typer.Option(
        None,
        "--packing/--no-packing",
        help="BFD packing, padding-free (no cross-example attention).",
    ),
    show_example: int | None = typer.Option(
        None,
        help="Before training, print N tokenized examples with the trained tokens in [[...]] "
        "(default 1; 0 = off). The first is checked either way: loss mask not empty, end of turn "
        "trained, <think> not opened twice; a failed check stops the run.",
    ),
    gradient_checkpointing: bool | None = typer.Option(
        None,
        "--gradient-checkpointing/--no-gradient-checkpointing",
        help="Trade compute for memory.",
    ),
    precision: str | None = typer.Option(
        None, help="auto | bf16 | fp16 | fp32 (auto: by hardware)."
    ),
    attn_implementation: str | None = typer.Option(
        None, help="e.g. flash_attention_2, sdpa, eager."
    ),
    seed: int | None = typer.Option(None, help="Seed (default 42)."),
    rope_theta: float | None = typer.Option(
        None, help="Set the student's RoPE base (with --max-position-embeddings, to extend it)."
    ),
    max_position_embeddings: int | None = typer.Option(
        None, help="Extend the student's context (max_length beyond it is refused otherwise)."
    ),
    logging_steps: int | None = typer.Option(None, help="Log loss every N steps."),
    save_steps: int | None = typer.Option(None, help="Checkpoint every N steps (default 200)."),
    resume: bool | None = typer.Option(
        None, "--resume", help="Continue from the last checkpoint in --output-dir."
    ),
    overwrite: bool | None = typer.Option(
        None,
        "--overwrite",
        help="Start over in an --output-dir holding an earlier run's checkpoints.",
    ),
    merge: bool | None = typer.Option(
        None, "--merge", help="Also write merged full weights to OUTPUT_DIR/merged."
    ),
    report_to: str | None = typer.Option(None, help="none | tensorboard | wandb."),
    method: str | None = typer.Option(
        None,
        help="sft (teacher text, default) | kd (teacher log-probs on the traces) | onpolicy "
        "(the student samples, the teacher scores).",
    ),
    teacher_model: str | None = typer.Option(
        None,
        help="kd/onpolicy teacher: a local model path/name (frozen, full vocabulary); with "
        "--teacher-url, the served model's name. kd without either uses the stored top-K.",
    ),
    teacher_url: str | None = typer.Option(
        None,
        help="OpenAI-compatible vLLM server that scores tokens with prompt_logprobs (run it "
        "with --no-enable-prefix-caching).",
    ),
    teacher_top_k: int | None = typer.Option(
        None, help="Log-probs per position asked of a served teacher (default 20)."
    ),
    kd_alpha: float | None = typer.Option(
        None, help="kd: weight of the KL term; 1 - kd_alpha weighs cross-entropy (default 0.5)."
    ),
    kd_temperature: float | None = typer.Option(
        None, help="Distillation temperature T; the KL is scaled by T^2 (default 1)."
    ),
    beta: float | None = typer.Option(
        None, help="onpolicy: generalized JSD, 0 forward KL .. 1 reverse KL (default 1)."
    ),
    lmbda: float | None = typer.Option(
        None,
        help="onpolicy: share of batches sampled by the student; the rest are the traces (default 1).",
    ),
    max_new_tokens: int | None = typer.Option(
        None, help="onpolicy: tokens the student samples per prompt (default 128)."
    ),
    onpolicy_temperature: float | None = typer.Option(
        None, help="onpolicy: the student's sampling temperature (default 1)."
    ),
    template: str | None = typer.Option(
        None,
        help="onpolicy on a prompt source (--data without completions, e.g. builtin:arithmetic): "
        "the prompt template, as generate's (default: the built-in set's, else the raw prompt).",
    ),
    prompt_field: str | None = typer.Option(
        None,
        help="Column holding the prompt: with --answer-field, which column is what (any method); "
        "alone, onpolicy on a prompt source (the field, rendered as generate's).",
    ),
    messages_field: str | None = LAYOUT_OPTS["messages_field"],
    system_field: str | None = LAYOUT_OPTS["system_field"],
    context_field: str | None = LAYOUT_OPTS["context_field"],
    reasoning_field: str | None = LAYOUT_OPTS["reasoning_field"],
    answer_field: str | None = LAYOUT_OPTS["answer_field"],
    train_on: str | None = LAYOUT_OPTS["train_on"],
    keep_markers: bool | None = LAYOUT_OPTS["keep_markers"],
    chat: bool | None = LAYOUT_OPTS["chat"],
    system_prompt: str | None = typer.Option(
        None, help="onpolicy on a prompt source: a system message first, as generate's."
    ),
) -> None:
    """Fine-tune a student (LoRA/QLoRA/full SFT with TRL) on kept traces; loss on completions only.
    --method kd / onpolicy distil the teacher's token distribution instead (distill/train/kd/)."""
    overrides = {k: v for k, v in locals().items() if k != "recipe"}
    overrides["lora_target_modules"] = _csv(lora_target_modules)

    def go() -> None:
        from distill.config import load_config
        from distill.train import TrainConfig, run

        run(load_config(TrainConfig, "train", recipe, overrides))

    _run(go)


@app.command()
def export(
    data: str = typer.Argument(..., help="Kept traces (or any dataset train reads)."),
    format: str = typer.Option(
        "r1", help="r1 -> `messages` column | alpaca -> instruction/input/output."
    ),
    out: str = typer.Option(..., help="data.jsonl or data.parquet."),
    limit: int | None = typer.Option(None, help="Only the first N examples."),
    model: str | None = typer.Option(
        None,
        help="The student: write prompt/completion text rendered exactly as train renders it "
        "(needed for templates that drop reasoning, e.g. DeepSeek-R1-Distill).",
    ),
    show_example: int = typer.Option(
        1,
        help="With --model: print N examples tokenized as train does, trained tokens in [[...]] "
        "(0 = off), and check them as train does.",
    ),
    prompt_field: str | None = typer.Option(
        None, help="Column holding the prompt (with --answer-field: which column is what)."
    ),
    messages_field: str | None = LAYOUT_OPTS["messages_field"],
    system_field: str | None = LAYOUT_OPTS["system_field"],
    context_field: str | None = LAYOUT_OPTS["context_field"],
    reasoning_field: str | None = LAYOUT_OPTS["reasoning_field"],
    answer_field: str | None = LAYOUT_OPTS["answer_field"],
    train_on: str | None = LAYOUT_OPTS["train_on"],
    keep_markers: bool | None = LAYOUT_OPTS["keep_markers"],
    chat: bool | None = LAYOUT_OPTS["chat"],
) -> None:
    """Write the examples train trains on, as a dataset TRL/LLaMA-Factory/axolotl read unchanged."""
    layout = {
        k: v
        for k, v in {
            "prompt_field": prompt_field,
            "messages_field": messages_field,
            "system_field": system_field,
            "context_field": context_field,
            "reasoning_field": reasoning_field,
            "answer_field": answer_field,
            "train_on": train_on,
            "keep_markers": keep_markers,
            "chat": chat,
        }.items()
        if v is not None
    }

    def go() -> None:
        from distill.train import ExportConfig
        from distill.train import export as run_export

        run_export(
            ExportConfig(
                data=data,
                format=format,
                out=out,
                limit=limit,
                model=model or "",
                show_example=show_example,
                **layout,
            )
        )

    _run(go)


@app.command("eval")
def eval_(
    recipe: Path | None = RecipeOpt,
    model: str | None = typer.Option(
        None,
        help="Student: LoRA adapter dir, merged weights, HF name, builtin:smollm2 (or a served name with --backend openai).",
    ),
    data: str | None = typer.Option(
        None,
        help="Held-out problems: builtin:arithmetic?start=1000&n=100, a file, or a hub dataset.",
    ),
    baseline: str | None = typer.Option(
        None, help="A model to compare with (e.g. the base), evaluated the same way."
    ),
    out: str | None = typer.Option(
        None, help="eval.json (samples are kept beside it; a rerun resumes)."
    ),
    split: str | None = typer.Option(None, help="Dataset split (default test)."),
    prompt_field: str | None = typer.Option(None, help="Field holding the problem."),
    answer_field: str | None = typer.Option(None, help="Field holding the gold answer."),
    id_field: str | None = typer.Option(None, help="Field holding a stable id."),
    limit: int | None = typer.Option(None, help="Only the first N problems."),
    template: str | None = typer.Option(
        None, help="Prompt template (default: the built-in set's, else the raw prompt)."
    ),
    format: str | None = typer.Option(None, help="r1 (chat template, as trained) | alpaca."),
    verify: str | None = typer.Option(
        None, help="math | choice | exact | countdown | code | majority."
    ),
    n: int | None = typer.Option(None, help="Samples per problem (pass@1 = mean; maj@k = vote)."),
    temperature: float | None = typer.Option(None, help="0 = greedy (default)."),
    top_p: float | None = typer.Option(None, help="Nucleus sampling when temperature > 0."),
    max_tokens: int | None = typer.Option(None, help="Max new tokens (default 512)."),
    seed: int | None = typer.Option(None, help="Sampling seed."),
    backend: str | None = typer.Option(None, help="hf | vllm | openai."),
    base_url: str | None = typer.Option(None, help="openai backend: the server's URL."),
    api_key_env: str | None = typer.Option(None, help="openai backend: env var with the key."),
    concurrency: int | None = typer.Option(None, help="openai backend: requests in flight."),
    batch_size: int | None = typer.Option(None, help="hf backend: batch size."),
    device: str | None = typer.Option(None, help="hf backend: auto | cpu | cuda."),
    unsafe_sandbox: bool | None = typer.Option(
        None,
        "--unsafe-sandbox",
        help="code: run model-written code without OS isolation where bwrap/unshare do not work.",
    ),
) -> None:
    """Evaluate a student (and a baseline): pass@1, maj@k, length, truncation, with the filter's verifiers."""
    overrides = {k: v for k, v in locals().items() if k != "recipe"}

    def go() -> None:
        from distill.config import load_config
        from distill.eval import EvalConfig, run

        run(load_config(EvalConfig, "eval", recipe, overrides))

    _run(go)


@app.command()
def publish(
    dir: str = typer.Argument(..., help="The train output dir (adapter or full weights)."),
    repo_id: str | None = typer.Option(
        None, help="Push to the Hub as USER/NAME (token from $HF_TOKEN)."
    ),
    local_dir: str | None = typer.Option(
        None, help="Or write the model and its card to this folder."
    ),
    private: bool = typer.Option(False, "--private", help="Create the Hub repo private."),
    merged: bool = typer.Option(
        False, "--merged", help="Publish DIR/merged (full weights) instead of the adapter."
    ),
    eval: str | None = typer.Option(
        None, "--eval", help="eval.json for the card (default: found beside DIR)."
    ),
    filter_report: str | None = typer.Option(
        None, help="Filter report for the card (default: the training data's)."
    ),
    license: str = typer.Option("apache-2.0", help="License in the card metadata."),
    token_env: str = typer.Option("HF_TOKEN", help="Env var holding the Hub token."),
    overwrite: bool = typer.Option(
        False,
        "--overwrite",
        help="--local-dir: also write into a non-empty folder that holds no publish of this "
        "student; its own files stay (only files an earlier publish wrote are replaced).",
    ),
) -> None:
    """Publish a student with a model card: data lineage, hyperparameters, eval table, how to serve it."""

    def go() -> None:
        from distill.publish import PublishConfig, run

        run(
            PublishConfig(
                dir=dir,
                repo_id=repo_id,
                local_dir=local_dir,
                private=private,
                merged=merged,
                eval=eval,
                filter_report=filter_report,
                license=license,
                token_env=token_env,
                overwrite=overwrite,
            )
        )

    _run(go)


@app.command("run")
def run_(
    recipe: Path = typer.Option(
        ..., "--recipe", help="A recipe with generate/filter/train/eval/publish sections."
    ),
    run_dir: str | None = typer.Option(
        None, help="Replaces {run_dir} in the recipe (default: its run.dir)."
    ),
    set_: list[str] | None = typer.Option(
        None, "--set", help="Override a key: STAGE.KEY=VALUE (repeatable)."
    ),
    only: str | None = typer.Option(
        None, help="Comma list of stages to run (e.g. eval,publish); default: every section."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Validate every section and print the stages; run nothing."
    ),
) -> None:
    """Run every stage of a recipe in order; print base vs student pass@1 and minutes at the end."""

    def go() -> None:
        from distill.pipeline import run

        # `--only ''` names no stage: an error, not "every stage"
        stages = [s.strip() for s in only.split(",") if s.strip()] if only is not None else None
        run(recipe, run_dir, set_ or [], only=stages, dry_run=dry_run)

    _run(go)


from distill.cli_build import stage_command  # noqa: E402

stage_command(app, "select", "distill.select.config:SelectConfig", "select", "distill.select.stage:run", "Choose the traces that teach most: difficulty, judge, diversity, length.", wrap=_run)

if __name__ == "__main__":
    app()
