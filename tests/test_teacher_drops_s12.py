"""The openai teacher against a server that closes the connection on some prompts (a Python
http.server): the run goes on unless the first requests it sent were all dropped, and a
reasoning model's thinking parts of every documented kind are read."""

import json
import threading
import time

import pytest

from distill.errors import DistillError
from distill.generate import run
from distill.records import read_records

# the http.server teacher, its replies and the generate config (one place for both files)
from tests import test_teacher_replies_s12 as replies

cfg, completion = replies.cfg, replies.completion
serve = replies.serve  # the fixture, by its name here


def test_drops_that_come_back_before_slow_answers_do_not_stop_the_run(serve, tmp_path):
    """A server that crashes on some prompts drops them at once, while a reasoning model's
    answers take minutes: at --concurrency 16 the drops of the prompts in flight all came back
    before the first answer, and 8 of them stopped the run with 'check --base-url', though half
    of the first 8 requests it sent were being answered. The prompts it dropped fail; the rest
    are written."""
    bad: set[str] = set()
    lock = threading.Lock()

    def reply(body, k):
        prompt = body["messages"][-1]["content"]
        with lock:
            if k < 16 and k % 2:
                bad.add(prompt)
            dropped = prompt in bad
        if dropped:
            return None
        time.sleep(1.5)  # a long answer
        return completion(body)

    server = serve(reply)
    out = tmp_path / "t.jsonl"
    with pytest.raises(DistillError, match="8 samples failed: .*closed the connection"):
        run(cfg(server, out, limit=16, concurrency=16, max_retries=0), progress=False)
    assert len(list(read_records(out))) == 8
    summary = json.loads((tmp_path / "t.summary.json").read_text())
    assert summary["this_run"]["failed"] == 8


def test_a_reference_among_mistral_thinking_parts_is_not_a_reply_of_another_shape(serve, tmp_path):
    """Mistral's ThinkChunk holds a list of text chunks and reference chunks
    ({"type": "reference", "reference_ids": [...]}, no text): a reference there stopped the
    run with 'not a chat completion; check --base-url'. It holds no text: the rest is read."""
    parts = [
        {
            "type": "thinking",
            "thinking": [
                {"type": "text", "text": "2 + 2 is 4"},
                {"type": "reference", "reference_ids": [0]},
                {"type": "text", "text": "."},
            ],
        },
        {"type": "text", "text": "So \\boxed{4}."},
    ]
    server = serve(lambda body, k: completion(body, {"role": "assistant", "content": parts}))
    out = tmp_path / "t.jsonl"
    run(cfg(server, out, limit=1), progress=False)
    (rec,) = read_records(out)
    assert rec["answer"] == "So \\boxed{4}." and rec["reasoning"] == "2 + 2 is 4."


def test_one_aborted_choice_of_four_fails_that_sample_alone(serve, tmp_path):
    """--n 4, the engine aborted one choice: three samples written, one failed (counted in
    the summary, the run's error line), and the rerun asks for that one sample alone."""

    def reply(body, k):
        n = body.get("n", 1)
        resp = completion(body)
        resp["choices"] = [
            {
                "index": i,
                "message": {"role": "assistant", "content": "So \\boxed{4}."},
                "finish_reason": "abort" if (k == 0 and i == 2) else "stop",
            }
            for i in range(n)
        ]
        return resp

    server = serve(reply)
    out = tmp_path / "t.jsonl"
    with pytest.raises(DistillError, match="^1 samples failed: .*abort"):
        run(cfg(server, out, limit=1, n=4, temperature=0.7), progress=False)
    assert sorted(r["sample"] for r in read_records(out)) == [0, 1, 3]
    assert json.loads((tmp_path / "t.summary.json").read_text())["this_run"]["failed"] == 1
    run(cfg(server, out, limit=1, n=4, temperature=0.7), progress=False)
    assert sorted(r["sample"] for r in read_records(out)) == [0, 1, 2, 3]
    assert [b.get("n") for b in server.log] == [4, None]


def test_a_4xx_on_some_prompts_that_comes_back_before_slow_answers_does_not_stop_the_run(
    serve, tmp_path
):
    """The same, for a 400 a server gives some prompts word for word (a moderation refusal):
    8 of them back before the first slow answer stopped the run as 'the first 8 requests were
    all refused', while half of the first 8 requests were being answered."""
    lock = threading.Lock()
    refused: set[str] = set()

    def reply(body, k):
        prompt = body["messages"][-1]["content"]
        with lock:
            if k < 16 and k % 2:
                refused.add(prompt)
            if prompt in refused:
                return 400, {"error": {"message": "prompt flagged", "type": "invalid_request"}}
        time.sleep(1.5)
        return completion(body)

    server = serve(reply)
    out = tmp_path / "t.jsonl"
    with pytest.raises(DistillError, match="8 samples failed: HTTP 400"):
        run(cfg(server, out, limit=16, concurrency=16, max_retries=0), progress=False)
    assert len(list(read_records(out))) == 8
