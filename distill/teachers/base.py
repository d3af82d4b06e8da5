"""What every teacher speaks: a `Job` in, a `Completion` per sample out through a `Sink`.

    distill generate --teacher hf --model builtin:smollm2 --data builtin:arithmetic --out t.jsonl

The backends (openai, batch, vllm, hf) import these from here, not from the package, so the
package's registry can import the backends without a cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from distill.errors import DistillError


@dataclass
class Job:
    prompt_id: str
    messages: list[dict[str, str]]
    samples: list[int]  # sample indices still to generate
    payload: Any = None  # the generate stage's own bookkeeping (row, ids)
    where: str = ""  # where the prompt comes from, as a refusal names it ("data.jsonl row 3")


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

    # usage: the tokens a sample that failed was generated with all the same (a choice the
    # server ended unfinished: billed where the provider bills), in a record's `usage` keys
    # (prompt_tokens, completion_tokens, n_in_request, tokens_estimated, ...), so the cost
    # summary counts what was spent on it; None where nothing was generated.
    def failed(
        self, job: Job, sample: int, why: str, usage: dict[str, Any] | None = None
    ) -> None: ...

    # Optional (a teacher looks for it with getattr; generate's sink has it): a request that got
    # no reply within the client's timeout, `samples` its samples (each also `failed`). No
    # usage came, yet the server may have generated it and billed it: its cost is unknown, so
    # the summary counts such requests apart (timed_out_requests) rather than as spending $0.
    #     def timed_out(self, job: Job, samples: list[int]) -> None: ...


class Teacher(Protocol):
    def run(self, jobs: Sequence[Job], sink: Sink) -> None: ...


def no_chat_template(model: str) -> DistillError:
    """The hf and vllm teachers' refusal of a tokenizer with no chat template to render with."""
    return DistillError(
        f"{model}: its tokenizer has no chat template to render the prompts with; pick an "
        "instruct model (distill generate: or pass --raw-prompt to send each prompt as it is)"
    )
