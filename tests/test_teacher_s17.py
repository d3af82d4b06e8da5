# ruff: noqa: F811 - the serve fixture, imported from tests/servers.py
"""The teachers' spend and retry rules, against fake OpenAI-compatible servers:

- generate's summary after a rerun (a crash, a kill, a run ended by failed samples) counted only
  that rerun's failed samples' spend: a choice the server ended 'abort' was generated and billed,
  no record holds it, and the rerun's summary was written from the records and its own run, so
  the earlier run's failed spend was gone (a SIGKILLed run wrote no summary at all);
- --batch: a result line refused with 429 `insufficient_quota` went to the next batch (and the
  next, up to --batch-max-rounds), where the online path stops on it at once;
- a served Gemma 4 without a reasoning parser: the server drops the thought channel's markers
  (special tokens) and its thinking was recorded as the answer.
"""

from __future__ import annotations

import json
import signal
import threading
import time

import pytest

from distill.errors import DistillError
from distill.generate import run, summarize
from distill.records import read_records
from tests import forked
from tests.servers import serve  # noqa: F401 - the fixture
from tests.test_teacher_replies_s16 import JSON, cfg

PRICES = dict(price_input=1.0, price_output=2.0)  # $ per 1M tokens
GENERATE_IMPORTS = ("distill.generate.stage", "distill.teachers.openai", "openai", "aiohttp")


def summary_of(out):
    return json.loads(out.with_name(out.stem + ".summary.json").read_text())


def choices(n: int, aborted: bool = False) -> dict:
    """A reply of `n` choices, 10 prompt + 30 completion tokens; `aborted`: its last choice
    ended 'abort' by the engine (10 of its characters to the first's 5: 20 of the 30 tokens)."""
    texts = ["So 4."] * n
    if aborted:
        texts[-1] = "So the sum"
    reply = {
        "choices": [
            {
                "index": k,
                "message": {"content": text},
                "finish_reason": "abort" if aborted and k == n - 1 else "stop",
            }
            for k, text in enumerate(texts)
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 30},
    }
    return reply


# the aborted choice of choices(2, aborted=True): half the prompt, 20 completion tokens
FAILED_TOKENS = 5 + 20
FAILED_COST = (5 * 1.0 + 20 * 2.0) / 1e6


def records_cost(out) -> float:
    return sum(r["usage"]["cost_usd"] for r in read_records(out))


def test_a_rerun_after_failed_samples_keeps_their_spend_in_the_summary(serve, tmp_path, capsys):
    state = {"abort": True}

    def reply(k):
        n = server.log[k].get("n") or 1
        return 200, choices(n, aborted=state["abort"]), JSON

    server = serve(reply)
    out = tmp_path / "t.jsonl"
    with pytest.raises(DistillError, match="1 samples failed"):
        run(cfg(server.url, out, n=2, **PRICES), progress=False)
    first = summary_of(out)
    assert first["failed_tokens"] == FAILED_TOKENS
    assert first["failed_cost_usd"] == pytest.approx(FAILED_COST)

    state["abort"] = False  # the rerun buys the failed sample again
    run(cfg(server.url, out, n=2, **PRICES), progress=False)
    second = summary_of(out)
    assert second["samples"] == 2 and second["this_run"]["failed_tokens"] == 0
    # before: 0, the first run's aborted choice (paid) gone from every total
    assert second["failed_tokens"] == FAILED_TOKENS
    assert second["failed_cost_usd"] == pytest.approx(FAILED_COST)
    assert second["cost_usd"] == pytest.approx(records_cost(out))
    assert second["spent_usd"] == pytest.approx(records_cost(out) + FAILED_COST)
    assert summarize(out) == {k: v for k, v in second.items() if k != "this_run"}
    assert "25 tokens ($0.0000) spent on failed samples over this file's runs" in (
        capsys.readouterr().out
    )

    run(cfg(server.url, out, n=2, **PRICES), progress=False)  # nothing to do: nothing counted twice
    third = summary_of(out)
    assert third["failed_tokens"] == FAILED_TOKENS
    assert third["spent_usd"] == pytest.approx(second["spent_usd"])


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["sigkill", "sigint"])
def test_a_killed_run_and_its_resume_sum_every_runs_spend(serve, tmp_path, sig):
    """Two prompts of --n 2, one at a time: the first reply has one choice aborted, the second
    request hangs until the run is stopped from outside; the resume buys what is missing."""
    hold, stopped = threading.Event(), threading.Event()

    def reply(k):
        if k == 1:  # the run is stopped while it waits for this one
            hold.wait(30)
        if stopped.is_set():
            # a run that, once signalled, still waits for its request in flight (a SIGINT seen
            # under load in one CI run of three: a graceful close) gets it refused, never answered
            return 400, {"error": {"message": "stopped", "type": "invalid_request_error"}}, JSON
        n = server.log[k].get("n") or 1
        return 200, choices(n, aborted=k == 0), JSON

    server = serve(reply)
    out = tmp_path / "t.jsonl"
    args = [
        "generate", "--data", "builtin:arithmetic", "--limit", "2", "--teacher", "openai",
        "--base-url", server.url, "--model", "m", "--n", "2", "--concurrency", "1",
        "--price-input", "1", "--price-output", "2", "--out", str(out), "--quiet",
    ]  # fmt: skip
    child = forked.start(*args, imports=GENERATE_IMPORTS)
    try:
        deadline = time.monotonic() + 30
        while len(server.log) < 2 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.01)
        assert len(server.log) == 2, child.output
        # the first reply's failed sample is counted by now (the summary written for it, where
        # a kill cannot lose it); a distill that writes none mid-run is killed after the wait
        summary = out.with_name(out.stem + ".summary.json")
        deadline = time.monotonic() + 3
        while not summary.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        if sig == signal.SIGINT:
            # Ctrl-C writes the summary as it stops: the one of the failed sample taken away,
            # so the one found after is the interrupted run's
            summary.unlink(missing_ok=True)
        child.send_signal(sig)
        stopped.set()
        hold.set()
        child.wait(30)
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            child.wait()
        hold.set()
    # nothing half-written: each line of the file a whole record
    text = out.read_text()
    assert text.endswith("\n") and len([json.loads(x) for x in text.splitlines()]) == 1
    [written] = read_records(out)  # the first prompt's finished sample
    if sig == signal.SIGKILL:
        assert child.returncode == -signal.SIGKILL
    else:
        # a graceful Ctrl-C: 130, its one line, the summary of what the file holds written. A
        # run that went on after the signal (one ignoring SIGINT) gets its held request refused
        # (400): a failed sample, exit 1
        assert child.returncode == 130, child.output
        assert "interrupted: everything finished so far is saved" in child.output[1]
        stopped_at = summary_of(out)
        assert stopped_at["samples"] == 1 and stopped_at["this_run"]["written"] == 1
        assert stopped_at["failed_tokens"] == FAILED_TOKENS

    stopped.clear()  # the resume's requests are answered
    run(cfg(server.url, out, limit=2, n=2, **PRICES), progress=False)
    recs = list(read_records(out))
    assert len(recs) == len({r["id"] for r in recs}) == 4
    after = summary_of(out)
    assert after["samples"] == 4 and after["this_run"]["written"] == 3
    assert after["this_run"]["failed_tokens"] == 0
    # the killed run's aborted choice, paid and in no record: still in the totals, once
    assert after["failed_tokens"] == FAILED_TOKENS
    assert after["failed_cost_usd"] == pytest.approx(FAILED_COST)
    assert after["cost_usd"] == pytest.approx(records_cost(out))
    assert after["spent_usd"] == pytest.approx(records_cost(out) + FAILED_COST)
    # the killed run's records were bought then, not by the resume
    assert after["this_run"]["cost_usd"] == pytest.approx(
        records_cost(out) - written["usage"]["cost_usd"]
    )


# ------------------------------------------------------------------ --batch: out of credit

QUOTA = {
    "error": {
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "type": "insufficient_quota",
        "code": "insufficient_quota",
    }
}


@pytest.mark.parametrize("shape", ["response", "error"])
def test_a_batch_line_refused_for_no_credit_is_not_resubmitted(tmp_path, capsys, shape):
    """The first prompt's line is refused with OpenAI's 429 insufficient_quota, as a response
    (status 429, the error in its body) or as the line's error; the others are answered."""
    from aiohttp import web

    from tests.fakebatch import FakeBatchServer
    from tests.test_batch import cfg as batch_cfg

    class NoCredit(FakeBatchServer):
        refused = 0

        async def chat(self, request):
            if shape == "error" or self.refused:
                return await super().chat(request)
            self.refused += 1
            self.bodies.append(await request.json())
            return web.json_response(QUOTA, status=429)

        def _new_file(self, content, filename, purpose):
            if shape == "error" and filename.endswith("error_file_id.jsonl"):
                lines = [json.loads(x) for x in content.splitlines()]
                for line in lines:  # the line's own error, as a provider may write it
                    line["response"], line["error"] = None, QUOTA["error"]
                content = "".join(json.dumps(x) + "\n" for x in lines).encode()
            return super()._new_file(content, filename, purpose)

    server = NoCredit().start()
    if shape == "error":
        server.plans.append({"error_lines": {0: 429}})
    out = tmp_path / "t.jsonl"
    try:
        with pytest.raises(DistillError, match="samples failed: .*no credit left"):
            run(batch_cfg(server, out, limit=3, n=1), progress=False)
    finally:
        server.stop()
    # before: the refused line went to round 2, then 3 (each a batch, refused the same)
    assert len(server.batches) == 1
    assert len(server.submitted_ids()) == 3 and len(list(read_records(out))) == 2
    said = capsys.readouterr().out
    assert said.count("1 samples refused: the account of the key in $OPENAI_API_KEY has no") == 1


# ------------------------------------------------------------------ a served Gemma 4, unparsed

# `<|channel>thought\n{THOUGHT}<channel|>{FINAL}` as a server without Gemma 4's reasoning parser
# sends it: the channel's markers are special tokens, left out of the text
THOUGHT = "2 + 2: maybe \\boxed{5}? Check: 2 + 2 = 4."
FINAL = "The sum is \\boxed{4}."
UNPARSED = f"thought\n{THOUGHT}{FINAL}"


class ModelsServer:
    """POST /v1/chat/completions answers `reply(body)`; GET /v1/models lists `models` (each
    {"id", "root"}, as vLLM does), counted in `listed`."""

    def __init__(self, reply, models):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.listed, self.posts, server = 0, 0, self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def send(self, data):
                data = json.dumps(data).encode()
                self.send_response(200)
                self.send_header("Content-Type", JSON)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.posts += 1
                self.send(reply(body))

            def do_GET(self):  # noqa: N802
                server.listed += 1
                self.send({"object": "list", "data": [{"object": "model", **m} for m in models]})

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
def models_server():
    started = []

    def start(reply, models=()):
        started.append(ModelsServer(reply, list(models)))
        return started[-1]

    yield start
    for s in started:
        s.stop()


def message(content, reasoning=None):
    msg = {"content": content, **({"reasoning": reasoning} if reasoning else {})}
    return {
        "choices": [{"index": 0, "message": msg, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 30},
    }


@pytest.mark.parametrize(
    "model, models, named",
    [
        ("google/gemma-4-31B-it", [], "google/gemma-4-31B-it"),
        # served under another name (--served-model-name): GET /models names the weights
        ("teacher", [{"id": "teacher", "root": "/models/gemma-4-E4B-it"}], "/models/gemma-4-E4B"),
    ],
    ids=["by name", "by its root"],
)
def test_a_gemma4_served_without_its_reasoning_parser_is_refused_before_any_record(
    models_server, tmp_path, model, models, named
):
    server = models_server(lambda body: message(UNPARSED), models)
    out = tmp_path / "t.jsonl"
    with pytest.raises(DistillError, match=r"is Gemma 4 .*--reasoning-parser gemma4") as e:
        run(cfg(server.url, out, model=model, limit=6, concurrency=3), progress=False)
    assert named in str(e.value)
    # before: each sample written with the thinking as its answer (think 'none')
    assert list(read_records(out)) == []
    assert server.listed == (1 if models else 0)  # asked once, by the replies that waited


@pytest.mark.parametrize(
    "model, models, reply",
    [
        # not Gemma 4 (by its name, nor by its root): its text is its answer
        ("teacher", [{"id": "teacher", "root": "Qwen/Qwen3-8B"}], message(UNPARSED)),
        # Gemma 4 with its parser: the thinking in `reasoning`
        ("google/gemma-4-31B-it", [], message(FINAL, reasoning=THOUGHT)),
    ],
    ids=["another model", "gemma 4 parsed"],
)
def test_a_reply_that_is_not_gemma4_unparsed_is_written(
    models_server, tmp_path, model, models, reply
):
    server = models_server(lambda body: reply, models)
    out = tmp_path / "t.jsonl"
    run(cfg(server.url, out, model=model, limit=2), progress=False)
    recs = list(read_records(out))
    assert len(recs) == 2
    parsed = reply["choices"][0]["message"].get("reasoning")
    assert {(r["reasoning"], r["answer"]) for r in recs} == (
        {(THOUGHT, FINAL)} if parsed else {(None, UNPARSED)}
    )
    assert server.listed == (1 if models else 0)  # asked once, not per reply


# ------------------------------------------------------------------ instruct: the same, rerun


def test_instructs_report_after_a_rerun_counts_the_failed_requests_spend(tmp_path):
    """instruct's first request is answered with its choice ended 'abort' (100 prompt + 50
    completion tokens, paid): that run stops on it, before its report; the rerun's report
    counted the replies in the requests file alone, the aborted request's spend nowhere."""
    from aiohttp import web

    from distill.instruct import InstructConfig
    from distill.instruct import run as instruct
    from tests.fakeserver import FakeServer, task_list

    class AbortsFirst(FakeServer):
        async def chat(self, request):
            if self.log:
                return await super().chat(request)
            self.log.append({"messages": (await request.json())["messages"]})
            choice = {"index": 0, "message": {"content": "1. Instruction: Wri"}}
            return web.json_response(
                {
                    "choices": [{**choice, "finish_reason": "abort"}],
                    "usage": {"prompt_tokens": 100, "completion_tokens": 50},
                }
            )

    server = AbortsFirst(style="tasks", model="m").start()
    try:
        c = InstructConfig(
            teacher="openai", model="m", base_url=server.url, num_instructions=8,
            out=str(tmp_path / "i.jsonl"), concurrency=2, max_retries=0,
            price_input=1.0, price_output=2.0,
        )  # fmt: skip
        with pytest.raises(DistillError, match="1 teacher requests failed: .*'abort'"):
            instruct(c)
        instruct(c)
    finally:
        server.stop()
    report = json.loads((tmp_path / "i.report.json").read_text())
    failed = (100 * 1.0 + 50 * 2.0) / 1e6
    replies = 0.0  # every other request, answered: the fake's usage
    for entry in server.log[1:]:
        prompt = entry["messages"][-1]["content"]
        replies += ((len(prompt) // 4 + 4) * 1.0 + len(task_list(prompt)) // 4 * 2.0) / 1e6
    assert report["cost_usd"] == pytest.approx(replies + failed, rel=1e-6)  # before: replies
    assert report["failed_tokens"] == 150
    assert report["failed_cost_usd"] == pytest.approx(failed)
    assert report["this_run"]["failed_tokens"] == 0
    assert report["this_run"]["cost_usd"] < report["cost_usd"]


# ------------------------------------------------------------------ a 200 with no choices


def test_a_reply_without_choices_that_counted_tokens_is_in_the_spend(serve, tmp_path):
    """OpenRouter's upstream error in a 200 body: no choice, but the usage the provider counted
    (and billed) for it; the sample failed and its tokens were in no total."""
    body = {
        "choices": [],
        "error": {"message": "upstream provider error", "code": 502},
        "usage": {"prompt_tokens": 10, "completion_tokens": 30},
    }
    server = serve(lambda k: (200, body, JSON))
    out = tmp_path / "t.jsonl"
    with pytest.raises(DistillError, match="the reply had no choices: upstream provider error"):
        run(cfg(server.url, out, n=2, **PRICES), progress=False)
    summary = summary_of(out)
    assert summary["this_run"]["failed"] == 2
    assert summary["failed_tokens"] == summary["this_run"]["failed_tokens"] == 10 + 30
    assert summary["failed_cost_usd"] == pytest.approx((10 + 30 * 2) / 1e6)


def test_a_batch_poll_refused_for_no_credit_stops_at_once(tmp_path):
    """Polling a batch answered 429 insufficient_quota was counted as one failed poll of ten
    (the wait between them growing to --batch-poll), then 'polling failed 10 times'."""
    from aiohttp import web

    from tests.fakebatch import FakeBatchServer
    from tests.test_batch import cfg as batch_cfg

    class NoCreditPolls(FakeBatchServer):
        polls = 0

        async def retrieve(self, request):
            self.polls += 1
            return web.json_response(QUOTA, status=429)

    server = NoCreditPolls().start()
    out = tmp_path / "t.jsonl"
    try:
        with pytest.raises(DistillError, match="has no credit left; batches already submitted"):
            run(batch_cfg(server, out, limit=2, n=1), progress=False)
    finally:
        server.stop()
    assert server.polls == 1  # not asked again (the client's retries, nor nine more polls)


def test_a_batch_line_without_choices_fails_once_and_its_tokens_are_spent(tmp_path):
    """A result line answered 200 with no choice (an upstream's error in the body, its usage
    counted and billed): it went to the next round (each a batch) and its tokens were in no
    total; online such a reply fails at once and its usage is spent (4fa3f70)."""
    from aiohttp import web

    from tests.fakebatch import FakeBatchServer
    from tests.test_batch import cfg as batch_cfg

    body = {
        "choices": [],
        "error": {"message": "upstream provider error", "code": 502},
        "usage": {"prompt_tokens": 10, "completion_tokens": 30},
    }

    class NoChoices(FakeBatchServer):
        emptied = 0

        async def chat(self, request):
            if self.emptied:
                return await super().chat(request)
            self.emptied += 1
            self.bodies.append(await request.json())
            return web.json_response(body)

    server = NoChoices().start()
    out = tmp_path / "t.jsonl"
    try:
        with pytest.raises(DistillError, match="samples failed"):
            run(batch_cfg(server, out, limit=3, n=1), progress=False)
    finally:
        server.stop()
    assert len(server.batches) == 1  # not resubmitted
    assert len(list(read_records(out))) == 2
    summary = summary_of(out)
    assert summary["failed_tokens"] == 10 + 30
