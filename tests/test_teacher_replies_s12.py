"""The openai teacher against replies of servers we did not write (a Python http.server): an
engine's aborted sample, a connection dropped on one prompt, Mistral's content parts, an error
in a 200 body, a reply that is not a chat completion. Each: nothing kept that a rerun would
trust wrongly, nothing bought twice, one line when the run stops."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from distill.errors import DistillError
from distill.generate import GenerateConfig, run
from distill.records import read_records


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    """The openai client's wait between tries (0.5 s, 1 s, ...): these tests count requests and
    read verdicts, not the wait (tests/test_generate.py measures that)."""
    from openai._base_client import BaseClient

    monkeypatch.setattr(BaseClient, "_calculate_retry_timeout", lambda *a, **k: 0.01)


class Server:
    """/v1/chat/completions: `reply(body, k)` for the k-th request (0-based) gives the JSON
    object sent back (or (status, object)), or None to close the connection without a reply."""

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
                answer = reply(body, k)
                if answer is None:
                    self.close_connection = True
                    return
                status, answer = answer if isinstance(answer, tuple) else (200, answer)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.request_queue_size = 64
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def completion(body, message=None, finish="stop", choices=None):
    n = body.get("n", 1) if choices is None else choices
    message = message or {"role": "assistant", "content": "So \\boxed{4}."}
    return {
        "id": "c",
        "object": "chat.completion",
        "choices": [
            {"index": i, "message": dict(message), "finish_reason": finish} for i in range(n)
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5 * n},
    }


@pytest.fixture
def serve():
    started = []

    def start(reply):
        started.append(Server(reply))
        return started[-1]

    yield start
    for s in started:
        s.stop()


def cfg(server, out, **kw):
    base = dict(
        data="builtin:arithmetic",
        limit=2,
        teacher="openai",
        base_url=server.url,
        model="m",
        n=1,
        concurrency=1,
        out=str(out),
        max_retries=1,
    )
    return GenerateConfig(**{**base, **kw})


def test_a_sample_the_engine_aborted_is_not_kept_and_a_rerun_buys_only_it(serve, tmp_path):
    """vLLM ends a request its engine aborts (shutdown, sleep, scale-down) with HTTP 200 and
    finish_reason "abort": a cut-off text, not the model's answer. Kept, it counted as done
    and no rerun asked for it again (eval scored it wrong, filter dropped it)."""
    server = serve(
        lambda body, k: (
            completion(body, {"role": "assistant", "content": "So \\boxed{1"}, finish="abort")
            if k == 0
            else completion(body)
        )
    )
    out = tmp_path / "t.jsonl"
    with pytest.raises(DistillError, match="1 samples failed: .*abort"):
        run(cfg(server, out), progress=False)
    assert [r["finish_reason"] for r in read_records(out)] == ["stop"]
    run(cfg(server, out), progress=False)
    recs = list(read_records(out))
    assert len(recs) == 2 and {r["finish_reason"] for r in recs} == {"stop"}
    assert len(server.log) == 3  # the aborted one once more, nothing else twice


def test_one_prompt_whose_connection_the_server_drops_fails_that_prompt_not_the_run(
    serve, tmp_path
):
    """A server that closes the connection on one prompt (its handler crashed on it) was
    reached: the run went on with the other prompts and named the drop, where it stopped at
    once with 'cannot reach ... check --base-url' (aiohttp's ServerDisconnectedError comes
    back from the openai client as a ConnectTimeout)."""
    dropped: list[str] = []  # the first request's prompt, every time it is sent

    def reply(body, k):
        if k == 0:
            dropped.append(body["messages"][-1]["content"])
        return None if body["messages"][-1]["content"] == dropped[0] else completion(body)

    server = serve(reply)
    out = tmp_path / "t.jsonl"
    with pytest.raises(DistillError, match="1 samples failed: .*closed the connection"):
        run(cfg(server, out, limit=3), progress=False)
    assert len(list(read_records(out))) == 2


def test_a_server_that_drops_every_request_stops_the_run(serve, tmp_path):
    """...but one that closes every connection (not an OpenAI API) stops the run in one line
    once the first requests all were, as it did, rather than failing every prompt in turn."""
    server = serve(lambda body, k: None)
    with pytest.raises(DistillError, match="the first 8 requests were each closed by the server"):
        run(cfg(server, tmp_path / "t.jsonl", limit=30, concurrency=2), progress=False)
    assert len(server.log) <= 2 * (8 + 2)


def test_mistral_content_parts_are_the_answer_and_the_reasoning(serve, tmp_path):
    """Mistral's reasoning models answer `content` as a list of parts: the thinking, then the
    text. It stopped the run with `AttributeError: 'list' object has no attribute 'find'`."""
    parts = [
        {"type": "thinking", "thinking": [{"type": "text", "text": "2 + 2 is 4."}]},
        {"type": "text", "text": "So \\boxed{4}."},
    ]
    server = serve(lambda body, k: completion(body, {"role": "assistant", "content": parts}))
    out = tmp_path / "t.jsonl"
    run(cfg(server, out, limit=1), progress=False)
    (rec,) = read_records(out)
    assert rec["answer"] == "So \\boxed{4}." and rec["reasoning"] == "2 + 2 is 4."


@pytest.mark.parametrize(
    "reply",
    [
        {"choices": {"0": {"message": {"content": "x"}}}},
        {"choices": ["x"]},
        {"choices": [{"index": 0, "message": {"content": 4}, "finish_reason": "stop"}]},
    ],
)
def test_a_reply_that_is_not_a_chat_completion_stops_the_run_in_one_line(serve, tmp_path, reply):
    server = serve(lambda body, k: reply)
    with pytest.raises(DistillError, match="not a chat completion"):
        run(cfg(server, tmp_path / "t.jsonl", limit=1), progress=False)


def test_choices_without_an_index_keep_their_order(serve, tmp_path):
    """`index: null` (a server that leaves it out as null) failed with a TypeError."""

    def reply(body, k):
        resp = completion(body)
        for i, c in enumerate(resp["choices"]):
            c["index"] = None
            c["message"]["content"] = f"\\boxed{{{i}}}"
        return resp

    server = serve(reply)
    out = tmp_path / "t.jsonl"
    run(cfg(server, out, limit=1, n=2), progress=False)
    assert sorted((r["sample"], r["answer"]) for r in read_records(out)) == [
        (0, "\\boxed{0}"),
        (1, "\\boxed{1}"),
    ]


def test_an_error_in_a_200_body_is_shown_and_does_not_split_later_requests(serve, tmp_path):
    """OpenRouter-style `{"error": ...}` with status 200: the failure said only 'the reply had
    no choices', and with --n 2 the teacher took it for a server that ignores `n` and sent
    every later request once per sample (each paying for the prompt again)."""
    server = serve(
        lambda body, k: (
            {"error": {"message": "Upstream overloaded", "code": 502}}
            if k == 0
            else completion(body)
        )
    )
    out = tmp_path / "t.jsonl"
    with pytest.raises(DistillError, match="2 samples failed: .*Upstream overloaded"):
        run(cfg(server, out, limit=3, n=2), progress=False)
    assert [b.get("n") for b in server.log] == [2, 2, 2]
    run(cfg(server, out, limit=3, n=2), progress=False)
    assert len(list(read_records(out))) == 6 and [b.get("n") for b in server.log] == [2] * 4


def test_an_empty_completion_with_its_empty_logprobs_does_not_stop_the_run(serve, tmp_path):
    """--logprobs: a reply whose completion is empty has no log-probs to list (`content: []`);
    the run stopped as if the server gave none ('start it with --max-logprobs')."""

    def reply(body, k):
        answer = completion(body, {"role": "assistant", "content": ""} if k == 0 else None)
        top = [
            {"token": f"token_id:{i}", "logprob": -0.1 - 3 * i, "bytes": [52 + i]} for i in (0, 1)
        ]
        steps = [] if k == 0 else [{**top[0], "top_logprobs": top}]
        for c in answer["choices"]:
            c["logprobs"] = {"content": steps}
        return answer

    server = serve(reply)
    out = tmp_path / "t.jsonl"
    run(cfg(server, out, logprobs=2), progress=False)
    assert sorted(r["answer"] for r in read_records(out)) == ["", "So \\boxed{4}."]
