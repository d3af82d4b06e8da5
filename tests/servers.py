"""Three kinds of OpenAI-compatible loopback servers, each in its own process (benchmarks, tests).

    python -m tests.servers --kind threading --port 18766 --latency 0.2

- `threading`: Python's `http.server.ThreadingHTTPServer` (HTTP/1.1 keep-alive), listen backlog
  5, the standard library's default (and cpp-httplib's): what a quick hand-written server has.
- `aiohttp`: `tests/fakeserver.py` (aiohttp, backlog 1024).
- `uvicorn`: a bare ASGI app under uvicorn, backlog 2048 (how vLLM and SGLang serve).

Each answers `POST /v1/chat/completions` after `--latency` seconds with the fake server's reply
(the threading and uvicorn kinds: a judge's rubric reply, "Score: N\nReason: ...", when the
request's model starts with "judge": benchmarks/bench_judge.py) and `GET /stats` with {"answered", "span_s"} (first request's arrival to the last reply; the
threading and uvicorn kinds add "distinct_prompts", and threading "connections" accepted);
`GET /stats?reset=1` starts those counts over (after a benchmark's warm-up request). It
prints "listening on URL" once the socket is bound and before any request: a benchmark that waits
for that line and nothing else measures a cold server.

And one in the test's own process, for the teacher's tests: `Server` (http.server on a thread,
its replies the test's own) and the `serve` fixture that starts them, imported where used:

    from tests.servers import Server, serve  # noqa: F401 - the fixture
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.fakeserver import FakeServer

KINDS = ("threading", "aiohttp", "uvicorn")


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.first: float | None = None
        self.last: float | None = None
        self.answered = 0
        self.prompts: set[str] = set()
        self.connections = 0

    def record(self, arrived: float, prompt: str) -> None:
        with self.lock:
            self.prompts.add(prompt)
            self.first = min(self.first or arrived, arrived)
            self.last = time.monotonic()
            self.answered += 1

    def reset(self) -> None:
        with self.lock:
            self.first = self.last = None
            self.answered = 0
            self.prompts = set()

    def body(self) -> bytes:
        span = (self.last - self.first) if self.first is not None else None
        return json.dumps(
            {
                "answered": self.answered,
                "span_s": span,
                "distinct_prompts": len(self.prompts),
                "connections": self.connections,
            }
        ).encode()


def judge_choice(prompt: str) -> dict:
    """A judge's rubric reply (prompts/judge.txt's last line), its score 1-10 from the prompt."""
    text = (
        f"Score: {1 + zlib.crc32(prompt.encode()) % 10}\n"
        "Reason: each step follows from the last and the final answer is stated."
    )
    message = {"role": "assistant", "content": text}
    return {"index": 0, "message": message, "finish_reason": "stop", "_tokens": len(text) // 4}


def completion(body: dict) -> bytes:
    """The fake server's answer to one chat request (its `think` style; a rubric reply to a
    model named judge*)."""
    prompt = body["messages"][-1]["content"]
    if str(body.get("model") or "").startswith("judge"):
        choice = judge_choice(prompt)
    else:
        choice = FakeServer()._choice(0, prompt, body.get("max_tokens") or 4096)
    tokens = choice.pop("_tokens")
    return json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "choices": [choice],
            "usage": {
                "prompt_tokens": 20,
                "completion_tokens": tokens,
                "total_tokens": 20 + tokens,
            },
        }
    ).encode()


def serve_threading(port: int, latency: float) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    stats = Stats()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as any OpenAI-compatible server speaks

        def setup(self) -> None:  # once per accepted connection
            with stats.lock:
                stats.connections += 1
            super().setup()

        def _send(self, data: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            arrived = time.monotonic()
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            data = completion(body)
            time.sleep(max(0.0, latency - (time.monotonic() - arrived)))
            stats.record(arrived, body["messages"][-1]["content"])
            self._send(data)

        def do_GET(self) -> None:  # noqa: N802
            if self.path.endswith("?reset=1"):
                stats.reset()
            self._send(stats.body())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)  # request_queue_size = 5
    print(f"listening on http://127.0.0.1:{server.server_address[1]}/v1", flush=True)
    server.serve_forever()


def serve_aiohttp(port: int, latency: float) -> None:
    server = FakeServer(latency=latency)

    async def forever() -> None:
        await server._start(port)
        print(f"listening on {server.url}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(forever())


def serve_uvicorn(port: int, latency: float) -> None:
    import uvicorn

    stats = Stats()

    async def app(scope: dict, receive, send) -> None:  # a bare ASGI app: no framework cost
        arrived = time.monotonic()
        raw = b""
        while True:
            msg = await receive()
            raw += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        if scope["method"] == "GET":
            if scope.get("query_string") == b"reset=1":
                stats.reset()
            data = stats.body()
        else:
            body = json.loads(raw)
            data = completion(body)
            await asyncio.sleep(max(0.0, latency - (time.monotonic() - arrived)))
            stats.record(arrived, body["messages"][-1]["content"])
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        backlog=2048,
        lifespan="off",
        access_log=False,
        log_level="warning",
    )
    server = uvicorn.Server(config)

    async def run() -> None:
        sock = config.bind_socket()
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:  # listening only once serve() has called listen()
            await asyncio.sleep(0.01)
        print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}/v1", flush=True)
        await serving

    asyncio.run(run())


class Server:
    """/v1/chat/completions on http.server, in this process: `reply(k)` for the k-th request
    gives (status, body, content type); a body that is not bytes is sent as JSON. `log`: each
    request's JSON body."""

    def __init__(self, reply):
        self.log: list[dict] = []
        lock, server = threading.Lock(), self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    k = len(server.log)
                    server.log.append(body)
                status, data, kind = reply(k)
                if not isinstance(data, bytes):
                    data = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve():
    """start(reply) -> a started `Server`; each one started is stopped at the test's end."""
    started = []

    def start(reply):
        started.append(Server(reply))
        return started[-1]

    yield start
    for s in started:
        s.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", choices=KINDS, required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency", type=float, default=0.2)
    args = ap.parse_args()
    {"threading": serve_threading, "aiohttp": serve_aiohttp, "uvicorn": serve_uvicorn}[args.kind](
        args.port, args.latency
    )


if __name__ == "__main__":
    main()
