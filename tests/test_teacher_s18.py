# ruff: noqa: F811 - the serve fixture, imported from tests/servers.py
"""`distill generate` through an OpenAI-compatible server (Python's http.server, which we did not
write), stopped by Ctrl-C, and its requests that time out:

- a SIGINT the kernel hands to another thread than the event loop's (a `distill generate`
  process holds numpy's OpenBLAS threads, one per core but one) was seen only once the loop woke: the run went on waiting for
  its request in flight, until the server answered or --request-timeout (asyncio.run's handler
  is a Python one, run by the main thread between two bytecodes, and nothing woke the loop's
  select()). Now the loop's own handler wakes it (its wakeup fd), whichever thread took it;
- Ctrl-C at each moment of a run (before the request is sent, while the server holds it, while
  a record is written) ends the run at once, every finished record whole and kept;
- a request with no reply within --request-timeout left no usage: what the server may have
  generated and billed for it was in no total and no line. The summary now counts such requests
  (`timed_out_requests`, over the file's runs as the failed spend is), and the run's lines and
  the card say "N requests timed out: their cost is unknown".
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time

import pytest

from distill.errors import DistillError
from distill.generate import run, summarize
from distill.records import read_records
from tests import forked
from tests.servers import serve  # noqa: F401 - the fixture
from tests.test_teacher_replies_s16 import JSON, cfg

GENERATE_IMPORTS = ("distill.generate.stage", "distill.teachers.openai", "openai", "aiohttp")
HELD = 20  # seconds the server holds a request at most (released at each test's end)


def answer(n: int = 1) -> dict:
    return {
        "choices": [
            {"index": k, "message": {"content": "So 4."}, "finish_reason": "stop"} for k in range(n)
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5},
    }


def args(url: str, out, limit: int, *extra: str) -> list[str]:
    return [
        "generate", "--data", "builtin:arithmetic", "--limit", str(limit), "--teacher", "openai",
        "--base-url", url, "--model", "m", "--concurrency", "1", "--request-timeout", "60",
        "--price-input", "1", "--price-output", "2", "--out", str(out), "--quiet", *extra,
    ]  # fmt: skip


def summary_of(out) -> dict:
    return json.loads(out.with_name(out.stem + ".summary.json").read_text())


def wait_for(what, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, "the run never got there"
        time.sleep(0.01)


def stopped(child, within: float = 10) -> None:
    """`child` ended by the SIGINT within `within` seconds (a hang guard: the server holds its
    request HELD seconds), as Ctrl-C ends a run: 130 and the one 'interrupted' line."""
    try:
        child.wait(within)
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGKILL)
        child.wait()
        raise AssertionError("the interrupted run still waited for its request in flight") from None
    assert child.returncode == 130, child.output
    assert "interrupted: everything finished so far is saved" in child.output[1]


def whole_records(out) -> list[dict]:
    """The traces file's lines, each a whole JSON record (nothing half-written)."""
    text = out.read_text() if out.exists() else ""
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


# ------------------------------------------------------------------ Ctrl-C


def test_a_sigint_taken_by_another_thread_stops_the_run_at_once(serve, tmp_path):
    """The kernel hands a process's SIGINT to any of its threads that does not block it; here a
    thread of the run's own takes it (pthread_kill) while the server holds the one request."""
    hold = threading.Event()

    def reply(k):
        hold.wait(HELD)
        return 200, answer(), JSON

    server = serve(reply)
    out, go = tmp_path / "t.jsonl", tmp_path / "go"

    def another_thread_takes_the_sigint():
        def wait_then_take_it():
            while not os.path.exists(go):
                time.sleep(0.005)
            signal.pthread_kill(threading.get_ident(), signal.SIGINT)

        threading.Thread(target=wait_then_take_it, daemon=True).start()

    child = forked.start(
        *args(server.url, out, 1), before=another_thread_takes_the_sigint, imports=GENERATE_IMPORTS
    )
    try:
        wait_for(lambda: len(server.log) == 1 or child.poll() is not None)
        assert len(server.log) == 1, child.output
        time.sleep(0.2)  # the run's loop asleep in select(), waiting for the reply
        go.touch()
        stopped(child)  # before: it ended when the server answered, HELD seconds later
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            child.wait()
        hold.set()
    assert whole_records(out) == []
    assert summary_of(out)["samples"] == 0


def _kill_self_before_the_request():
    """In the run: SIGINT to itself as the first request is about to be sent."""
    from distill.teachers.openai import OpenAITeacher

    request = OpenAITeacher._request

    async def interrupted(self, *a, **kw):
        os.kill(os.getpid(), signal.SIGINT)
        return await request(self, *a, **kw)

    OpenAITeacher._request = interrupted


def _kill_self_while_writing():
    """In the run: SIGINT to itself halfway through writing the first record's line."""
    from distill.records import RecordWriter

    write = RecordWriter.write

    def interrupted(self, record):
        if not self.written:
            self._f.write('{"id": ')  # half a line in the file's buffer when the signal lands
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            self._f.seek(self._f.tell() - len('{"id": '))  # not a record: taken back
            self._f.truncate()
        return write(self, record)

    RecordWriter.write = interrupted


@pytest.mark.parametrize("moment", ["before the request", "while it is held", "while writing"])
def test_ctrl_c_at_each_moment_ends_the_run_at_once_keeping_what_is_finished(
    serve, tmp_path, moment
):
    """Two prompts, one request at a time: the first answered, the second held by the server
    until the test ends; Ctrl-C (SIGINT to the process) lands at `moment`."""
    hold = threading.Event()

    def reply(k):
        if k >= 1:
            hold.wait(HELD)
        return 200, answer(), JSON

    server = serve(reply)
    out = tmp_path / "t.jsonl"
    before = {
        "before the request": _kill_self_before_the_request,
        "while writing": _kill_self_while_writing,
    }.get(moment)
    child = forked.start(*args(server.url, out, 2), before=before, imports=GENERATE_IMPORTS)
    try:
        if moment == "while it is held":
            wait_for(lambda: len(server.log) == 2 or child.poll() is not None)
            wait_for(lambda: out.exists() and out.read_text().count("\n") == 1)
            child.send_signal(signal.SIGINT)
        stopped(child)
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            child.wait()
        hold.set()
    records = whole_records(out)
    # the first prompt's sample, answered before the signal (as it lands mid-write: whole)
    assert len(records) == (0 if moment == "before the request" else 1)
    assert len(server.log) <= 2  # nothing asked after the signal but what was on its way
    summary = summary_of(out)
    assert summary["samples"] == len(records)
    assert summary == {**summarize(out), "this_run": summary["this_run"]}

    run(cfg(server.url, out, limit=2), progress=False)  # the rerun buys only what is missing
    assert len({r["id"] for r in read_records(out)}) == len(list(read_records(out))) == 2


# ------------------------------------------------------------------ timed-out requests


def test_timed_out_requests_are_counted_in_every_total_and_line_once(serve, tmp_path, capsys):
    """Three prompts at --request-timeout 0.5: the server sleeps past it on the second (it may
    still be generating it, and billing it); the rerun gets every reply."""
    state = {"slow": {1}}
    hold = threading.Event()

    def reply(k):
        if k in state["slow"]:
            hold.wait(HELD)  # past the client's timeout: the client gives up first
        return 200, answer(), JSON

    server = serve(reply)
    out = tmp_path / "t.jsonl"
    prices = dict(price_input=1.0, price_output=2.0, request_timeout=0.5)
    try:
        with pytest.raises(DistillError) as e:
            run(cfg(server.url, out, limit=3, **prices), progress=False)
    finally:
        hold.set()
    # the run's last line: the failed sample, and that its request's cost is unknown
    assert "1 samples failed: no reply within --request-timeout 0.5s" in str(e.value)
    assert "1 requests timed out: their cost is unknown" in str(e.value)
    first = summary_of(out)
    assert first["timed_out_requests"] == first["this_run"]["timed_out_requests"] == 1
    # before: nothing in the summary told a timed-out request from one that was never sent
    assert first["failed_tokens"] == 0 and first["samples"] == 2
    assert "1 requests timed out: their cost is unknown" in capsys.readouterr().out

    state["slow"] = set()
    run(cfg(server.url, out, limit=3, **prices), progress=False)  # the resume buys the third
    second = summary_of(out)
    assert second["samples"] == 3
    assert second["this_run"]["timed_out_requests"] == 0
    assert second["timed_out_requests"] == 1  # the first run's, carried once
    assert "1 requests timed out over this file's runs (0 in this run): their cost is unknown" in (
        capsys.readouterr().out
    )
    assert summarize(out) == {k: v for k, v in second.items() if k != "this_run"}

    run(cfg(server.url, out, limit=3, **prices), progress=False)  # nothing to do: not twice
    assert summary_of(out)["timed_out_requests"] == 1


def test_a_killed_run_keeps_its_timed_out_requests_for_the_resume(serve, tmp_path):
    """The run's requests time out (the server sleeps past --request-timeout 0.5) and it is
    SIGKILLed once one has: the count is on disk from the moment it timed out (a killed run
    writes nothing more), and the resume, answered at once, carries it on once."""
    hold = threading.Event()

    def reply(k):
        if k < 2:  # the killed run's
            hold.wait(HELD)
        return 200, answer(), JSON

    server = serve(reply)
    out = tmp_path / "t.jsonl"
    child = forked.start(
        *args(server.url, out, 2), "--request-timeout", "0.5", imports=GENERATE_IMPORTS
    )
    summary = out.with_name(out.stem + ".summary.json")
    try:
        wait_for(lambda: summary.exists() and summary_of(out)["timed_out_requests"] >= 1)
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            child.wait()
        hold.set()
    assert child.returncode == -signal.SIGKILL
    killed = summary_of(out)["timed_out_requests"]  # 1, or 2 if the second timed out too

    run(cfg(server.url, out, limit=2), progress=False)
    after = summary_of(out)
    assert after["samples"] == 2 and after["this_run"]["timed_out_requests"] == 0
    assert after["timed_out_requests"] == killed


def test_the_card_says_how_many_requests_timed_out(tmp_path):
    from distill.publish import PublishConfig, build_card
    from tests.test_publish import run_folder

    student = run_folder(tmp_path)
    path = tmp_path / "traces.summary.json"
    summary = json.loads(path.read_text())
    summary.update(timed_out_requests=2)
    path.write_text(json.dumps(summary))
    card = str(build_card(student, student, PublishConfig(dir=str(student), local_dir="x")))
    line = next(x for x in card.splitlines() if x.startswith("- Samples generated"))
    assert "2 requests timed out: their cost is unknown" in line
    summary.update(timed_out_requests=0)
    path.write_text(json.dumps(summary))
    card = str(build_card(student, student, PublishConfig(dir=str(student), local_dir="x")))
    assert "timed out" not in card
