"""Second read of 3ee2a73 (a reply slower than --request-timeout is not asked again): a run
whose every reply is slower than --request-timeout (a reasoning model with a timeout too short
for it, a server that takes requests and answers nothing) sent every prompt of the data once,
each generated and billed in full and dropped, and said so only at the end (hours at 600 s a
prompt); it stops once the first requests all went unanswered, as for a 4xx on every request."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from distill.errors import DistillError
from distill.generate import GenerateConfig, run
from distill.records import read_records

ANSWER = {
    "choices": [{"index": 0, "message": {"content": "So 4."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 10, "completion_tokens": 5},
}


@pytest.fixture
def serve():
    """A /v1/chat/completions server whose k-th request waits `delay(k)` seconds before its
    answer; yields start(delay) -> (url, log of requests)."""
    servers = []

    def start(delay):
        log: list[int] = []
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    k = len(log)
                    log.append(k)
                time.sleep(delay(k))
                data = json.dumps(ANSWER).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up waiting
                    self.close_connection = True

            def log_message(self, *args):
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}/v1", log

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def cfg(url, out, **kw):
    base = dict(
        data="builtin:arithmetic",
        limit=30,
        teacher="openai",
        base_url=url,
        model="m",
        n=1,
        concurrency=2,
        out=str(out),
        max_retries=2,
        request_timeout=0.3,
    )
    return GenerateConfig(**{**base, **kw})


@pytest.fixture(params=["direct", "through a proxy's client"])
def path(request, monkeypatch):
    """The first try on aiohttp (DirectPost), or every try through the client (ClientPost)."""
    if request.param != "direct":
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    return request.param


def test_a_run_whose_every_reply_is_too_slow_stops_instead_of_buying_every_prompt(
    serve, path, tmp_path
):
    url, log = serve(lambda k: 1.5)  # each reply generated in full, after the timeout
    with pytest.raises(DistillError) as e:
        run(cfg(url, tmp_path / "t.jsonl"), progress=False)
    assert "the first 8 requests each got no reply within --request-timeout 0.3s" in str(e.value)
    assert "\n" not in str(e.value)
    # before: all 30 prompts sent (and billed), none kept, one line at the very end
    assert len(log) <= 8 + 2  # the first 8, and what the 2 workers had in flight


def test_a_few_slow_replies_among_answered_ones_fail_alone(serve, path, tmp_path):
    url, log = serve(lambda k: 1.5 if k < 7 else 0.0)  # 7 slow first, then quick answers
    out = tmp_path / "t.jsonl"
    with pytest.raises(DistillError, match="7 samples failed: no reply within --request-timeout"):
        run(cfg(url, out, concurrency=7, limit=12), progress=False)  # the 7 slow at once
    assert len(log) == 12 and len(list(read_records(out))) == 5
