"""distill/teachers/openai.py driven directly: jobs in, completions or failures out through a
sink, against the loopback OpenAI-compatible server (tests/fakeserver.py) and the real `openai`
client. What the generate stage makes of them (records, resume, summary) is tests/test_generate.
"""

from __future__ import annotations

import time

import pytest

from distill.errors import DistillError
from distill.generate import GenerateConfig
from distill.teachers.base import Completion, Job
from distill.teachers.openai import OpenAITeacher, Pacer, resolve_api_key, scrub
from tests.fakeserver import FakeServer


class Collect:
    """A Sink that keeps what it is given, by (prompt_id, sample)."""

    def __init__(self):
        self.completions: dict[tuple[str, int], Completion] = {}
        self.failures: dict[tuple[str, int], str] = {}

    def done(self, job: Job, sample: int, completion: Completion) -> None:
        self.completions[(job.prompt_id, sample)] = completion

    def failed(self, job: Job, sample: int, why: str) -> None:
        self.failures[(job.prompt_id, sample)] = why


def teacher(server, **kw) -> OpenAITeacher:
    base = dict(
        data="builtin:arithmetic",
        teacher="openai",
        base_url=server.url,
        model="fake-r1",
        out="unused.jsonl",
        concurrency=1,
        max_retries=3,
    )
    return OpenAITeacher(GenerateConfig(**{**base, **kw}))


def jobs(k: int, n: int = 1) -> list[Job]:
    return [
        Job(f"p{i}", [{"role": "user", "content": f"What is {i} + 1?"}], list(range(n)))
        for i in range(k)
    ]


def generate(t: OpenAITeacher, js: list[Job]) -> Collect:
    sink = Collect()
    t.run(js, sink)
    return sink


def test_429_with_retry_after_and_500_are_retried(server):
    """(Moved from tests/test_generate.py, now driving the teacher itself.)"""
    server.faults.extend([{"status": 429, "retry_after": 1}, {"status": 500}, {"status": 503}])
    t0 = time.monotonic()
    got = generate(teacher(server), jobs(2, n=2))
    assert len(got.completions) == 4 and not got.failures
    assert len(server.log) == 2 + 3
    assert server.log[1]["t"] - server.log[0]["t"] >= 0.95  # Retry-After: 1 honoured
    assert time.monotonic() - t0 < 30


def test_429_after_the_last_retry_fails_those_samples_not_the_run(server):
    server.faults.extend([{"status": 429, "retry_after": 0}] * 2)
    got = generate(teacher(server, max_retries=1), jobs(2))
    assert got.failures == {("p0", 0): "HTTP 429: Error code: 429 - injected 429"}
    assert list(got.completions) == [("p1", 0)]
    assert len(server.log) == 3  # p0: first try + 1 retry; p1: one


def test_a_400_is_not_retried_and_fails_only_its_prompt(server):
    server.faults.append({"status": 400})
    got = generate(teacher(server), jobs(3, n=2))
    assert got.failures == {
        ("p0", 0): "HTTP 400: Error code: 400 - injected 400",
        ("p0", 1): "HTTP 400: Error code: 400 - injected 400",
    }
    assert len(got.completions) == 4 and len(server.log) == 3  # one try each


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_the_apis_reasoning_field_is_kept_apart_from_the_answer(field):
    s = FakeServer(style=field).start()
    try:
        got = generate(teacher(s), jobs(1)).completions[("p0", 0)]
    finally:
        s.stop()
    assert got.reasoning == "Let me compute 0 + 1 step by step (sample 0). The result is 1."
    assert got.text == "The answer is \\boxed{1}." and got.finish_reason == "stop"


def test_a_think_reply_comes_back_whole_and_a_cut_one_says_length(server):
    got = generate(teacher(server), jobs(1)).completions[("p0", 0)]
    assert got.reasoning is None and got.text.startswith("<think>\nLet me compute 0 + 1")
    cut = generate(teacher(server, max_tokens=5), jobs(1)).completions[("p0", 0)]
    assert cut.finish_reason == "length" and cut.completion_tokens == 5
    assert "</think>" not in cut.text


def test_n_samples_in_one_request_split_the_usage_and_keep_their_order(server):
    got = generate(teacher(server, seed=7), jobs(1, n=3)).completions
    assert len(server.log) == 1 and server.log[0]["n"] == 3 and server.log[0]["seed"] == 7
    assert all(f"(sample {s})" in got[("p0", s)].text for s in range(3))
    assert [got[("p0", s)].extra for s in range(3)] == [{"n_in_request": 3}] * 3
    assert all(got[("p0", s)].prompt_tokens > 0 for s in range(3))


def test_a_server_that_ignores_n_is_asked_for_the_rest_one_by_one():
    s = FakeServer(ignore_n=True).start()
    try:
        t = teacher(s)
        got = generate(t, jobs(2, n=3))
    finally:
        s.stop()
    assert len(got.completions) == 6 and t.split_n
    assert [e["n"] for e in s.log] == [3, None, None, None, None, None]


def test_the_api_key_comes_from_its_env_var_and_is_never_echoed(monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-secret")
    assert resolve_api_key("MY_KEY", None) == "sk-secret"
    monkeypatch.delenv("MY_KEY")
    assert resolve_api_key("MY_KEY", "http://localhost:8000/v1") == "EMPTY"  # a local server
    with pytest.raises(DistillError, match=r"no API key: set \$MY_KEY"):
        resolve_api_key("MY_KEY", None)
    assert scrub("bad key sk-secret given", "sk-secret") == "bad key *** given"
    assert len(scrub("x" * 1000, "EMPTY")) == 300


def test_pacer_spreads_requests_evenly_after_a_one_second_burst():
    p = Pacer(per_minute=120)  # 2 a second
    waits = [p.reserve(1) for _ in range(6)]
    assert waits[:3] == [0.0, 0.0, 0.0]  # a second's worth at once (and the one now)
    assert waits[3:] == pytest.approx([0.5, 1.0, 1.5], abs=0.05)


def test_the_direct_path_leaves_proxies_and_zero_retries_to_the_client(monkeypatch):
    import asyncio

    from distill.teachers.openai import DirectPost, make_client

    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)

    async def direct(url: str, retries: int) -> bool:
        client = make_client(url, "k", concurrency=2, max_retries=retries, request_timeout=10)
        d = DirectPost.of(client, concurrency=2, request_timeout=10)
        if d is not None:
            await d.close()
        await client.close()
        return d is not None

    url = "http://10.1.2.3:8000/v1"
    assert asyncio.run(direct(url, 2))
    assert not asyncio.run(direct(url, 0))  # no retry to hand over: one path
    monkeypatch.setenv("NO_PROXY", "localhost")
    assert asyncio.run(direct(url, 2))  # NO_PROXY alone routes nothing through a proxy
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    monkeypatch.setenv("NO_PROXY", "10.1.2.3")
    # Whatever the proxy rules say (the client's httpx reads NO_PROXY its own way): the client.
    assert not asyncio.run(direct(url, 2))
    assert not asyncio.run(direct("https://api.example.com/v1", 2))
