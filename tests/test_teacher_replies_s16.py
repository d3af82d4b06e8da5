# ruff: noqa: F811 - the serve fixture, imported from tests/servers.py
"""The openai teacher against a server we did not write (Python's http.server), on both ways a
request goes (its first try straight on aiohttp, or every try through the openai client with a
proxy variable set): (1) a 200 whose body is not JSON was asked for once more on the direct
path, a second request paid where the server generated it (an SSE stream), and the run stopped
all the same; (2) OpenAI's 429 `insufficient_quota` went through the client's retries (each
after its backoff) on the client path and after a first 5xx, before the run stopped on it;
(3) a reply without `usage` was written and priced at 0 tokens, and a choice the server ended
with finish_reason "abort" failed without a word of the tokens spent on it."""

import json

import pytest

from distill.errors import DistillError
from distill.generate import GenerateConfig, run
from distill.records import read_records
from distill.teachers.base import Job
from distill.teachers.openai import OpenAITeacher
from tests.servers import serve  # noqa: F401 - the fixture


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    """The client's wait between tries: these tests count requests, not the wait."""
    from openai._base_client import BaseClient

    monkeypatch.setattr(BaseClient, "_calculate_retry_timeout", lambda *a, **k: 0.01)


@pytest.fixture(params=["direct", "through a proxy's client"])
def path(request, monkeypatch):
    """Both ways a request goes: its first try straight on aiohttp (DirectPost), or, with a
    proxy variable set, every try through the openai client (loopback itself not proxied)."""
    if request.param != "direct":
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    return request.param


JSON = "application/json"


def chat(text="So 4.", finish="stop", usage=True):
    reply = {"choices": [{"index": 0, "message": {"content": text}, "finish_reason": finish}]}
    if usage:
        reply["usage"] = {"prompt_tokens": 10, "completion_tokens": 37}
    return reply


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


# ------------------------------------------------------------------ (1) a 200 that is not JSON

SSE = b'data: {"choices": [{"index": 0, "delta": {"content": "So 4."}}]}\n\ndata: [DONE]\n\n'


@pytest.mark.parametrize(
    "body, kind",
    [(SSE, "text/event-stream"), (b"<html>portal</html>", JSON), (b"\xff\xfe{}", JSON)],
    ids=["a stream", "html as json", "not utf-8"],
)
def test_a_200_that_is_not_json_stops_the_run_after_one_request(serve, path, tmp_path, body, kind):
    server = serve(lambda k: (200, body, kind))
    out = tmp_path / "t.jsonl"
    with pytest.raises(DistillError, match="answered .*, not a JSON object; check --base-url"):
        run(cfg(server.url, out), progress=False)
    assert len(server.log) == 1  # before: the direct path asked it a second time
    assert list(read_records(out)) == []


# ------------------------------------------------------------------ (2) out of credit

QUOTA = {
    "error": {
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "type": "insufficient_quota",
        "code": "insufficient_quota",
    }
}


@pytest.mark.parametrize("first", [None, 500], ids=["at once", "after a 500"])
def test_a_429_out_of_credit_stops_the_run_without_the_clients_retries(
    serve, path, tmp_path, first
):
    def reply(k):
        if first and k == 0:
            return first, {"error": {"message": "overloaded"}}, JSON
        return 429, QUOTA, JSON

    server = serve(reply)
    with pytest.raises(DistillError, match="HTTP 429: .*current quota.*no credit left"):
        run(cfg(server.url, tmp_path / "t.jsonl", max_retries=3), progress=False)
    # before: on the client path, or after a retried 500, 1 + 3 retries
    assert len(server.log) == (2 if first else 1)


def test_a_429_rate_limit_is_still_retried(serve, path, tmp_path):
    limited = {"error": {"message": "Rate limit reached", "code": "rate_limit_exceeded"}}
    server = serve(lambda k: (429, limited, JSON) if k < 2 else (200, chat(), JSON))
    out = tmp_path / "t.jsonl"
    run(cfg(server.url, out, max_retries=3), progress=False)
    assert len(server.log) == 3 and [r["answer"] for r in read_records(out)] == ["So 4."]


# ------------------------------------------------------------------ (3) tokens spent, counted


def test_a_reply_without_usage_is_counted_at_an_estimate_not_at_zero(serve, path, tmp_path):
    text = "The sum of 2 and 2 is 4, so the answer is 4."  # 44 characters
    server = serve(lambda k: (200, chat(text, usage=False), JSON))
    out = tmp_path / "t.jsonl"
    run(cfg(server.url, out, price_input=1.0, price_output=2.0), progress=False)
    [rec] = read_records(out)
    assert rec["usage"]["completion_tokens"] == 11 == len(text) / 4  # ~4 characters a token
    prompt_chars = sum(len(m["content"]) for m in rec["messages"])
    assert rec["usage"]["prompt_tokens"] == -(-prompt_chars // 4) > 0
    summary = json.loads((tmp_path / "t.summary.json").read_text())
    assert summary["this_run"]["cost_usd"] > 0 and summary["cost_usd"] > 0  # before: $0


def test_an_estimate_is_marked_and_a_reported_usage_is_not(serve, tmp_path):
    """The teacher hands the stage a completion whose counts are its estimate, marked so."""
    replies = [chat("So 4.", usage=False), chat("So 4.")]
    server = serve(lambda k: (200, replies[k], JSON))
    got = []

    class Collect:
        def done(self, job, s, c):
            got.append(c)

        def failed(self, job, s, why):
            raise AssertionError(why)

    teacher = OpenAITeacher(cfg(server.url, tmp_path / "t.jsonl").resolved_teachers()[0])
    job = Job("p", [{"role": "user", "content": "What is 2 + 2?"}], [0])
    teacher.run([job, Job("q", job.messages, [0])], Collect())
    estimated, reported = sorted(got, key=lambda c: c.completion_tokens)
    assert (estimated.prompt_tokens, estimated.completion_tokens) == (4, 2)
    assert estimated.extra.get("tokens_estimated") is True
    assert (reported.prompt_tokens, reported.completion_tokens) == (10, 37)
    assert "tokens_estimated" not in reported.extra


@pytest.mark.parametrize("usage", [True, False], ids=["usage", "no usage"])
def test_a_choice_the_engine_aborted_names_the_tokens_spent_on_it(serve, path, tmp_path, usage):
    server = serve(lambda k: (200, chat("So the sum is", finish="abort", usage=usage), JSON))
    with pytest.raises(DistillError) as e:
        run(cfg(server.url, tmp_path / "t.jsonl"), progress=False)
    said = str(e.value)
    assert "1 samples failed: the server ended it with finish_reason 'abort'" in said
    if usage:
        assert "(37 completion + 10 prompt tokens spent on it)" in said
    else:  # "So the sum is": 13 characters
        assert "(4 completion + " in said and " prompt tokens spent on it, estimated)" in said
    assert len(server.log) == 1


# ------------------------------------------------------------------ (2) out of credit, --batch


def test_a_batch_upload_refused_out_of_credit_stops_without_retries_or_a_rerun_hint(tmp_path):
    """--batch: the upload's 429 insufficient_quota went through the client's retries and then
    said 'rerun the same command to re-attach', which meets the same refusal every time."""
    from aiohttp import web

    from tests.fakebatch import FakeBatchServer
    from tests.test_batch import cfg as batch_cfg

    class Broke(FakeBatchServer):
        tries = 0

        async def upload(self, request):
            Broke.tries += 1
            return web.json_response(QUOTA, status=429)

    server = Broke().start()
    try:
        with pytest.raises(DistillError) as e:
            run(batch_cfg(server, tmp_path / "t.jsonl", limit=1, max_retries=2), progress=False)
    finally:
        server.stop()
    assert "HTTP 429" in str(e.value) and "no credit left" in str(e.value)
    assert "rerun" not in str(e.value)
    assert Broke.tries == 1  # before: 1 + 2 retries


def test_a_batch_refused_out_of_credit_at_its_creation_is_not_asked_again(tmp_path):
    from aiohttp import web

    from tests.fakebatch import FakeBatchServer
    from tests.test_batch import cfg as batch_cfg

    class Broke(FakeBatchServer):
        tries = 0

        async def create(self, request):
            Broke.tries += 1
            return web.json_response(QUOTA, status=429)

    server = Broke().start()
    try:
        with pytest.raises(DistillError, match="HTTP 429: .*no credit left"):
            run(batch_cfg(server, tmp_path / "t.jsonl", limit=1, max_retries=2), progress=False)
    finally:
        server.stop()
    assert Broke.tries == 1  # before: 1 + 2 tries, each after a wait and a look for the batch
