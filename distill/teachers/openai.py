"""Teacher for any OpenAI-compatible endpoint: DeepSeek, OpenAI, `vllm serve`, SGLang, ...

    distill generate --teacher openai --base-url https://api.deepseek.com --model deepseek-reasoner \
        --api-key-env DEEPSEEK_API_KEY --data builtin:arithmetic --out t.jsonl

A fixed pool of `concurrency` async workers pulls requests from a queue, so one slow reply
holds up one worker, never the rest. Retries (connection errors, 408/409/429/5xx, Retry-After,
exponential backoff) are the `openai` client's own; 400/401/403/404 are not retried.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from typing import Any

from distill.errors import DistillError
from distill.teachers import Completion, Job, Sink

OPENAI_URL = "https://api.openai.com/v1"


class Pacer:
    """Smooth rate limit: `per_minute` units spread evenly, with a one-second burst."""

    def __init__(self, per_minute: float):
        self.interval = 60.0 / per_minute
        self.burst = per_minute / 60.0
        self.next = 0.0

    def reserve(self, amount: float) -> float:
        """Book `amount` units; return the seconds to wait before using them."""
        now = time.monotonic()
        start = max(now - self.burst * self.interval, self.next)
        self.next = start + amount * self.interval
        return max(0.0, start - now)

    def adjust(self, delta: float) -> None:
        """Correct an estimate once the real count (e.g. tokens used) is known."""
        self.next += delta * self.interval


def resolve_api_key(env_name: str, base_url: str | None) -> str:
    key = os.environ.get(env_name)
    if key:
        return key
    if base_url and base_url.rstrip("/") != OPENAI_URL:
        return "EMPTY"  # local servers (vllm serve, SGLang) accept any key
    raise DistillError(f"no API key: set ${env_name} (or pass --api-key-env NAME)")


def _scrub(text: str, secret: str) -> str:
    if secret and secret != "EMPTY":
        text = text.replace(secret, "***")
    return text[:300]


class OpenAITeacher:
    def __init__(self, cfg: Any):
        self.cfg = cfg
        self.base_url = cfg.base_url or OPENAI_URL
        self.api_key = resolve_api_key(cfg.api_key_env, cfg.base_url)
        self.split_n = not cfg.n_per_request  # flips on if the server ignores `n`
        self.requests = 0

    def run(self, jobs: Sequence[Job], sink: Sink) -> None:
        asyncio.run(self._run(jobs, sink))

    async def _run(self, jobs: Sequence[Job], sink: Sink) -> None:
        import openai

        cfg = self.cfg
        conc = max(1, cfg.concurrency)
        # The client's own connection pool (1000 connections) is larger than any sane
        # concurrency; the worker count below is what bounds requests in flight.
        client = openai.AsyncOpenAI(
            api_key=self.api_key,
            base_url=self.base_url,
            max_retries=cfg.max_retries,
            timeout=cfg.request_timeout,
        )
        self._rpm = Pacer(cfg.rpm) if cfg.rpm else None
        self._tpm = Pacer(cfg.tpm) if cfg.tpm else None
        queue: asyncio.Queue[tuple[Job, list[int]] | None] = asyncio.Queue(maxsize=2 * conc)

        async def produce() -> None:
            for job in jobs:
                if self.split_n:
                    for s in job.samples:
                        await queue.put((job, [s]))
                else:
                    await queue.put((job, list(job.samples)))
            for _ in range(conc):
                await queue.put(None)

        async def work() -> None:
            while (item := await queue.get()) is not None:
                job, samples = item
                if len(samples) > 1 and self.split_n:
                    for s in samples:
                        await self._request(client, job, [s], sink)
                else:
                    await self._request(client, job, samples, sink)

        try:
            await asyncio.gather(produce(), *(work() for _ in range(conc)))
        finally:
            await client.close()

    async def _pace(self, job: Job) -> int:
        est = 0
        if self._tpm:
            prompt_chars = sum(len(m["content"]) for m in job.messages)
            est = prompt_chars // 4 + self.cfg.max_tokens
            await asyncio.sleep(self._tpm.reserve(est))
        if self._rpm:
            await asyncio.sleep(self._rpm.reserve(1))
        return est

    async def _request(self, client: Any, job: Job, samples: list[int], sink: Sink) -> None:
        import openai

        cfg = self.cfg
        est = await self._pace(job)
        kwargs: dict[str, Any] = dict(
            model=cfg.model,
            messages=job.messages,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            max_tokens=cfg.max_tokens,
        )
        if len(samples) > 1:
            kwargs["n"] = len(samples)
        if cfg.seed is not None:
            kwargs["seed"] = cfg.seed + samples[0]
        self.requests += 1
        try:
            resp = await client.chat.completions.create(**kwargs)
        except (openai.AuthenticationError, openai.PermissionDeniedError) as e:
            raise DistillError(
                f"{self.base_url}: HTTP {e.status_code} (not retried): the key in "
                f"${cfg.api_key_env} was refused"
            ) from None
        except openai.NotFoundError as e:
            raise DistillError(
                f"{self.base_url}: HTTP 404 (not retried): model '{cfg.model}' or the endpoint "
                f"was not found: {_scrub(str(e.message), self.api_key)}"
            ) from None
        except openai.APITimeoutError:
            for s in samples:
                sink.failed(job, s, f"timed out after {cfg.request_timeout:g}s x {cfg.max_retries + 1} tries")
            return
        except openai.APIConnectionError as e:
            raise DistillError(
                f"cannot reach {self.base_url} after {cfg.max_retries} retries "
                f"({type(e.__cause__ or e).__name__}); check --base-url"
            ) from None
        except openai.APIStatusError as e:  # 400/422 (this prompt), 429/5xx after all retries
            why = f"HTTP {e.status_code}: {_scrub(str(e.message), self.api_key)}"
            for s in samples:
                sink.failed(job, s, why)
            return
        if self._tpm and resp.usage:
            self._tpm.adjust(resp.usage.total_tokens - est)
        got = self._emit(job, samples, resp, sink)
        if got < len(samples):
            # The server ignored `n` (some do): ask for the rest one by one, now and from now on.
            self.split_n = True
            for s in samples[got:]:
                await self._request(client, job, [s], sink)

    def _emit(self, job: Job, samples: list[int], resp: Any, sink: Sink) -> int:
        choices = sorted(resp.choices, key=lambda c: c.index)[: len(samples)]
        usage = resp.usage
        n = len(choices)
        details = getattr(usage, "completion_tokens_details", None) if usage else None
        reasoning_total = getattr(details, "reasoning_tokens", None) if details else None
        total_chars = sum(len(c.message.content or "") for c in choices) or 1
        for s, choice in zip(samples, choices):
            msg = choice.message
            content = msg.content or ""
            reasoning = getattr(msg, "reasoning_content", None) or getattr(msg, "reasoning", None)
            # Usage is per request; with n>1 split completion tokens by text length and
            # remember the share so cost counts the shared prompt once.
            share = len(content) / total_chars if n > 1 else 1.0
            extra: dict[str, Any] = {"n_in_request": n} if n > 1 else {}
            sink.done(
                job,
                s,
                Completion(
                    text=content,
                    reasoning=reasoning if isinstance(reasoning, str) else None,
                    finish_reason=choice.finish_reason or "unknown",
                    prompt_tokens=usage.prompt_tokens if usage else 0,
                    completion_tokens=round((usage.completion_tokens if usage else 0) * share),
                    reasoning_tokens=round(reasoning_total * share) if reasoning_total else None,
                    extra=extra,
                ),
            )
        return n
