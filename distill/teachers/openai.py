"""Teacher for any OpenAI-compatible endpoint: DeepSeek, OpenAI, `vllm serve`, SGLang, ...

    distill generate --teacher openai --base-url https://api.deepseek.com --model deepseek-reasoner \
        --api-key-env DEEPSEEK_API_KEY --data builtin:arithmetic --out t.jsonl

A fixed pool of `concurrency` async workers pulls requests from a queue, so one slow reply
holds up one worker, never the rest. Retries (connection errors, 408/409/429/5xx, Retry-After,
exponential backoff) are the `openai` client's own; 400/401/403/404 are not retried, nor is an
account out of credit (402, 429 `insufficient_quota`: it stops the run, on every path, before
the client's retries), nor a reply that did not come within --request-timeout (the server may
bill it: `_no_reply_in_time`), nor a 2xx whose body is not JSON (a second try of a server that
streams SSE, or of a proxy's page, gets the same, paid again where it was generated): before
any reply was JSON it stops the run at once, as a reply of another shape does; after, it fails
its prompt's samples (a rerun asks them) and the run goes on, unless SAME_4XX come in a row
(`_not_json_reply`). The first try of each request goes straight on aiohttp (`DirectPost`, for
CPU); what it cannot take goes back to the client.
A reply without `usage` (some proxies and servers) is counted at an estimate, ~4 characters a
token (`_estimated`), marked in its Completion's extra (`tokens_estimated`); a choice the
server ended unfinished (`UNFINISHED`) fails with the tokens spent on it named, and handed to
the sink (`failed(..., usage=)`: generate's cost summary counts them).
A Gemma 4 served without its reasoning parser (`vllm serve` without --reasoning-parser gemma4)
sends its thought channel without the markers, which are special tokens: `thought\nRA`, its
thinking and its answer run together. A reply of that shape stops the run before any record of
it where the model is known as Gemma 4 (by --model's name, else GET /models' `root` for it, or
a LoRA adapter's `parent`: `_refuse_unsplit_gemma4`); a server that names the weights nowhere
cannot be told apart from a model whose answer begins "thought", and goes on. (The --batch
path does not check: its replies are paid for, and a stop there would meet every rerun.)
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Sequence
from typing import Any

from distill.errors import DistillError
from distill.teachers.base import Completion, Job, Sink
from distill.urls import redact_url, split_query, url_secrets

OPENAI_URL = "https://api.openai.com/v1"
SAME_4XX = 8  # identical 4xx replies, before any success, that stop a run (_request)
# A choice a server ended before the model was done: vLLM's engine abort (shutdown, sleep,
# scale-down: HTTP 200 and a cut text), OpenRouter's "error". Not a sample: a rerun asks again.
UNFINISHED = ("abort", "error")
RETRIED_4XX = (408, 409, 429)  # the 4xx the client retries: never the request's own fault
# Gemma 4 (google/gemma-4-31B-it, gemma4:27b ...): its thinking is a thought channel,
# `<|channel>thought\nR<channel|>A`, framed by special tokens, which a server without its
# reasoning parser leaves out of the text (skip_special_tokens): `thought\nRA` (`_unsplit`)
GEMMA4 = re.compile(r"gemma[-_]?4(?!\d)", re.IGNORECASE)
THOUGHT_LEFT = re.compile(r"\s*thought\n")
AZURE_HOSTS = (".openai.azure.com", ".cognitiveservices.azure.com")
AZURE_MAX_COMPLETION = "2024-09-01"  # the first api-version that takes max_completion_tokens


def _tokens_key(base_url: str) -> str:
    """The body's name for --max-tokens: max_completion_tokens on OpenAI's own API and on Azure
    OpenAI (their reasoning models, o-series and gpt-5, refuse max_tokens with a 400; every model
    of theirs takes the new name; Azure from its v1 API or api-version 2024-09-01 on), max_tokens
    on every other server (vLLM, DeepSeek, OpenRouter ...)."""
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    if host == "api.openai.com":
        return "max_completion_tokens"
    if host.endswith(AZURE_HOSTS):
        version = (parse_qs(parts.query).get("api-version") or [""])[0]
        if not version or version[:10] >= AZURE_MAX_COMPLETION:
            return "max_completion_tokens"
    return "max_tokens"


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
    # OpenAI's own URL needs a key, a query on it (`?x=`) or not (split_query)
    if base_url and split_query(base_url)[0].rstrip("/") != OPENAI_URL:
        return "EMPTY"  # local servers (vllm serve, SGLang) accept any key
    raise DistillError(f"no API key: set ${env_name} (or pass --api-key-env NAME)")


_CONNECT_ERRORS = {
    "ConnectError",
    "ConnectTimeout",
    "ClientConnectorError",
    "ClientConnectorDNSError",
    "ConnectionTimeoutError",  # aiohttp's, on the direct path (DirectPost)
}
# The server was reached and closed the connection (or reset it) before its reply was whole:
# aiohttp's, and httpx's where openai has no aiohttp extra
_DROPPED_ERRORS = {
    "ServerDisconnectedError",
    "ClientOSError",  # a reset after the connect (ClientConnectorError is the connect's)
    "ClientPayloadError",
    "RemoteProtocolError",
    "ReadError",
}


def _connect_failure(exc: BaseException) -> str | None:
    """The name of a connect-phase error in `exc`'s chain, if any.

    The aiohttp transport reports a refused connection as a ConnectTimeout (so openai raises
    APITimeoutError); a connect failure after every retry means the server is unreachable,
    while a read timeout is one slow reply. So does it report a connection the server closed
    (ServerDisconnectedError): that server was reached, and a prompt it drops is that prompt's
    failure (`_dropped`), not a reason to stop the run.
    """
    found, seen = None, exc
    while seen is not None:  # the deepest one names the real cause
        name = type(seen).__name__
        if name in _CONNECT_ERRORS:
            found = name
        elif name in _DROPPED_ERRORS:
            found = None
        seen = seen.__cause__ or seen.__context__
    return found


def _dropped(exc: BaseException) -> bool:
    """`exc` (after every retry) is a connection the server closed or reset mid-request."""
    seen: BaseException | None = exc
    while seen is not None:
        if type(seen).__name__ in _DROPPED_ERRORS:
            return _connect_failure(exc) is None
        seen = seen.__cause__ or seen.__context__
    return False


CONNECT_TIMEOUT = 5.0  # seconds for a TCP connect (the openai client's own default)
CONNECT_INTERVAL = 0.002  # seconds between the workers' first connections


def _httpx() -> Any:
    """The HTTP library the openai client itself uses (httpx2 from openai 3 on)."""
    try:
        import httpx2

        return httpx2
    except ImportError:
        import httpx

        return httpx


def make_client(
    base_url: str,
    api_key: str,
    *,
    concurrency: int,
    max_retries: int,
    request_timeout: float,
) -> Any:
    """An `openai.AsyncOpenAI` client for `concurrency` requests in flight.

    Transport: aiohttp (openai's `DefaultAioHttpClient`), which costs about half the CPU per
    reply of the default httpx pool (measured with benchmarks/bench_generate.py); httpx when
    openai was installed without its aiohttp extra.
    Pool: one kept-alive connection per request in flight. openai's default keeps 100 idle, so
    at 128 in flight 28 connections were closed and reopened all the time, and each reopen on
    a server with a small listen backlog can wait a second or more for the kernel's SYN retry.
    Timeouts: `request_timeout` per try, but the TCP connect is cut at CONNECT_TIMEOUT: a
    connect whose SYNs a full backlog keeps dropping otherwise waits out the kernel's retries
    (1, 3, 7, 15, 31, 63 s), while a fresh connect on the retry gets in at once.
    """
    import openai

    httpx = _httpx()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    try:
        http_client = openai.DefaultAioHttpClient(limits=limits)
    except RuntimeError:  # openai installed without its aiohttp extra
        http_client = openai.DefaultAsyncHttpxClient(limits=limits)
    base_url, query = split_query(base_url)  # `?api-version=...`: sent with every request
    return openai.AsyncOpenAI(
        api_key=api_key,
        base_url=base_url,
        default_query=query,
        max_retries=max_retries,
        timeout=httpx.Timeout(request_timeout, connect=min(CONNECT_TIMEOUT, request_timeout)),
        http_client=http_client,
    )


class DirectPost:
    """Each /chat/completions request, its first try sent straight on an aiohttp session.

    Why: the openai client's request pipeline (options and retry bookkeeping, httpx Request, URL
    and header objects, the adapter onto its aiohttp transport) costs ~1.5 ms of CPU per request,
    three quarters of distill's own; at 128 requests in flight and 0.2 s replies one core could
    not keep up (benchmarks/bench_generate.py: 2.0 ms/request, 0.74 of ideal where a bare aiohttp
    client reached 0.94). The direct try sends the same JSON body to the same URL with the
    client's own headers (`auth_headers` then `default_headers`, merged as the client merges
    them: key, organization, project, custom headers, user agent), the same connect / read
    timeouts and the same certificates, and takes a 2xx reply that is JSON.
    Everything else follows the client's rules: a status it would not retry raises its own
    error (`_make_status_error_from_response`); after one it would retry (429, 5xx,
    x-should-retry, Retry-After), a connect timeout or a connection error, the next try waits the
    client's backoff for that try (`_sleep_for_retry(retries_taken=i)`: 0.5, 1, 2 ... s or the
    server's Retry-After) and goes through the client itself (`max_retries=0`, so its own
    errors), up to `max_retries` retries; an account out of credit is not retried (`_retried`).
    A 2xx body that is not JSON is raised, not asked again (the client retries no 2xx), and
    judged as on the client's path (OpenAITeacher._not_json_reply).
    """

    def __init__(self, client: Any, *, concurrency: int, request_timeout: float):
        import aiohttp
        from openai._models import FinalRequestOptions

        self.httpx = httpx = _httpx()
        self.client = client
        self.once = client.with_options(max_retries=0)  # one try, the client's own errors
        self.url = str(client.base_url).rstrip("/") + "/chat/completions"
        if client.default_query:  # the base URL's query (split_query), as the client sends it
            from urllib.parse import urlencode

            self.url += "?" + urlencode(client.default_query)
        merged: dict[str, tuple[str, str]] = {}  # as openai's _merge_headers: later wins
        for mapping in (client.auth_headers, client.default_headers):
            for name, value in mapping.items():
                if isinstance(value, str):
                    merged[name.lower()] = (name, value)
                else:  # Omit(): removed
                    merged.pop(name.lower(), None)
        if "authorization" not in merged:  # the client authenticates per request
            raise LookupError("Authorization")
        self.headers = dict(merged.values())
        self.options = FinalRequestOptions.construct(method="post", url="/chat/completions")
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=concurrency,
                # https: certifi's certificates (or SSL_CERT_FILE's), as the client's transport;
                # built only then (~50 ms of start-up)
                ssl=httpx.create_ssl_context() if self.url.startswith("https:") else True,
                keepalive_timeout=httpx.Limits(max_connections=None).keepalive_expiry,
            ),
            timeout=aiohttp.ClientTimeout(
                connect=request_timeout,
                sock_connect=min(CONNECT_TIMEOUT, request_timeout),
                sock_read=request_timeout,
            ),
        )

    @classmethod
    def of(cls, client: Any, *, concurrency: int, request_timeout: float) -> DirectPost | None:
        """The direct path for `client`, or None where it cannot stand in for it: openai
        without its aiohttp extra, no retries (max_retries 0 keeps one path), a proxy in the
        environment (HTTP(S)_PROXY / ALL_PROXY: the client's httpx routes by its own rules), a
        client that authenticates per request, or an openai whose retry rules are not where
        this looks (then every try goes through the client, as before)."""
        from urllib.request import getproxies

        needed = ("_should_retry", "_sleep_for_retry", "_make_status_error_from_response")
        if client.max_retries < 1 or not all(hasattr(client, name) for name in needed):
            return None
        if set(getproxies()) - {"no"}:  # NO_PROXY alone sends nothing through a proxy
            return None
        try:
            return cls(client, concurrency=concurrency, request_timeout=request_timeout)
        except (ImportError, AttributeError, TypeError, LookupError):
            return None

    async def post(self, body: dict[str, Any]) -> Any:
        ok, response = await self._first_try(body)
        if ok:
            return response
        return await _retries(self.client, self.once, self.options, body, response)

    async def _first_try(self, body: dict[str, Any]) -> tuple[bool, Any]:
        """(True, the reply's JSON) or (False, the reply to retry after: an httpx Response,
        or None after a connection error); raises what is not retried, a read timeout too."""
        import aiohttp
        import openai

        try:
            async with self.session.post(
                self.url, data=json.dumps(body).encode(), headers=self.headers
            ) as r:
                status, headers, content = r.status, r.raw_headers, await r.read()
        except (asyncio.TimeoutError, aiohttp.ClientError) as e:
            if isinstance(e, asyncio.TimeoutError) and _connect_failure(e) is None:
                # sent and no whole reply in time: never asked again (_no_reply_in_time)
                raise openai.APITimeoutError(request=self.httpx.Request("POST", self.url)) from e
            return False, None
        if 200 <= status < 300:  # not JSON (or not UTF-8): a ValueError (_not_json_reply)
            return True, json.loads(content)
        # aiohttp has decoded the body already: the headers must not say it is still encoded
        plain = {b"content-encoding", b"content-length", b"transfer-encoding"}
        response = self.httpx.Response(
            status,
            headers=[(k, v) for k, v in headers if k.lower() not in plain],
            content=content,
            request=self.httpx.Request("POST", self.url),
        )
        if not _retried(self.client, response):
            raise self.client._make_status_error_from_response(response)
        return False, response

    async def close(self) -> None:
        await self.session.close()


class ClientPost:
    """Each request with every try through the client, as DirectPost's tries after its first
    (where DirectPost cannot stand in for the client: a proxy in the environment, openai without
    its aiohttp extra): the client's errors, backoff and retry rules, a read timeout excepted
    (`_no_reply_in_time`)."""

    def __init__(self, client: Any):
        from openai._models import FinalRequestOptions

        self.client = client
        self.once = client.with_options(max_retries=0)
        self.options = FinalRequestOptions.construct(method="post", url="/chat/completions")

    @classmethod
    def of(cls, client: Any) -> ClientPost | None:
        """None where there is nothing to retry (max_retries 0) or the client's retry rules are
        not where this looks (then the client retries as it does, a read timeout too)."""
        if client.max_retries < 1 or not all(
            hasattr(client, name) for name in ("_should_retry", "_sleep_for_retry")
        ):
            return None
        try:
            return cls(client)
        except (ImportError, AttributeError, TypeError):
            return None

    async def post(self, body: dict[str, Any]) -> Any:
        import openai

        try:
            return await self.once.post("/chat/completions", body=body, cast_to=object)
        except openai.APIStatusError as e:
            if not _retried(self.client, e.response):
                raise
            response = e.response
        except openai.APIConnectionError as e:  # and APITimeoutError, its subclass
            if _no_reply_in_time(e):
                raise
            response = None
        return await _retries(self.client, self.once, self.options, body, response)

    async def close(self) -> None:
        pass


def _retried(client: Any, response: Any) -> bool:
    """Whether `response` (an httpx Response, its body read) is asked again: the client's own
    rules (408/409/429/5xx, x-should-retry, Retry-After), except an account out of credit,
    OpenAI's 429 `insufficient_quota`, which every retry gets the same (`out_of_credit`)."""
    return client._should_retry(response) and not out_of_credit(response)


def _no_reply_in_time(exc: BaseException) -> bool:
    """`exc` is a timeout after the connection was made: the request was sent and its reply
    did not come whole within --request-timeout. Not asked again, unlike a connect timeout:
    the server got it and may still be generating it, which most providers bill whether or not
    the client waits (a timeout-driven retry of a slow reasoning model billed 5.7x what was
    saved: RISE-UNIBAS/humanities_data_benchmark#110), and a reply that slow once is as slow on
    every retry (7 tries of 600 s, each paid, and the sample failed all the same). The sample
    fails; a rerun asks it again, with a larger --request-timeout if the replies are that long."""
    import openai

    # openai's aiohttp transport reports a dropped connection as a (connect) timeout too
    return isinstance(exc, openai.APITimeoutError) and not (_connect_failure(exc) or _dropped(exc))


async def _retries(
    client: Any, once: Any, options: Any, body: dict[str, Any], response: Any
) -> Any:
    """The tries after a first that can be retried (`response`: its httpx Response, or None
    after a connection error), each through the client (`once`: max_retries=0) after the
    client's backoff for it (0.5, 1, 2 ... s, or the server's Retry-After); a read timeout
    ends them (`_no_reply_in_time`)."""
    import openai

    retries = client.max_retries
    for taken in range(retries):
        await client._sleep_for_retry(
            retries_taken=taken, max_retries=retries, options=options, response=response
        )
        try:
            return await once.post("/chat/completions", body=body, cast_to=object)
        except openai.APIStatusError as e:
            if taken == retries - 1 or not _retried(client, e.response):
                raise
            response = e.response
        except openai.APIConnectionError as e:  # and APITimeoutError, its subclass
            if taken == retries - 1 or _no_reply_in_time(e):
                raise
            response = None
    raise AssertionError("unreachable: the last try returns or raises")


def scrub(text: str, *secrets: str) -> str:
    """`text` (a server's words in an error line) without any of `secrets`, the longest first
    (one may hold another), as written or percent-encoded (`_spellings`), cut to 300 characters
    once they are out."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and secret != "EMPTY":
            text = re.sub(_spellings(secret), "***", text)
    return text[:300]


def _spellings(secret: str) -> str:
    """A pattern for `secret` as written or as a URL's query carries it: a client sends the
    base URL's `?key=...` percent-encoded (a base64 key's `=` padding as %3D, `/` as %2F) and
    a server or proxy echoes the path it got ("Cannot POST /v1/chat/completions?key=Ab%3D%3D"),
    in either case of hex digits; a space as `+` too."""
    parts = []
    for ch in secret:
        if ch.isascii() and ch.isalnum():
            parts.append(ch)
            continue
        ways = [re.escape(ch), "".join(f"%(?i:{b:02x})" for b in ch.encode())]
        if ch == " ":
            ways.append(r"\+")
        parts.append("(?:" + "|".join(ways) + ")")
    return "".join(parts)


def scrub_line(text: str, *secrets: str, limit: int = 300) -> str:
    """`scrub`, on one line (a proxy's HTML page: its whitespace runs as single spaces), cut to
    `limit` characters."""
    return " ".join(scrub(text, *secrets).split())[:limit]


def check_settings(cfg: Any) -> str:
    """The API key for `cfg` (a TeacherConfig), or one line naming what is wrong: a
    user:password@ in --base-url, no key for OpenAI's own API. Stages call it before they write
    anything, so a refused teacher leaves no empty traces file or saved config behind."""
    from urllib.parse import urlsplit

    base_url = cfg.base_url or OPENAI_URL
    if "@" in urlsplit(base_url).netloc:  # aiohttp refuses it beside the Bearer key
        raise DistillError(
            f"--base-url {redact_url(base_url)}: a user:password@ in the URL is not sent; put "
            f"the key in ${cfg.api_key_env} (sent as a Bearer token) and remove it from the URL"
        )
    return resolve_api_key(cfg.api_key_env, cfg.base_url)


async def interruptible(coro: Any) -> Any:
    """`coro`, stopped by Ctrl-C (SIGINT) at once, whichever of the process's threads the kernel
    hands the signal to. asyncio.run's own handler is a Python one, which only the main thread
    runs, between two bytecodes: a SIGINT taken by another thread (numpy's OpenBLAS threads, a
    thread pool's) waited for the loop to wake, while it slept in select() until a reply in
    flight came or a timer fell due, up to --request-timeout. A handler on the loop
    (`add_signal_handler`: the signal's number goes to the loop's wakeup fd, from whatever thread)
    wakes it. The first SIGINT cancels `coro` (its requests in flight dropped, what was written
    kept: records are written by the loop's callbacks, never cut by the signal), then
    KeyboardInterrupt; a second one raises KeyboardInterrupt at once. Left as they are (`coro`
    awaited plainly, Python's handler then): a SIGINT ignored or handled by the program (not
    Python's default), a caller off the main thread, a wakeup fd the program set (another
    event loop's, a GUI toolkit's: asyncio's would take its place and close it after, -1), a
    loop with no signal handlers (Windows). SIGINT's handler and the wakeup fd are as they were
    after."""
    import signal
    import threading

    loop = asyncio.get_running_loop()
    me = asyncio.current_task()
    handler = signal.getsignal(signal.SIGINT)
    # asyncio.run (3.11+) put its Runner's in place of Python's default for the run: ours then
    runner = getattr(getattr(handler, "func", None), "__self__", None)
    ours = handler is signal.default_int_handler or (
        hasattr(asyncio, "Runner") and isinstance(runner, asyncio.Runner)
    )
    if me is None or threading.current_thread() is not threading.main_thread() or not ours:
        return await coro
    # read by setting it (the only way): put back at once where the program holds one
    try:
        wakeup = signal.set_wakeup_fd(-1)
    except ValueError:  # not the main interpreter (a subinterpreter): no signals here
        return await coro
    if wakeup != -1:
        signal.set_wakeup_fd(wakeup)
        return await coro
    interrupted = 0

    def on_sigint() -> None:
        nonlocal interrupted
        interrupted += 1
        if interrupted > 1:
            raise KeyboardInterrupt
        me.cancel()

    try:
        loop.add_signal_handler(signal.SIGINT, on_sigint)
    except (ValueError, RuntimeError, NotImplementedError):  # no signals here (Windows)
        return await coro
    try:
        result = await coro
    except asyncio.CancelledError:
        if interrupted == 1:
            raise KeyboardInterrupt from None
        # not ours; or after a second Ctrl-C, whose KeyboardInterrupt left the loop at once:
        # asyncio.run's closing cancels the run then, a cancel (a KeyboardInterrupt again was
        # the task's exception never retrieved, its traceback printed as the process ended)
        raise
    finally:
        loop.remove_signal_handler(signal.SIGINT)  # its wakeup fd -1 again, as it was
        # Python's default, or asyncio.run's while it runs: after a second Ctrl-C its run is
        # over (it put back Python's where it found its own), its handler no longer wanted
        signal.signal(signal.SIGINT, handler if interrupted < 2 else signal.default_int_handler)
    if interrupted == 1:  # the cancel swallowed on its way (a timeout's context that took it)
        raise KeyboardInterrupt
    return result


class OpenAITeacher:
    def __init__(self, cfg: Any):
        self.cfg = cfg
        self.base_url = cfg.base_url or OPENAI_URL
        self.shown = redact_url(self.base_url)  # error lines: no user:token@ or ?key= of it
        self.api_key = check_settings(cfg)
        # scrubbed from a server's words in error lines: the key, a `?key=` of the URL
        self.secrets = [self.api_key, *url_secrets(self.base_url)]
        self.split_n = not cfg.n_per_request  # flips on if the server ignores `n`
        self.requests = 0
        self.tokens_key = _tokens_key(self.base_url)  # max_tokens or max_completion_tokens
        # before any reply succeeds: the same 4xx on every request is the request, not a prompt
        self._answered = False
        self._same_4xx: tuple[str, int] = ("", 0)
        # 2xx replies whose body was not a JSON object since the last one that was
        self._not_json_in_a_row = 0
        # of the first SAME_4XX requests sent, those the server closed without a reply (after
        # their retries): a drop comes back at once and an answer may take minutes, so drops
        # counted as they come back would be the crashing prompts', not the first requests'
        self._drops = 0
        # of the first SAME_4XX requests sent, those with no reply within --request-timeout
        # (never asked again): all of them, none answered, is every reply too slow for it
        self._timeouts = 0
        self._probed = False  # GET /models asked once, after the first drop before any answer
        # whether the served model is Gemma 4 (`_gemma4`): None until a reply begins with its
        # thought channel's label alone (`unsplit`), then asked once
        self._gemma4: str | None | bool = None
        self._gemma4_lock: asyncio.Lock | None = None
        self.tokenizer, self._special_ids = (
            _served_tokenizer(cfg.model) if cfg.logprobs else (None, None)
        )

    def run(self, jobs: Sequence[Job], sink: Sink) -> None:
        asyncio.run(interruptible(self._run(jobs, sink)))

    async def _run(self, jobs: Sequence[Job], sink: Sink) -> None:
        cfg = self.cfg
        conc = max(1, cfg.concurrency)
        client = make_client(
            self.base_url,
            self.api_key,
            concurrency=conc,
            max_retries=cfg.max_retries,
            request_timeout=cfg.request_timeout,
        )
        self._direct: DirectPost | ClientPost | None = None
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

        async def work(k: int) -> None:
            # Connection ramp-up: each worker opens its connection with its first request, and
            # `conc` connections opened at once overflow a small listen backlog
            # (ThreadingHTTPServer's 5): the kernel drops the SYNs and retries them 1 s, 3 s,
            # 7 s ... later, all in step. Opening them CONNECT_INTERVAL apart lets the server
            # accept each before the next arrives (benchmarks/bench_generate.py).
            await asyncio.sleep(k * CONNECT_INTERVAL)
            while (item := await queue.get()) is not None:
                job, samples = item
                if len(samples) > 1 and self.split_n:
                    for s in samples:
                        await self._request(client, job, [s], sink)
                else:
                    await self._request(client, job, samples, sink)

        self._emit_error: BaseException | None = None
        try:
            self._direct = DirectPost.of(
                client, concurrency=conc, request_timeout=cfg.request_timeout
            ) or ClientPost.of(client)
            # A record that cannot be written (a reply it cannot parse, a full disk) stops the
            # run at once: the workers would otherwise go on buying replies nobody writes.
            self._workers = asyncio.gather(produce(), *(work(k) for k in range(conc)))
            try:
                await self._workers
                await asyncio.sleep(0)  # records whose writing was deferred are written by now
            except asyncio.CancelledError:
                if self._emit_error is None:
                    raise
        finally:
            if self._direct is not None:
                await self._direct.close()
            await client.close()
        if self._emit_error is not None:
            raise self._emit_error

    async def _pace(self, job: Job, n: int) -> int:
        est = 0
        if self._tpm:
            # a request for n samples may spend max_tokens on each (and providers count it so)
            prompt_chars = sum(len(m["content"]) for m in job.messages)
            est = prompt_chars // 4 + self.cfg.max_tokens * n
            await asyncio.sleep(self._tpm.reserve(est))
        if self._rpm:
            await asyncio.sleep(self._rpm.reserve(1))
        return est

    async def _request(self, client: Any, job: Job, samples: list[int], sink: Sink) -> None:
        import openai

        cfg = self.cfg
        est = await self._pace(job, len(samples))
        kwargs = self.body(job.messages, samples)
        self.requests += 1
        sent = self.requests  # this request's place: the first SAME_4XX decide on dropping
        try:
            if self._direct is not None:  # the first try straight on aiohttp, the rest openai's
                resp = await self._direct.post(kwargs)  # (ClientPost: every try openai's)
            else:
                # The client's documented low-level call: same retries, timeouts and error
                # types as chat.completions.create, without its per-request body transform and
                # response model building, ~1 ms CPU per request (bench_generate.py).
                resp = await client.post("/chat/completions", body=kwargs, cast_to=object)
        except (openai.AuthenticationError, openai.PermissionDeniedError) as e:
            raise DistillError(
                f"{self.shown}: HTTP {e.status_code} (not retried): the key in "
                f"${cfg.api_key_env} was refused"
            ) from None
        except openai.NotFoundError as e:
            raise DistillError(
                f"{self.shown}: HTTP 404 (not retried): model '{cfg.model}' or the endpoint "
                f"was not found: {scrub_line(str(e.message), *self.secrets)}"
            ) from None
        except openai.APIConnectionError as e:  # and APITimeoutError, its subclass
            if _dropped(e):  # this request's, as a 5xx is: the other prompts go on
                why = "the server closed the connection without a whole reply"
                self._drops += sent <= SAME_4XX
                if not self._answered and not self._probed:
                    self._probed = True
                    if await self._models_dropped(client):
                        raise DistillError(
                            f"{self.shown}: the first request was closed by the server without "
                            f"a reply ({cfg.max_retries + 1} tries), and so was GET /models, "
                            "none answered: check --base-url (an OpenAI-compatible API; http or "
                            "https)"
                        ) from None
                if not self._answered and self._drops >= SAME_4XX:  # it drops every request
                    raise DistillError(
                        f"{self.shown}: the first {SAME_4XX} requests were each closed by the "
                        f"server without a reply ({cfg.max_retries + 1} tries each), none "
                        "answered: check --base-url (an OpenAI-compatible API; http or https)"
                    ) from None
            elif _no_reply_in_time(e):  # never asked again: the server may bill what it made
                self._timeouts += sent <= SAME_4XX
                # its spend is unknown (no usage came): counted apart, never as $0 (Sink)
                timed_out = getattr(sink, "timed_out", None)
                if timed_out is not None:
                    timed_out(job, samples)
                if not self._answered and self._timeouts >= SAME_4XX:
                    # every prompt would be sent (and paid for) once more to be dropped the same
                    raise DistillError(
                        f"{self.shown}: the first {SAME_4XX} requests each got no reply within "
                        f"--request-timeout {cfg.request_timeout:g}s (not asked again: the "
                        "server may still be generating them, billed all the same), none "
                        "answered: rerun with a larger --request-timeout if the replies are that "
                        "long, or check --base-url (a server that answers nothing)"
                    ) from None
                for s in samples:
                    sink.failed(
                        job,
                        s,
                        f"no reply within --request-timeout {cfg.request_timeout:g}s, not asked "
                        "again (the server may still be generating it, billed all the same); "
                        "for replies that long, rerun with a larger --request-timeout",
                    )
                return
            else:
                raise self._unreachable(
                    _connect_failure(e) or type(e.__cause__ or e).__name__
                ) from None
            for s in samples:
                sink.failed(job, s, f"{why} x {cfg.max_retries + 1} tries")
            return
        except openai.APIStatusError as e:  # 400/422 (this prompt), 429/5xx after all retries
            why = f"HTTP {e.status_code}: {scrub_line(str(e.message), *self.secrets)}"
            if e.status_code == 402 or getattr(e, "code", None) == "insufficient_quota":
                # every later request gets the same answer (DeepSeek's 402, OpenAI's 429
                # insufficient_quota): stop, rather than retry and fail each prompt in turn
                raise DistillError(
                    f"{self.shown}: {why} (not retried): the account of the key in "
                    f"${cfg.api_key_env} has no credit left"
                ) from None
            self._stop_if_every_request_fails(e.status_code, why, sent)
            for s in samples:
                sink.failed(job, s, why)
            return
        except json.JSONDecodeError as e:  # a 2xx that is not JSON: not asked again (DirectPost)
            self._not_json_reply(repr(scrub(e.doc, *self.secrets)[:80]), job, samples, sink)
            return
        except ValueError as e:  # e.g. not UTF-8
            self._not_json_reply(f"a body it could not read ({e})", job, samples, sink)
            return
        if isinstance(resp, str):  # the client's answer to a reply that is not JSON (text/html)
            self._not_json_reply(repr(scrub(resp, *self.secrets)[:80]), job, samples, sink)
            return
        if not isinstance(resp, dict):
            self._not_json_reply(f"a JSON {type(resp).__name__}", job, samples, sink)
            return
        self._answered = True
        self._not_json_in_a_row = 0
        choices = self._choices(resp)  # a reply of another shape: one line, before any record
        if cfg.logprobs:
            self._check_logprobs(resp)
        if self._gemma4 is not False and unsplit(choices):
            await self._refuse_unsplit_gemma4(client)
        if self._tpm and isinstance(resp.get("usage"), dict):
            u = resp["usage"]  # total_tokens missing or null on some servers: the sum then
            used = u.get("total_tokens") or (u.get("prompt_tokens") or 0) + (
                u.get("completion_tokens") or 0
            )
            self._tpm.adjust(used - est)
        got = min(len(choices), len(samples))
        if got == len(samples):
            # Writing the record waits until the workers woken by the same burst of replies
            # have sent their next requests: replies arrive in bursts at high concurrency, and
            # the server's clock for the next request only starts once it is sent.
            loop = asyncio.get_running_loop()
            loop.call_soon(self._emit_later, job, samples, resp, sink, choices)
            return
        error = resp.get("error")  # in a 200 body: OpenRouter's upstream errors
        if got == 0 and (len(samples) == 1 or error):  # asking again pays for the same nothing
            said = error.get("message") if isinstance(error, dict) else error
            why = "the reply had no choices" + (
                f": {scrub_line(str(said), *self.secrets)}" if said else ""
            )
            spent = usage_shares(resp.get("usage"), len(samples))  # billed for nothing: counted
            for k, s in enumerate(samples):
                sink.failed(job, s, why, usage=spent[k] if spent else None)
            return
        self._emit(job, samples, resp, sink, choices)
        # The server ignored `n` (some do): ask for the rest one by one, now and, where it
        # answered one, from now on (a reply with no choice at all says nothing of `n`).
        self.split_n = self.split_n or got > 0
        for s in samples[got:]:
            await self._request(client, job, [s], sink)

    async def _refuse_unsplit_gemma4(self, client: Any) -> None:
        """Stop the run, before any record of it, where the served model is Gemma 4 and a reply
        begins with its thought channel's label without its markers (`unsplit`): the server runs
        without its reasoning parser, and the thinking would be recorded as the answer. Gemma 4
        by --model's name, else by GET /models' `root` for it (vLLM and SGLang name the weights
        served under another --served-model-name there), asked once; a model that is not, or a
        server that does not say, goes on as it is (a reply's text alone cannot tell)."""
        if self._gemma4 is None:
            if self._gemma4_lock is None:
                self._gemma4_lock = asyncio.Lock()
            async with self._gemma4_lock:  # the replies that came meanwhile wait for one answer
                if self._gemma4 is None:
                    self._gemma4 = gemma4_name(self.cfg.model) or await self._served_root(client)
        if self._gemma4:
            raise self.unsplit_error(self._gemma4)

    def unsplit_error(self, weights: str) -> DistillError:
        """The line that stops a run whose Gemma 4 (`weights`: --model's name, or what GET
        /models names for it) replies with its thought channel unmarked (`unsplit`)."""
        return DistillError(
            f"{self.shown}: model '{self.cfg.model}'"
            + (f" ({weights})" if weights != self.cfg.model else "")
            + " is Gemma 4 and its reply begins 'thought' with no reasoning field: the server "
            "dropped its thought channel's markers (<|channel>, <channel|>: special tokens), so "
            "its thinking cannot be told from its answer; serve it with --reasoning-parser "
            "gemma4 (vllm serve, SGLang) and rerun"
        )

    async def _served_root(self, client: Any) -> str | bool:
        """The weights GET /models names for --model (`root`, vLLM's and SGLang's), where they
        are Gemma 4's; else False (another model, no such field, no answer). A LoRA adapter
        served on a Gemma 4 (vLLM's --lora-modules NAME=DIR: its root the adapter's folder) is
        one by its `parent`: the base's name, or the name it is served under (that card's
        root)."""
        try:
            once = client.with_options(
                max_retries=min(self.cfg.max_retries, 2),
                timeout=min(self.cfg.request_timeout, CONNECT_TIMEOUT * 6),
            )
            listed = await once.get("/models", cast_to=object)
        except Exception:  # noqa: BLE001 - a server that does not say: not known as Gemma 4
            return False
        models = listed.get("data") if isinstance(listed, dict) else None
        cards = {
            m.get("id"): m
            for m in (models if isinstance(models, list) else ())
            if isinstance(m, dict) and isinstance(m.get("id"), str)
        }
        card = cards.get(self.cfg.model) or {}
        parent = card.get("parent")
        base = cards.get(parent) or {} if isinstance(parent, str) and parent else {}
        for name in (card.get("root"), parent, base.get("root")):
            if isinstance(name, str) and gemma4_name(name):
                return name
        return False

    async def _models_dropped(self, client: Any) -> bool:
        """Whether GET /models, too, is closed without a reply. A server that drops the first
        request may be crashing on its prompt (the rest go on), or be no HTTP API at all (a
        wrong port, http to a TLS port): only the first SAME_4XX requests sent tell them apart,
        one after the other at --concurrency 1, each with all its retries (~170 s at the
        default 6). Any reply to this one (a 404 included) is a server that answers."""
        import openai

        try:
            once = client.with_options(  # a slow answer is an answer: not waited out
                max_retries=min(self.cfg.max_retries, 2),
                timeout=min(self.cfg.request_timeout, CONNECT_TIMEOUT * 6),
            )
            await once.get("/models", cast_to=object)
        except openai.APIConnectionError as e:
            return _dropped(e)
        except Exception:  # noqa: BLE001 - an error status, a body not JSON: it answered
            return False
        return False

    def _stop_if_every_request_fails(self, status: int, why: str, sent: int) -> None:
        """The first SAME_4XX requests all refused with one 4xx word for word, none answered: a
        parameter or model the server refuses (an OpenAI reasoning model's `temperature`), which
        every prompt would fail the same way. One line, rather than a run of failed prompts.
        Only the first SAME_4XX sent count (`sent`, the request's place): a refusal of some
        prompts (moderation) comes back before slow answers to the others do."""
        if self._answered or not 400 <= status < 500 or status in RETRIED_4XX:
            return  # a 408/409/429 left after its retries is the pace or the server, not the request
        if sent > SAME_4XX:
            return
        seen, count = self._same_4xx
        self._same_4xx = (why, count + 1 if why == seen else 1)
        if self._same_4xx[1] >= SAME_4XX:
            raise DistillError(
                f"{self.shown}: the first {SAME_4XX} requests were all refused with {why}; "
                "no reply succeeded, so every prompt would fail the same way: fix the request "
                "(a sampling parameter or --max-tokens the model does not take, the model name)"
            )

    def body(self, messages: list[dict[str, str]], samples: list[int]) -> dict[str, Any]:
        """The /chat/completions body for these samples of one prompt; the batch path
        (distill/teachers/batch.py) sends the same body, one sample per line."""
        cfg = self.cfg
        kwargs: dict[str, Any] = dict(
            model=cfg.model,
            messages=messages,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
        )
        kwargs[self.tokens_key] = cfg.max_tokens
        if len(samples) > 1:
            kwargs["n"] = len(samples)
        if cfg.seed is not None:
            kwargs["seed"] = cfg.seed + samples[0]
        if cfg.logprobs:
            # vLLM's extra parameter makes each token "token_id:N": ids, not decoded text.
            kwargs.update(logprobs=True, top_logprobs=cfg.logprobs, return_tokens_as_token_ids=True)
        return kwargs

    def _not_json_reply(self, what: str, job: Job, samples: list[int], sink: Sink) -> None:
        """A 2xx whose body is not a JSON object, never asked again (a server that streams SSE
        answers the same, paid again where it was generated). Before any reply was JSON, the
        server is no OpenAI API as called (SSE by default, a proxy's page, a wrong --base-url):
        the run stops at once. After, it is one reply a proxy or server garbled among good ones:
        its samples fail (a rerun asks them), and the run goes on, with its requests in flight,
        rather than stop a long run and drop up to --concurrency replies being generated (paid
        again by the rerun). SAME_4XX of them in a row, none JSON between, stop it too."""
        self._not_json_in_a_row += 1
        if not self._answered:
            raise self._not_json(what)
        if self._not_json_in_a_row >= SAME_4XX:
            raise self._not_json(what, f", {SAME_4XX} replies in a row after JSON ones")
        for s in samples:
            sink.failed(
                job,
                s,
                f"POST /chat/completions answered {what}, not a JSON object (not asked again)",
            )

    def _not_json(self, what: str, after: str = "") -> DistillError:
        return DistillError(
            f"{self.shown}: POST /chat/completions answered {what}, not a JSON object{after}; "
            "check --base-url (an OpenAI-compatible API, usually ending in /v1)"
        )

    def _unreachable(self, cause: str) -> DistillError:
        return DistillError(
            f"cannot reach {self.shown} after {self.cfg.max_retries} retries ({cause}); "
            "check --base-url"
        )

    def _emit_later(
        self, job: Job, samples: list[int], resp: dict[str, Any], sink: Sink, choices: list
    ) -> None:
        try:
            self._emit(job, samples, resp, sink, choices)
        except BaseException as e:  # noqa: BLE001 - re-raised by _run, which stops the workers
            self._emit_error = self._emit_error or e
            self._workers.cancel()

    def _choices(self, resp: dict[str, Any]) -> list[dict[str, Any]]:
        """The reply's choices in `index` order (their order in the reply where a server gives
        none, or null); a reply whose choices or messages are of another shape stops the run."""
        choices = resp.get("choices") or []
        what = None
        if not isinstance(choices, list):
            what = f"choices as a JSON {type(choices).__name__}"
        elif not all(isinstance(c, dict) for c in choices):
            what = "a choice that is not a JSON object"
        else:
            for c in choices:
                msg = c.get("message")
                try:
                    if msg is not None and not isinstance(msg, dict):
                        raise ValueError(f"a message {msg!r:.60}")
                    _message_texts(msg or {})
                except ValueError as e:
                    what = scrub(str(e), *self.secrets)
                    break
        if what is not None:
            raise DistillError(
                f"{self.shown}: POST /chat/completions answered {what}, not a chat completion; "
                "check --base-url (an OpenAI-compatible API, usually ending in /v1)"
            )
        place = {id(c): k for k, c in enumerate(choices)}
        return sorted(
            choices,
            key=lambda c: c["index"] if isinstance(c.get("index"), int) else place[id(c)],
        )

    def _emit(
        self,
        job: Job,
        samples: list[int],
        resp: dict[str, Any],
        sink: Sink,
        choices: list | None = None,
    ) -> None:
        """Write `resp`'s choices (`choices`: `_choices(resp)` where the caller read them; the
        batch path hands the body alone) as the samples `samples`."""
        choices = (self._choices(resp) if choices is None else choices)[: len(samples)]
        usage = resp.get("usage") if isinstance(resp.get("usage"), dict) else {}
        n = len(choices)
        reasoning_total = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens")
        # prompt tokens read from the provider's cache, billed at a lower price: OpenAI's
        # prompt_tokens_details, DeepSeek's prompt_cache_hit_tokens
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or usage.get(
            "prompt_cache_hit_tokens"
        )
        # Usage is per request; with n>1 split completion tokens by text length (the chain of
        # thought in reasoning_content too: it is billed) and remember the share so cost
        # counts the shared prompt once.
        texts = [_message_texts(c.get("message") or {}) for c in choices]
        lengths = [len(content) + len(reasoning or "") for content, reasoning in texts]
        total_chars = sum(lengths)
        weights = lengths if total_chars else [1] * n
        # A reply without usage (some proxies and servers) spent tokens all the same: counted
        # at an estimate, so the cost summary is not silently low, and marked as one.
        prompt, total = usage.get("prompt_tokens"), usage.get("completion_tokens")
        estimated = not (isinstance(prompt, int) and isinstance(total, int))
        if not isinstance(prompt, int):
            prompt = _estimated(sum(len(str(m.get("content") or "")) for m in job.messages))
        if isinstance(total, int):
            completion = _apportion(total, weights)
        elif self.cfg.logprobs:  # one log-prob step per token: a count, not an estimate
            completion = [len((c.get("logprobs") or {}).get("content") or []) for c in choices]
        else:
            completion = [_estimated(length) for length in lengths]
        reasoning_split = _apportion(reasoning_total, weights) if reasoning_total else None
        for k, (s, choice) in enumerate(zip(samples, choices)):
            content, reasoning = texts[k]
            finish = choice.get("finish_reason") or "unknown"
            extra: dict[str, Any] = {"n_in_request": n} if n > 1 else {}
            if estimated:  # the server gave no usage: the counts are _estimated's
                extra["tokens_estimated"] = True
            if isinstance(cached, int) and cached > 0:
                extra["cached_tokens"] = cached
            if finish in UNFINISHED:
                # no record, but its tokens were generated (and billed where a provider bills):
                # named in the failure line and handed to the sink (the cost summary counts
                # them), never silently left out
                spent = f"{completion[k]} completion + {round(prompt / n)} prompt tokens"
                sink.failed(
                    job,
                    s,
                    f"the server ended it with finish_reason '{finish}', before it was done "
                    f"({spent} spent on it{', estimated' if estimated else ''})",
                    usage={"prompt_tokens": prompt, "completion_tokens": completion[k], **extra},
                )
                continue
            lp = self._token_logprobs(choice) if self.cfg.logprobs else None
            sink.done(
                job,
                s,
                Completion(
                    text=content,
                    reasoning=reasoning,
                    finish_reason=finish,
                    prompt_tokens=prompt,
                    completion_tokens=completion[k],
                    reasoning_tokens=reasoning_split[k] if reasoning_split else None,
                    extra=extra,
                    token_logprobs=lp,
                    stop_token=self._ends_on_stop(choice, lp),
                    tokenizer=self.tokenizer,
                ),
            )

    # ------------------------------------------------------------------ --logprobs

    def _check_logprobs(self, resp: dict[str, Any]) -> None:
        """A server that answers without log-probs stops the run at its first reply. An empty
        completion has none to give (`content: []`): no reason to stop."""
        for choice in resp.get("choices") or []:
            steps = (choice.get("logprobs") or {}).get("content")
            text, reasoning = _message_texts(choice.get("message") or {})
            if steps is None or not (steps or not (text or reasoning)):
                raise DistillError(
                    f"{self.shown}: --logprobs: the server returned no logprobs for model "
                    f"'{self.cfg.model}' (a vLLM server returns them; start it with "
                    f"--max-logprobs >= {self.cfg.logprobs})"
                )

    def _token_logprobs(self, choice: dict[str, Any]) -> Any:
        """The choice's `logprobs.content` (token, logprob, top_logprobs) -> TokenLogprobs."""
        from distill.logprobs import TokenLogprobs, text_offsets

        k = self.cfg.logprobs
        steps = choice["logprobs"]["content"]
        if not steps:  # an empty completion: no token, K columns (a shard holds one K)
            import numpy as np

            return TokenLogprobs([], [], np.zeros((0, k), np.int64), np.zeros((0, k), np.float32))
        ids, sampled, top_ids, top_lp, top_text = [], [], [], [], []
        for step in steps:
            ids.append(self._token_id(step["token"]))
            sampled.append(step["logprob"])
            top = sorted(step.get("top_logprobs") or [], key=lambda t: -t["logprob"])[:k]
            if len(top) < k:
                raise DistillError(
                    f"{self.shown}: --logprobs {k}: the server returned only {len(top)} "
                    "top_logprobs per token (vLLM: start it with --max-logprobs >= K)"
                )
            top_ids.append([self._token_id(t["token"]) for t in top])
            top_lp.append([t["logprob"] for t in top])
            top_text.append([bytes(t.get("bytes") or b"").decode("utf-8", "replace") for t in top])
        # The tokens' bytes (OpenAI's `bytes`, vLLM's too) give their texts and offsets, which
        # cross-tokenizer kd reads; without them the side file records none.
        if not all(isinstance(step.get("bytes"), list) for step in steps):
            return TokenLogprobs(ids, sampled, top_ids, top_lp)
        texts, offsets = text_offsets([bytes(step["bytes"]) for step in steps])
        return TokenLogprobs(ids, sampled, top_ids, top_lp, texts, offsets, top_text)

    def _ends_on_stop(self, choice: dict[str, Any], lp: Any) -> bool:
        """vLLM's logprobs include the EOS token that ended a completion; a stop string ends
        on ordinary tokens. Without the tokenizer here, a `stop` finish is taken as EOS."""
        if lp is None or not len(lp) or choice.get("finish_reason") != "stop":
            return False
        return self._special_ids is None or int(lp.token_ids[-1]) in self._special_ids

    def _token_id(self, token: str) -> int:
        if token.startswith("token_id:"):
            return int(token[len("token_id:") :])
        raise DistillError(
            f"{self.shown}: --logprobs: the server returned token text ({token!r}), not "
            "token ids; it must honour return_tokens_as_token_ids (vLLM does)"
        )


def gemma4_name(model: str) -> str | bool:
    """`model` where its name is a Gemma 4 model's (google/gemma-4-31B-it, gemma4:27b), else
    False."""
    return model if GEMMA4.search(model) else False


def unsplit(choices: list[dict[str, Any]]) -> bool:
    """A choice whose text begins with Gemma 4's thought channel label, `thought` and a newline,
    with no reasoning field beside it: `<|channel>thought\nR<channel|>A` with the special tokens
    left out of the text (a server without its reasoning parser skips them), R and A run
    together. Read as such only for a Gemma 4 (`OpenAITeacher._refuse_unsplit_gemma4`)."""
    for c in choices:
        content, reasoning = _message_texts(c.get("message") or {})
        if not reasoning and THOUGHT_LEFT.match(content):
            return True
    return False


def out_of_credit(response: Any) -> bool:
    """`response` (an httpx Response) is OpenAI's 429 for an account out of credit
    (`insufficient_quota`): a retry gets the same. A body not read yet (a streamed download's)
    is not one."""
    if response.status_code != 429:
        return False
    try:
        error = json.loads(response.content).get("error")
    except (ValueError, AttributeError, RuntimeError):  # RuntimeError: httpx's ResponseNotRead
        return False
    return isinstance(error, dict) and error.get("code") == "insufficient_quota"


def _estimated(chars: int) -> int:
    """Tokens in `chars` characters of text, for a reply whose server gave no usage: ~4 a
    token (English BPE text; the --tpm pace estimates so too), rounded up. The served model's
    tokenizer is not known here (an API model's name says nothing of its vocabulary)."""
    return -(-chars // 4)


def usage_shares(usage: Any, n: int) -> list[dict[str, int]] | None:
    """Each of `n` samples' share of a reply's `usage` where the reply held none of them (no
    choices: an upstream's error in a 200 body, which may have generated and billed tokens), in
    a record's usage keys, for the cost summary (`Sink.failed`); None where the server counted
    none."""
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if type(prompt) is not int or type(completion) is not int or prompt + completion <= 0:
        return None
    shared = {"n_in_request": n} if n > 1 else {}
    return [
        {"prompt_tokens": prompt, "completion_tokens": c, **shared}
        for c in _apportion(completion, [1] * n)
    ]


def _apportion(total: int, weights: list[int]) -> list[int]:
    """`total` split in proportion to `weights` (whole numbers summing to `total`: each part
    is the rounded running total minus the one before it)."""
    whole, parts, done = sum(weights), [], 0
    for k in range(len(weights)):
        upto = round(total * sum(weights[: k + 1]) / whole)
        parts.append(upto - done)
        done = upto
    return parts


def _message_texts(msg: dict[str, Any]) -> tuple[str, str | None]:
    """(content, reasoning) of a choice's message. Content: a string, null, or a list of parts
    (Mistral's reasoning models: {"type": "thinking", "thinking": [text parts]}, then
    {"type": "text", "text": ...}; parts of other types, a reference, hold no text). Reasoning:
    `reasoning_content` (DeepSeek, vLLM's reasoning parser), `reasoning` (vLLM from 0.10,
    Ollama, OpenRouter), else those thinking parts. ValueError for a content of another shape."""
    content, thinking = msg.get("content"), []
    if isinstance(content, list):
        text = []
        for part in content:
            if isinstance(part, str):
                text.append(part)
            elif not isinstance(part, dict):
                raise ValueError(f"a content part {part!r:.60}")
            elif part.get("type") == "text":
                text.append(_part_text(part.get("text")))
            elif part.get("type") == "thinking":
                thinking.append(_part_text(part.get("thinking")))
        content = "".join(text)
    elif content is not None and not isinstance(content, str):
        raise ValueError(f"content {content!r:.60}")
    reasoning = msg.get("reasoning_content") or msg.get("reasoning")
    if not isinstance(reasoning, str):
        reasoning = "".join(thinking) if thinking else None
    return content or "", reasoning


def _part_text(value: Any) -> str:
    """A content part's text: a string, or a list of parts (Mistral's thinking: text chunks
    and reference chunks, {"type": "reference", "reference_ids": [...]}, which hold no text)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(
        isinstance(p, dict) and (isinstance(p.get("text"), str) or p.get("type") == "reference")
        for p in value
    ):
        return "".join(p["text"] for p in value if isinstance(p.get("text"), str))
    raise ValueError(f"a content part's text {value!r:.60}")


def _served_tokenizer(model: str) -> tuple[tuple[str, str | None], set[int] | None]:
    """((name, vocab hash), special token ids) of the served model's tokenizer when the name
    is a local folder or builtin: (a served name alone says nothing of its vocabulary, and
    loading transformers costs seconds); else ((name, None), None)."""
    from pathlib import Path

    from distill.logprobs import vocab_hash
    from distill.models import load_tokenizer

    if not (model.startswith("builtin:") or Path(model).is_dir()):
        return (model, None), None
    tok = load_tokenizer(model)
    return (model, vocab_hash(tok)), set(tok.all_special_ids)
