"""The generate stage's settings: one teacher (TeacherConfig), the --batch keys (BatchConfig)
and the stage (GenerateConfig). Light on purpose: `distill --help` and recipe checks import this.

    distill generate --help      # every key below, as a flag
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from distill.config import check_values, flag, from_dict, setting
from distill.errors import DistillError
from distill.records import same_file
from distill.teachers import TEACHERS

# OpenAI's limits per batch: 50,000 requests and a 200 MB input file (a margin kept for
# providers that count MB as 10^6 bytes). distill.teachers.batch splits work by these.
MAX_REQUESTS = 50_000
MAX_FILE_BYTES = 190_000_000

# $ per 1M (input, output, cached input) tokens, list prices; override with
# --price-input/--price-output (cached prompt tokens are then priced at --price-input).
PRICES = {
    "deepseek-reasoner": (0.55, 2.19, 0.14),
    "deepseek-chat": (0.27, 1.10, 0.07),
    "gpt-4o": (2.50, 10.00, 1.25),
    "gpt-4o-mini": (0.15, 0.60, 0.075),
    "gpt-4.1": (2.00, 8.00, 0.50),
    "gpt-4.1-mini": (0.40, 1.60, 0.10),
    "o3-mini": (1.10, 4.40, 0.55),
    "o4-mini": (1.10, 4.40, 0.275),
}


# =========================================================================== config


def cost_of(usage: dict[str, Any], prices: tuple[float, ...] | None) -> float:
    """$ for one sample's usage at (input, output[, cached input]) $ per 1M tokens; 0 without
    prices. The prompt tokens the provider read from its cache (`cached_tokens`) are priced at
    the cached price where one is given, else at the input price."""
    if not prices:
        return 0.0
    share = usage.get("n_in_request", 1)  # a request's prompt, shared by its n samples
    prompt = usage.get("prompt_tokens", 0) / share
    cached = min(usage.get("cached_tokens", 0) / share, prompt)
    cached_price = prices[2] if len(prices) > 2 else prices[0]
    return (
        (prompt - cached) * prices[0]
        + cached * cached_price
        + usage.get("completion_tokens", 0) * prices[1]
    ) / 1e6


@dataclass
class Sampling:
    """How a model samples (these change outputs, so they are part of each sample's id): the
    teacher's in generate/instruct, the student's in eval."""

    # DeepSeek's advice for R1: 0.5-0.7
    temperature: float = setting(0.6, "Sampling temperature.")
    top_p: float = setting(0.95, "Nucleus sampling.")
    max_tokens: int = setting(4096, "Max new tokens per sample.")
    seed: int | None = setting(None, "Sampling seed.")


@dataclass
class PromptSource:
    """Where the prompts come from and how each is rendered: generate's and eval's (train
    --method onpolicy reads a prompt source the same way)."""

    data: str = setting(
        "",
        "builtin:arithmetic | builtin:countdown | .jsonl/.json/.parquet/.csv | a folder of them | HF dataset name",
    )
    split: str = setting("train", "Dataset split (a hub dataset's or local folder's).")
    prompt_field: str | None = setting(
        None, "Field holding the prompt (default: problem/question/prompt/instruction)."
    )
    # train's key of the same name (examples.Columns): the same row asked as it was trained
    context_field: str | None = setting(
        None,
        "Column appended to the prompt after a blank line (Alpaca's input, dolly's context), as train's --context-field renders it (--format alpaca: the Input section).",
    )
    answer_field: str | None = setting(None, "Field holding the gold answer (default: answer).")
    id_field: str | None = setting(
        None, "Field holding a stable row id (default: id, else a hash of the prompt)."
    )
    limit: int | None = setting(None, "Use only the first L rows.")
    template: str | None = setting(
        None, "Prompt template: prompts/X.txt or a name (r1-math, alpaca, code, countdown)."
    )


@dataclass
class TeacherConfig(Sampling):
    """One teacher. In a recipe, each `teachers:` entry may set any of these keys; what it
    leaves out comes from the run's top-level keys."""

    teacher: str = setting("openai", "Backend: openai | vllm | hf.")
    model: str = setting("", "Teacher model: API name, HF path/name, or builtin:smollm2.")
    # --- sampling: the keys of Sampling
    # --- openai backend
    base_url: str | None = setting(
        None, "OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1."
    )
    # the key is read from this env var, never stored
    api_key_env: str = setting("OPENAI_API_KEY", "Env var holding the API key.")
    concurrency: int = setting(32, "Requests in flight (openai teacher).")
    max_retries: int = setting(6, "Retries on connection errors/408/409/429/5xx.")
    request_timeout: float = setting(
        600.0, "Seconds a reply may pause; past that it fails, not asked again (it may be billed)."
    )
    rpm: float | None = setting(None, "Max requests per minute.")
    tpm: float | None = setting(None, "Max tokens per minute.")
    # ask for n samples with the API's `n`; falls back if ignored
    n_per_request: bool = setting(
        True,
        "Use the API's n, or one request per sample.",
        flags=("--n-per-request/--separate-requests",),
    )
    price_input: float | None = setting(
        None, "$ per 1M prompt tokens, cached ones too (overrides the built-in table)."
    )
    price_output: float | None = setting(None, "$ per 1M completion tokens.")
    # --- vllm backend
    tensor_parallel_size: int = setting(1, "vllm: GPUs per model.")
    gpu_memory_utilization: float = setting(0.9, "vllm: fraction of memory to reserve.")
    dtype: str = setting("auto", "vllm: auto | bfloat16 | float16 | float32.")
    max_model_len: int | None = setting(None, "vllm: context length cap.")
    shard_size: int = setting(512, "vllm: prompts per shard written before the next starts.")
    logprobs: int | None = setting(
        None,
        "Keep the teacher's top-K log-probs per completion token in <out>.logprobs/ (hf, vllm; openai against a server that returns logprobs, e.g. vLLM's).",
    )
    # records per log-prob shard: each shard is durable before its records are appended (also
    # flushed every 30 s); the samples waiting for it are journaled, so a kill loses none
    logprobs_shard: int = setting(256, "Records per log-prob shard (also written every 30 s).")
    # --- hf backend
    batch_size: int = setting(8, "hf: sequences per generate batch.")
    device: str = setting("auto", "hf: auto | cpu | cuda.")
    # --- hf and vllm: False sends the user message as a raw prompt (Alpaca-format students)
    chat_template: bool = setting(
        True,
        "hf/vllm: send the prompt in the chat template, or raw (Alpaca-format students).",
        flags=("--chat-template/--raw-prompt",),
    )

    def __post_init__(self) -> None:
        if self.teacher not in TEACHERS:
            raise DistillError(f"unknown teacher '{self.teacher}' (have: {', '.join(TEACHERS)})")
        positive = lambda v: v is None or v > 0  # noqa: E731 - unset optional caps are fine
        check_values(
            self,
            [
                ("temperature", self.temperature >= 0, ">= 0"),
                ("top_p", 0 < self.top_p <= 1, "in (0, 1]"),
                ("max_tokens", self.max_tokens >= 1, ">= 1"),
                ("concurrency", self.concurrency >= 1, ">= 1"),
                ("max_retries", self.max_retries >= 0, ">= 0"),
                ("request_timeout", self.request_timeout > 0, "> 0 (seconds)"),
                ("rpm", positive(self.rpm), "> 0 (requests per minute)"),
                ("tpm", positive(self.tpm), "> 0 (tokens per minute)"),
                ("price_input", self.price_input is None or self.price_input >= 0, ">= 0"),
                ("price_output", self.price_output is None or self.price_output >= 0, ">= 0"),
                ("tensor_parallel_size", self.tensor_parallel_size >= 1, ">= 1"),
                ("gpu_memory_utilization", 0 < self.gpu_memory_utilization <= 1, "in (0, 1]"),
                ("max_model_len", positive(self.max_model_len), ">= 1"),
                ("shard_size", self.shard_size >= 1, ">= 1"),
                ("logprobs", positive(self.logprobs), ">= 1 (top-K per token)"),
                ("logprobs_shard", self.logprobs_shard >= 1, ">= 1"),
                ("batch_size", self.batch_size >= 1, ">= 1"),
            ],
        )
        if self.teacher in ("hf", "vllm") and self.model:
            from distill.models import check_model_path

            check_model_path(self.model, "--model")

    @property
    def params(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
        }

    @property
    def raw_prompt(self) -> bool:
        """Whether the teacher is sent the user message alone, without a chat template."""
        return not self.chat_template and self.teacher in ("hf", "vllm")

    def prices(self) -> tuple[float, ...] | None:
        """(input, output[, cached input]) $ per 1M tokens: the ones given, the list price of
        the one not given (0 for a model the table lacks); a given input price is the cached
        tokens' too."""
        table = PRICES.get(self.model.split("/")[-1])
        if self.price_input is None and self.price_output is None:
            return table
        listed = table or (0.0, 0.0)
        output = listed[1] if self.price_output is None else self.price_output
        if self.price_input is None:
            return (listed[0], output, *listed[2:])
        return (self.price_input, output)


@dataclass
class BatchConfig:
    """The `--batch` keys of `distill generate` (recipe keys of the same names)."""

    # send the pending samples through the Batch API (openai teacher)
    batch: bool = setting(
        False,
        "openai: send the pending samples through the provider's Batch API (half price at OpenAI); batch ids are kept in <out>.batches.json, so a rerun re-attaches.",
        flags=("--batch/--online",),
    )
    batch_requests: int = setting(
        MAX_REQUESTS, "--batch: requests per batch (files are also split at 190 MB)."
    )
    batch_window: str = setting(
        "24h", "--batch: completion window (24h is the only one OpenAI accepts)."
    )
    batch_poll: float = setting(30.0, "--batch: seconds between status polls.")
    # Cost = online price x (1 - discount). Give the batch prices themselves with
    # --price-input/--price-output and --batch-discount 0.
    batch_discount: float = setting(
        0.5,
        "--batch: cost = online price x (1 - discount) (0 when --price-input/--price-output are the batch prices).",
    )
    batch_max_rounds: int = setting(
        3, "--batch: submissions per sample; failed/expired lines go to the next batch."
    )

    def __post_init__(self) -> None:
        # GenerateConfig(BatchConfig, TeacherConfig): the teacher's checks run first.
        getattr(super(), "__post_init__", lambda: None)()
        check_values(
            self,
            [
                ("batch_requests", self.batch_requests >= 1, ">= 1"),
                ("batch_max_rounds", self.batch_max_rounds >= 1, ">= 1"),
                ("batch_poll", self.batch_poll > 0, "> 0 (seconds)"),
                ("batch_discount", 0 <= self.batch_discount < 1, "in [0, 1)"),
            ],
        )
        if not re.fullmatch(r"[1-9]\d*h", self.batch_window):
            raise DistillError(f"batch_window must be hours like '24h', got {self.batch_window!r}")
        if self.batch:
            base = getattr(self, "teacher", "openai")
            entries = getattr(self, "teachers", None) or [{}]
            backends = {e.get("teacher", base) if isinstance(e, dict) else base for e in entries}
            if backends != {"openai"}:
                other = sorted(backends - {"openai"})[0]
                raise DistillError(
                    f"--batch needs the openai teacher (an OpenAI-style Batch API), "
                    f"not '{other}'; drop --batch for the {other} teacher"
                )


@dataclass
class GenerateConfig(BatchConfig, TeacherConfig, PromptSource):  # --batch keys: BatchConfig
    # R1 advice: none
    system_prompt: str | None = setting(None, "System message (DeepSeek advises none for R1).")
    n: int = setting(1, "Samples per prompt.")
    teachers: list[dict[str, Any]] = setting(
        factory=list, help="ensemble; see TeacherConfig", cli=False
    )
    out: str = setting("", "Traces file to append to (resumes from what it holds).")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.data:
            raise DistillError("missing --data (builtin:arithmetic, a file, or a dataset name)")
        if not self.out:
            raise DistillError("missing --out (the traces file to write)")
        check_values(
            self,
            [
                ("n", self.n >= 1, ">= 1"),
                ("limit", self.limit is None or self.limit >= 1, ">= 1"),
            ],
        )
        teachers = self.resolved_teachers()  # validate now, not after loading data
        if self.system_prompt and any(t.raw_prompt for t in teachers):
            raise DistillError(
                "--system-prompt is not sent with --raw-prompt (the teacher gets the user "
                "message alone): drop one of them"
            )

    def resolved_teachers(self) -> list[TeacherConfig]:
        base = {f.name: getattr(self, f.name) for f in dataclasses.fields(TeacherConfig)}
        entries = self.teachers or [{}]
        # a top-level key (a flag, a recipe key) that every entry sets again, each to another
        # value, is used by no teacher: refused, not dropped without a word (one an entry
        # repeats, the recipe's model that --set teachers names again, is used)
        for f in dataclasses.fields(TeacherConfig):
            given = base[f.name]
            if (
                self.teachers
                and given != f.default
                and all(isinstance(e, dict) and f.name in e for e in entries)
                and not any(_same_setting(e[f.name], given) for e in entries)
            ):
                from distill.urls import redact_url, redact_urls

                # a --base-url's user:token@ or ?key= is shown to no one
                shown = redact_url(given) if f.name == "base_url" else redact_urls(str(given))
                raise DistillError(
                    f"{flag(f.name)} {shown}: every teachers entry sets its own {f.name}, so no "
                    f"teacher uses it; drop it, or leave {f.name} out of the entry that should"
                )
        out = []
        for i, entry in enumerate(entries):
            t = from_dict(TeacherConfig, {**base, **entry}, f"teachers[{i}]")
            if not t.model:
                raise DistillError(
                    f"teachers[{i}]: missing model (--model)"
                    if self.teachers
                    else "missing --model"
                )
            out.append(t)
        return out


def _same_setting(a: Any, b: Any) -> bool:
    """Equal values; a local model folder however it is spelled (`ckpt`, `./ckpt/`, its path)."""
    return a == b or (isinstance(a, str) and isinstance(b, str) and same_file(a, b, existing=True))
