# ruff: noqa: F811 - the serve fixture, imported from tests/servers.py
"""generate's cost accounting of what a server gave no exact count for (the openai teacher against
Python's http.server, tests/test_teacher_replies_s16.py's):

- a reply without `usage` is counted at an estimate (8a05d28), marked in its Completion's extra
  `tokens_estimated`; the stage copied only `n_in_request` / `cached_tokens` into the record's
  usage, so the mark was dropped and nothing said which counts (and dollars) were guesses;
- a choice the server ended with finish_reason "abort" / "error" (no record) named its tokens in
  the failure line only: Sink.failed took no usage, and this run's spend left them out."""

import json

import pytest

from distill.errors import DistillError
from distill.generate import run
from distill.generate.stage import summarize
from distill.records import read_records
from tests.servers import serve  # noqa: F401 - the fixture
from tests.test_teacher_replies_s16 import JSON, cfg, chat

PRICES = dict(price_input=1.0, price_output=2.0)  # $ per 1M tokens


def summary_of(out):
    return json.loads(out.with_name(out.stem + ".summary.json").read_text())


def test_a_record_counted_at_an_estimate_says_so_and_the_summary_counts_its_tokens(
    serve, tmp_path, capsys
):
    # two prompts: the first reply without usage (estimated), the second with the server's
    replies = [chat("The sum is 4.", usage=False), chat("So 4.")]
    server = serve(lambda k: (200, replies[k], JSON))
    out = tmp_path / "t.jsonl"
    run(cfg(server.url, out, limit=2, **PRICES), progress=False)
    estimated, reported = sorted(read_records(out), key=lambda r: r["usage"]["completion_tokens"])
    assert estimated["usage"]["tokens_estimated"] is True  # before: no mark in the record
    assert "tokens_estimated" not in reported["usage"]
    assert reported["usage"]["completion_tokens"] == 37
    tokens = estimated["usage"]["prompt_tokens"] + estimated["usage"]["completion_tokens"]
    summary = summary_of(out)
    assert summary["estimated_tokens"] == tokens > 0
    assert summary["this_run"]["estimated_tokens"] == tokens
    assert summarize(out)["estimated_tokens"] == tokens  # the file's totals, read again
    said = capsys.readouterr().out
    assert f"{tokens} tokens in file estimated (the server reported no usage" in said


def test_a_file_without_estimates_says_none(serve, tmp_path, capsys):
    server = serve(lambda k: (200, chat("So 4."), JSON))
    out = tmp_path / "t.jsonl"
    run(cfg(server.url, out, **PRICES), progress=False)
    assert summary_of(out)["estimated_tokens"] == 0
    assert "estimated" not in capsys.readouterr().out


def two_choices(usage=True):
    """One request of --n 2: the first choice finished, the second aborted by the engine."""
    reply = {
        "choices": [
            {"index": 0, "message": {"content": "So 4."}, "finish_reason": "stop"},
            {"index": 1, "message": {"content": "So the sum"}, "finish_reason": "abort"},
        ]
    }
    if usage:
        reply["usage"] = {"prompt_tokens": 10, "completion_tokens": 30}
    return reply


def test_a_choice_the_engine_aborted_is_counted_in_this_runs_spend(serve, tmp_path, capsys):
    server = serve(lambda k: (200, two_choices(), JSON))
    out = tmp_path / "t.jsonl"
    with pytest.raises(DistillError, match="1 samples failed: .*'abort'"):
        run(cfg(server.url, out, n=2, **PRICES), progress=False)
    [rec] = read_records(out)
    written = rec["usage"]["cost_usd"]
    summary = summary_of(out)
    # the request's tokens were all generated: 10 prompt, 30 completion, at $1 / $2 per 1M
    assert summary["this_run"]["cost_usd"] == pytest.approx((10 + 30 * 2) / 1e6)
    # before: the written sample's alone
    assert summary["this_run"]["cost_usd"] > written
    failed_completion = 30 - rec["usage"]["completion_tokens"]
    assert summary["this_run"]["failed_tokens"] == failed_completion + 10 / 2
    assert summary["this_run"]["failed_cost_usd"] == pytest.approx(
        (10 / 2 + failed_completion * 2) / 1e6
    )
    assert summary["cost_usd"] == pytest.approx(written)  # the file holds the written one alone
    said = capsys.readouterr().out
    assert f"{failed_completion + 5} tokens ($0.0000) spent on failed samples" in said


def test_an_aborted_choice_counted_at_an_estimate_is_counted_as_one(serve, tmp_path):
    server = serve(lambda k: (200, two_choices(usage=False), JSON))
    out = tmp_path / "t.jsonl"
    with pytest.raises(DistillError, match="estimated"):
        run(cfg(server.url, out, n=2, **PRICES), progress=False)
    [rec] = read_records(out)
    summary = summary_of(out)
    failed = summary["this_run"]["failed_tokens"]
    assert failed > 0 and summary["this_run"]["cost_usd"] > rec["usage"]["cost_usd"]
    written = rec["usage"]["completion_tokens"] + round(rec["usage"]["prompt_tokens"] / 2)
    assert summary["this_run"]["estimated_tokens"] == written + failed
    assert summary["estimated_tokens"] == written  # the file's: its records alone


def test_a_batch_result_the_engine_aborted_is_counted_at_the_batch_price(tmp_path):
    """--batch: a result line's choice that ended 'abort' goes through the same sink."""
    from aiohttp import web

    from tests.fakebatch import FakeBatchServer
    from tests.test_batch import cfg as batch_cfg

    class Aborts(FakeBatchServer):
        async def chat(self, request):
            return web.json_response(two_choices())

    server = Aborts().start()
    try:
        out = tmp_path / "t.jsonl"
        with pytest.raises(DistillError, match="'abort'"):
            run(batch_cfg(server, out, limit=1, n=2, **PRICES), progress=False)
    finally:
        server.stop()
    summary = summary_of(out)
    # half the online price (batch_discount 0.5) of the whole request
    assert summary["this_run"]["cost_usd"] == pytest.approx((10 + 30 * 2) / 1e6 / 2)
