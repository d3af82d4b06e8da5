"""The openai teacher against a server we did not write (Python's http.server): (1) a reply
slower than --request-timeout was asked again on every retry, each one generated (and billed by
most providers) in full, and the sample failed all the same; (2) a `?key=` of --base-url that a
server echoes percent-encoded, as the client sent it, was shown in the error line."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from distill.errors import DistillError
from distill.generate import GenerateConfig, run
from distill.records import read_records


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    """The client's wait between tries: these tests count requests, not the wait."""
    from openai._base_client import BaseClient

    monkeypatch.setattr(BaseClient, "_calculate_retry_timeout", lambda *a, **k: 0.01)


class Server:
    """/v1/chat/completions on http.server: `reply(handler, k)` for the k-th request gives
    (status, JSON object), or None to close the connection without a reply."""

    def __init__(self, reply):
        self.log: list[str] = []
        lock, server = threading.Lock(), self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 - http.server's name
                json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    k = len(server.log)
                    server.log.append(self.path)
                answer = reply(self, k)
                if answer is None:
                    self.close_connection = True
                    return
                status, obj = answer
                data = json.dumps(obj).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up waiting
                    self.close_connection = True

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
    started = []

    def start(reply):
        started.append(Server(reply))
        return started[-1]

    yield start
    for s in started:
        s.stop()


ANSWER = {
    "choices": [{"index": 0, "message": {"content": "So 4."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 10, "completion_tokens": 5},
}


def cfg(url, out, **kw):
    base = dict(
        data="builtin:arithmetic",
        limit=1,
        teacher="openai",
        base_url=url,
        model="m",
        n=1,
        concurrency=1,
        out=str(out),
        max_retries=3,
    )
    return GenerateConfig(**{**base, **kw})


@pytest.fixture(params=["direct", "through a proxy's client"])
def path(request, monkeypatch):
    """Both ways a request goes: its first try straight on aiohttp (DirectPost), or, with a
    proxy variable set, every try through the openai client (loopback itself not proxied)."""
    if request.param != "direct":
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    return request.param


def test_a_reply_slower_than_the_timeout_is_asked_once_not_once_per_retry(serve, path, tmp_path):
    slow = {"seconds": 3.0}

    def reply(handler, k):
        time.sleep(slow["seconds"])  # generating, as a long chain of thought does
        return 200, ANSWER

    server = serve(reply)
    out = tmp_path / "t.jsonl"
    with pytest.raises(
        DistillError, match="1 samples failed: no reply within --request-timeout 1s"
    ):
        run(cfg(server.url, out, request_timeout=1.0), progress=False)
    # before: the direct try and 3 retries, 4 replies generated and none kept
    assert len(server.log) == 1
    slow["seconds"] = 0.0
    run(cfg(server.url, out, request_timeout=1.0), progress=False)
    assert len(server.log) == 2 and [r["answer"] for r in read_records(out)] == ["So 4."]


def test_a_connection_dropped_before_a_reply_is_still_asked_again(serve, path, tmp_path):
    server = serve(lambda handler, k: None if k == 0 else (200, ANSWER))
    out = tmp_path / "t.jsonl"
    run(cfg(server.url, out, request_timeout=5.0), progress=False)
    assert len(server.log) == 2 and len(list(read_records(out))) == 1


@pytest.mark.parametrize("status", [400, 404, 500])
def test_a_query_key_the_server_echoes_percent_encoded_is_not_in_the_error_line(
    serve, tmp_path, status, capsys
):
    key = "AbC9xYz/Q1w+Ee=="  # base64, as Azure Functions' ?code= keys are
    server = serve(lambda h, k: (status, {"error": {"message": f"Cannot POST {h.path}"}}))
    url = f"{server.url}?code={key.replace('+', '%2B')}"
    with pytest.raises(DistillError) as e:
        run(cfg(url, tmp_path / "t.jsonl", max_retries=1), progress=False)
    assert "%3D" in server.log[0] or "%2F" in server.log[0]  # the key went out encoded
    shown = str(e.value) + capsys.readouterr().out
    assert "Cannot POST /v1/chat/completions?code=***" in shown
    assert "AbC9xYz" not in shown
