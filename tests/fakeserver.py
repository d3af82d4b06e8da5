"""A loopback OpenAI-compatible server for tests and benchmarks: real HTTP, real `openai` client.

    python -m tests.fakeserver --port 8765 --latency 0.2 --style think

It answers arithmetic prompts ("What is 12 + 34?") correctly, except prompts whose sum is
divisible by 7, which get a wrong answer (so filters have something to reject). Faults are
injected from a queue, one per incoming request: {"status": 429, "retry_after": 1},
{"status": 500}, {"hang": 30}, {"status": 401}, {"delay": 2}, {"body": "not json"} (a 200 with
that text; "content_type" too), {"reset": True} (the connection dropped before any reply), and
"gzip": True on a status fault compresses that reply. Every request is logged,
with its headers.

Asked for `logprobs`/`top_logprobs`, it answers as vLLM's server does (`fake_logprobs`): one
entry per 4-character piece of the message plus an EOS entry when it stopped, token text or,
with `return_tokens_as_token_ids`, "token_id:N"; `FakeServer(logprobs=False)` never does.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import threading
import time
from collections import deque
from typing import Any

from aiohttp import web

_EXPR = re.compile(r"What is ([\d\s+\-*]+)\?")


_SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]


def task_list(prompt: str, i: int = 0) -> str:
    """A self-instruct reply (style "tasks"): the numbered list continuing the prompt's.

    Six good tasks (made-up words, so ROUGE-L between them is ~0), the last with a long input,
    then one of each thing the instruct filters drop: too short, keyword, punctuation,
    non-English, a copy of the first task shown (exact duplicate), a copy of the sixth with
    one character changed (near duplicate), a good task with one word added (ROUGE-L), and an
    item with no Output (malformed). Deterministic in (prompt, i).
    """
    import random

    rng = random.Random(f"{prompt}#{i}")
    shown = re.findall(
        r"(?ms)^(\d+)\. Instruction: (.*?)\n\1\. Input:\n(.*?)\n\1\. Output:", prompt
    )
    first = int(shown[-1][0]) + 1 if shown else 1
    word = lambda: rng.choice(_SYLLABLES) + rng.choice(_SYLLABLES)  # noqa: E731
    words = lambda k: " ".join(word() for _ in range(k))  # noqa: E731
    long_input = words(30)
    good = [(f"{word().capitalize()} {words(8)}.", words(5) if k % 2 else "") for k in range(5)]
    items = [*good]
    items.append(("Sort it.", ""))
    items.append((f"Draw a picture of {words(4)}.", ""))
    items.append((f'"Quote {words(5)}."', ""))
    items.append((f"Écrivez un poème sur {words(4)}.", ""))
    copy = (shown[0][1], "" if shown[0][2] == "<noinput>" else shown[0][2]) if shown else ("", "")
    fresh = f"{word().capitalize()} {words(8)}."
    items.insert(5, (fresh, long_input))
    items.append(copy)
    items.append((fresh, long_input + "!"))  # near copy of the sixth
    items.append((good[1][0][:-1] + " " + word() + ".", ""))  # ROUGE-L ~0.95 with good[1]
    lines = []
    for k, (inst, inp) in enumerate(items):
        n = first + k
        lines.append(
            f"{n}. Instruction: {inst}\n{n}. Input:\n{inp or '<noinput>'}\n"
            f"{n}. Output:\n{words(6)}\n###"
        )
    n = first + len(items)
    lines.append(f"{n}. Instruction: {words(7)}\n{n}. Input:\n<noinput>\n###")  # no Output
    # A chat model restates the first number; continuing the prompt's line also parses.
    return "\n".join(lines)


def solve(prompt: str) -> tuple[str, int | None]:
    m = _EXPR.search(prompt)
    if not m:
        return "I am not sure.", None
    expr = m.group(1).strip()
    value = eval(expr, {"__builtins__": {}})  # test-only, the regex admits digits and + - * alone
    answer = value + 1 if value % 7 == 0 else value
    return expr, answer


EOS_ID = 2


def fake_logprobs(text: str, k: int, stopped: bool, as_ids: bool) -> list[dict[str, Any]]:
    """A deterministic `logprobs.content`: the sampled piece is usually among the top-k (at
    rank i % 3), every fourth one falls below them."""
    pieces = [text[i : i + 4] for i in range(0, len(text), 4)]
    ids = [100 + sum(p.encode()) % 800 for p in pieces] + ([EOS_ID] if stopped else [])
    pieces += ["<eos>"] if stopped else []
    content = []
    for i, (piece, tid) in enumerate(zip(pieces, ids)):
        top = [(tid + 7 * j) % 1000 for j in range(k)]
        rank = i % 3 if i % 4 != 3 and k > 2 else None
        if rank is not None:
            top[0], top[rank] = top[rank], top[0]
            top[rank] = tid
        else:
            top = [t if t != tid else (t + 3) % 1000 for t in top]
        lps = [-0.05 - 0.5 * j - 0.01 * (i % 5) for j in range(k)]
        own = lps[rank] if rank is not None else lps[-1] - 1.25

        def tok(t: int, text: str) -> str:
            return f"token_id:{t}" if as_ids else text

        content.append(
            {
                "token": tok(tid, piece),
                "logprob": own,
                "top_logprobs": [
                    {"token": tok(t, piece if t == tid else f"<{t}>"), "logprob": lp}
                    for t, lp in zip(top, lps)
                ],
            }
        )
    return content


class FakeServer:
    def __init__(
        self,
        latency: float = 0.0,
        style: str = "think",
        ignore_n: bool = False,
        api_key: str | None = None,
        model: str = "fake-r1",
        logprobs: bool = True,
        ssl_context: Any = None,
    ):
        self.ssl_context = ssl_context  # an ssl.SSLContext: serve https
        self.latency = latency
        self.style = style  # think | reasoning_content | reasoning | plain | prefilled | tasks
        self.ignore_n = ignore_n
        self.api_key = api_key
        self.model = model
        self.logprobs = logprobs  # False: ignores `logprobs` like a server that cannot
        self.faults: deque[dict[str, Any]] = deque()
        self.log: list[dict[str, Any]] = []
        self.port = 0
        self.first_arrival: float | None = None  # for benchmarks: GET /stats
        self.last_reply: float | None = None
        self.answered = 0
        # /v1/completions scoring token ids (vLLM's prompt_logprobs): scorer(ids, k) -> per
        # position None | {token id: log-prob}; None answers without prompt_logprobs.
        self.scorer: Any = None
        self.decode: Any = None  # token id -> its text (vLLM's decoded_token)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ handler
    async def chat(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        body = await request.json()
        self.log.append(
            {
                "model": body.get("model"),
                "messages": body.get("messages"),
                "n": body.get("n"),
                "max_tokens": body.get("max_tokens"),
                "seed": body.get("seed"),
                "logprobs": body.get("logprobs"),
                "top_logprobs": body.get("top_logprobs"),
                "return_tokens_as_token_ids": body.get("return_tokens_as_token_ids"),
                "t": time.monotonic(),
                "auth": request.headers.get("Authorization", ""),
                "headers": dict(request.headers),
                "query": dict(request.query),
            }
        )
        if (
            self.api_key is not None
            and request.headers.get("Authorization") != f"Bearer {self.api_key}"
        ):
            return web.json_response(
                {
                    "error": {
                        "message": "Incorrect API key provided",
                        "type": "invalid_request_error",
                    }
                },
                status=401,
            )
        fault = self.faults.popleft() if self.faults else {}
        if "hang" in fault:
            await asyncio.sleep(fault["hang"])
        if "delay" in fault:
            await asyncio.sleep(fault["delay"])
        if "body" in fault:
            ctype = fault.get("content_type", "application/json")
            return web.Response(text=fault["body"], content_type=ctype)
        if "reset" in fault:
            request.transport.close()
            raise ConnectionResetError("injected reset")
        if "status" in fault:
            headers = {"Retry-After": str(fault["retry_after"])} if "retry_after" in fault else {}
            resp = web.json_response(
                {"error": {"message": f"injected {fault['status']}"}},
                status=fault["status"],
                headers=headers,
            )
            if fault.get("gzip"):  # as a CDN in front of an API compresses error replies
                resp.enable_compression(web.ContentCoding.gzip)
            return resp
        if body.get("model") != self.model:
            return web.json_response(
                {"error": {"message": f"model {body.get('model')} not found"}}, status=404
            )
        prompt = body["messages"][-1]["content"]
        n = 1 if self.ignore_n else int(body.get("n") or 1)
        max_tokens = int(body.get("max_tokens") or 4096)
        choices = [self._choice(i, prompt, max_tokens) for i in range(n)]
        if body.get("logprobs") and self.logprobs:
            for c in choices:
                text = (c["message"].get(self.style) or "") + (c["message"]["content"] or "")
                c["logprobs"] = {
                    "content": fake_logprobs(
                        text,
                        int(body.get("top_logprobs") or 0),
                        c["finish_reason"] == "stop",
                        bool(body.get("return_tokens_as_token_ids")),
                    )
                }
        ptoks = len(prompt) // 4 + 4
        ctoks = sum(c.pop("_tokens") for c in choices)
        if self.latency:  # the reply leaves `latency` after arrival, our own work included
            await asyncio.sleep(max(0.0, self.latency - (time.monotonic() - arrived)))
        self.first_arrival = min(self.first_arrival or arrived, arrived)
        self.last_reply = time.monotonic()
        self.answered += 1
        return web.json_response(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": self.model,
                "choices": choices,
                "usage": {
                    "prompt_tokens": ptoks,
                    "completion_tokens": ctoks,
                    "total_tokens": ptoks + ctoks,
                },
            }
        )

    def _choice(self, i: int, prompt: str, max_tokens: int) -> dict[str, Any]:
        if self.style == "tasks":
            text = task_list(prompt, i)
            return {
                "index": i,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
                "_tokens": len(text) // 4,
            }
        expr, answer = solve(prompt)
        reasoning = f"Let me compute {expr} step by step (sample {i}). The result is {answer}."
        final = f"The answer is \\boxed{{{answer}}}." if answer is not None else expr
        tokens = (len(reasoning) + len(final)) // 4
        message: dict[str, Any] = {"role": "assistant"}
        finish = "stop"
        if max_tokens < tokens:  # truncated: the chain of thought never closes
            message["content"] = f"<think>\n{reasoning[: max_tokens * 4]}"
            tokens, finish = max_tokens, "length"
        elif self.style == "think":
            message["content"] = f"<think>\n{reasoning}\n</think>\n\n{final}"
        elif self.style == "prefilled":
            message["content"] = f"{reasoning}\n</think>\n\n{final}"
        elif self.style in ("reasoning_content", "reasoning"):
            message["content"] = final
            message[self.style] = reasoning
        else:
            message["content"] = final
        return {"index": i, "message": message, "finish_reason": finish, "_tokens": tokens}

    async def completions(self, request: web.Request) -> web.Response:
        """vLLM's completions endpoint as a teacher scorer sees it: token-id prompts in,
        `prompt_logprobs` (top-K + the actual token per position) out."""
        body = await request.json()
        self.log.append(
            {"model": body.get("model"), "prompt": body.get("prompt"), "t": time.monotonic()}
        )
        if body.get("model") != self.model:
            return web.json_response(
                {"error": {"message": f"model {body.get('model')} not found"}}, status=404
            )
        prompts = body["prompt"]
        prompts = prompts if prompts and isinstance(prompts[0], list) else [prompts]
        k = body.get("prompt_logprobs")
        choices = []
        for i, ids in enumerate(prompts):
            choice: dict[str, Any] = {
                "index": i,
                "text": " ",
                "finish_reason": "length",
                "logprobs": None,
            }
            if k is not None and self.scorer is not None:
                choice["prompt_logprobs"] = [
                    None
                    if pos is None
                    else {
                        str(t): {
                            "logprob": lp,
                            "rank": r + 1,
                            "decoded_token": self.decode(t) if self.decode else "",
                        }
                        for r, (t, lp) in enumerate(pos.items())
                    }
                    for pos in self.scorer(ids, int(k))
                ]
            choices.append(choice)
        n = sum(len(p) for p in prompts)
        return web.json_response(
            {
                "id": "cmpl-fake",
                "object": "text_completion",
                "created": int(time.time()),
                "model": self.model,
                "choices": choices,
                "usage": {
                    "prompt_tokens": n,
                    "completion_tokens": len(prompts),
                    "total_tokens": n + len(prompts),
                },
            }
        )

    # ------------------------------------------------------------------ lifecycle
    async def stats(self, request: web.Request) -> web.Response:
        """Answered requests and the span from the first arrival to the last reply
        (`?reset=1`: counted from now on)."""
        if request.query.get("reset") == "1":
            self.first_arrival = self.last_reply = None
            self.answered = 0
        span = (self.last_reply - self.first_arrival) if self.first_arrival else None
        return web.json_response({"answered": self.answered, "span_s": span})

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_post("/v1/completions", self.completions)
        app.router.add_get("/stats", self.stats)
        return app

    async def _start(self, port: int) -> None:
        self._runner = web.AppRunner(self._app(), access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, "127.0.0.1", port, backlog=1024, ssl_context=self.ssl_context
        )
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def start(self, port: int = 0) -> FakeServer:
        """Serve from a background thread; returns once the port is bound."""
        ready = threading.Event()

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._start(port))
            ready.set()
            self._loop.run_forever()

        threading.Thread(target=serve, daemon=True).start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop and self._runner:
            try:
                asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            except Exception:  # noqa: BLE001 - a handler left hanging on purpose
                pass
            self._loop.call_soon_threadsafe(self._loop.stop)

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}/v1"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--style", default="think")
    ap.add_argument("--model", default="fake-r1")
    args = ap.parse_args()
    server = FakeServer(latency=args.latency, style=args.style, model=args.model)

    async def forever() -> None:
        await server._start(args.port)
        print(f"listening on {server.url}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(forever())


if __name__ == "__main__":
    main()
