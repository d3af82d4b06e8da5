"""The generate stage's settings: one teacher (TeacherConfig), the --batch keys (BatchConfig)
and the stage (GenerateConfig). Light on purpose: `distill --help` and recipe checks import this.

    distill generate --help      # every key below, as a flag
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from distill.config import check_values, from_dict
from distill.errors import DistillError
from distill.teachers import TEACHERS

# OpenAI's limits per batch: 50,000 requests and a 200 MB input file (a margin kept for
# providers that count MB as 10^6 bytes). distill.teachers.batch splits work by these.
MAX_REQUESTS = 50_000
MAX_FILE_BYTES = 190_000_000

# $ per 1M (input, output) tokens, list prices; override with --price-input/--price-output.
PRICES = {
    "deepseek-reasoner": (0.55, 2.19),
    "deepseek-chat": (0.27, 1.10),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
}


# =========================================================================== config


def cost_of(usage: dict[str, Any], prices: tuple[float, float] | None) -> float:
    """$ for one request's usage at (input, output) $ per 1M tokens; 0 without prices."""
    if not prices:
        return 0.0
    prompt = usage.get("prompt_tokens", 0) / usage.get("n_in_request", 1)
    return (prompt * prices[0] + usage.get("completion_tokens", 0) * prices[1]) / 1e6


@dataclass
class TeacherConfig:
    """One teacher. In a recipe, each `teachers:` entry may set any of these keys; what it
    leaves out comes from the run's top-level keys."""

    teacher: str = "openai"  # backend: openai | vllm | hf
    model: str = ""  # API model name, HF repo/path, or builtin:smollm2
    # --- sampling (these change outputs, so they are part of each sample's id)
    temperature: float = 0.6  # DeepSeek's advice for R1: 0.5-0.7
    top_p: float = 0.95
    max_tokens: int = 4096
    seed: int | None = None
    # --- openai backend
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"  # the key is read from this env var, never stored
    concurrency: int = 32  # requests in flight
    max_retries: int = 6  # on connection errors, 408/409/429/5xx (the openai client's rules)
    request_timeout: float = 600.0  # seconds per try
    rpm: float | None = None  # requests per minute cap
    tpm: float | None = None  # tokens per minute cap
    n_per_request: bool = True  # ask for n samples with the API's `n`; falls back if ignored
    price_input: float | None = None  # $ per 1M prompt tokens (default: table for known models)
    price_output: float | None = None  # $ per 1M completion tokens
    # --- vllm backend
    tensor_parallel_size: int = 1
    gpu_memory_utilization: float = 0.9
    dtype: str = "auto"
    max_model_len: int | None = None
    shard_size: int = 512  # prompts per shard; each shard is on disk before the next starts
    logprobs: int | None = None  # hf, vllm, openai: keep the teacher's top-K log-probs per token
    # records per log-prob shard: each shard is durable before its records are appended, so a
    # kill loses at most this many samples (also flushed every 30 s)
    logprobs_shard: int = 256
    # --- hf backend
    batch_size: int = 8
    device: str = "auto"
    # --- hf and vllm: False sends the user message as a raw prompt (Alpaca-format students)
    chat_template: bool = True

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

    def prices(self) -> tuple[float, float] | None:
        if self.price_input is not None or self.price_output is not None:
            return (self.price_input or 0.0, self.price_output or 0.0)
        return PRICES.get(self.model.split("/")[-1])


@dataclass
@dataclass
class BatchConfig:
    """The `--batch` keys of `distill generate` (recipe keys of the same names)."""

    batch: bool = False  # send the pending samples through the Batch API (openai teacher)
    batch_requests: int = MAX_REQUESTS  # requests per batch; larger work is split (and at 190 MB)
    batch_window: str = "24h"  # completion_window (OpenAI accepts only 24h)
    batch_poll: float = 30.0  # seconds between status polls (the first polls come sooner)
    # Cost = online price x (1 - discount). Give the batch prices themselves with
    # --price-input/--price-output and --batch-discount 0.
    batch_discount: float = 0.5
    batch_max_rounds: int = 3  # submissions per sample: failed/expired lines go to a next batch

    def __post_init__(self) -> None:
        # GenerateConfig(BatchConfig, TeacherConfig): the teacher's checks run first.
        getattr(super(), "__post_init__", lambda: None)()
        check_values(
            self,
            [
                ("batch_requests", self.batch_requests >= 1, ">= 1"),
                ("batch_max_rounds", self.batch_max_rounds >= 1, ">= 1"),
                ("batch_poll", self.batch_poll > 0, "> 0 (seconds)"),
            ],
        )
        if not 0 <= self.batch_discount < 1:
            raise DistillError(f"batch_discount must be in [0, 1), got {self.batch_discount}")
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
class GenerateConfig(BatchConfig, TeacherConfig):  # --batch keys: BatchConfig
    data: str = (
        ""  # builtin:arithmetic | builtin:countdown | file (.jsonl/.json/.parquet/.csv) | hub name
    )
    split: str = "train"
    prompt_field: str | None = None  # default: the first of problem, question, prompt, instruction
    answer_field: str | None = None  # gold answer; default: answer if present
    id_field: str | None = None  # default: id if present, else a hash of the rendered prompt
    limit: int | None = None
    template: str | None = (
        None  # prompts/X.txt or a name; default: the built-in set's, else the raw prompt
    )
    system_prompt: str | None = None  # R1 advice: none
    n: int = 1  # samples per prompt per teacher
    teachers: list[dict[str, Any]] = field(default_factory=list)  # ensemble; see TeacherConfig
    out: str = ""

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
                ("limit", self.limit is None or self.limit >= 0, ">= 0"),
            ],
        )
        self.resolved_teachers()  # validate now, not after loading data

    def resolved_teachers(self) -> list[TeacherConfig]:
        base = {f.name: getattr(self, f.name) for f in dataclasses.fields(TeacherConfig)}
        entries = self.teachers or [{}]
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
