"""Teachers: one per backend behind one small protocol.

A teacher gets `Job`s (one prompt and the sample indices still missing for it) and calls
`sink.done(job, sample, completion)` as soon as each sample exists, so the generate stage can
write it to disk at once. A sample that failed for good goes to `sink.failed(job, sample, why)`
and is retried by the next run; a fatal problem (bad key, unreachable server) raises
DistillError and stops the run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class Job:
    prompt_id: str
    messages: list[dict[str, str]]
    samples: list[int]  # sample indices still to generate
    payload: Any = None  # the generate stage's own bookkeeping (row, ids)


@dataclass
class Completion:
    text: str
    reasoning: str | None = None  # from the API's reasoning field, if any
    finish_reason: str = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. n_in_request
    # With --logprobs K: the completion's tokens and the teacher's top-K (distill.logprobs),
    # whether the last token is the stop token that ended it, and the tokenizer they belong
    # to as (name, distill.logprobs.vocab_hash or None).
    token_logprobs: Any = None  # distill.logprobs.TokenLogprobs
    stop_token: bool = False
    tokenizer: tuple[str, str | None] | None = None


class Sink(Protocol):
    def done(self, job: Job, sample: int, completion: Completion) -> None: ...
    def failed(self, job: Job, sample: int, why: str) -> None: ...


class Teacher(Protocol):
    def run(self, jobs: Sequence[Job], sink: Sink) -> None: ...


def _openai(cfg: Any) -> Teacher:
    from distill.teachers.openai import OpenAITeacher

    return OpenAITeacher(cfg)


def _vllm(cfg: Any) -> Teacher:
    from distill.teachers.vllm import VLLMTeacher

    return VLLMTeacher(cfg)


def _hf(cfg: Any) -> Teacher:
    from distill.teachers.hf import HFTeacher

    return HFTeacher(cfg)


# Explicit registry; heavy imports happen only for the backend in use.
TEACHERS: dict[str, Callable[[Any], Teacher]] = {"openai": _openai, "vllm": _vllm, "hf": _hf}
