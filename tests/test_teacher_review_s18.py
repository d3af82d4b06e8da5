# ruff: noqa: F811 - the serve fixture, imported from tests/servers.py
"""Second read of 5948267 (Ctrl-C through the event loop: teachers.openai.interruptible) and
cea4f9f (timed_out_requests in generate's summary, its lines and the card):

- interruptible put asyncio's SIGINT handler on the loop, and asyncio's hands the process's
  signal wakeup fd to its loop and clears it after (-1): a program that held one (another event
  loop's, a GUI toolkit's) lost it to every generate, select --judge or instruct call it made.
  A program's wakeup fd is left as it is now (Python's handler then, as before 5948267);
- a Ctrl-C whose cancel the run swallowed (a timeout's context that took it) ended the run as
  if never interrupted: it raises KeyboardInterrupt now;
- a Ctrl-C while `distill` starts (its imports, the command's building) printed a
  KeyboardInterrupt traceback: one line now, exit 130;
- what was right already and stays so: a run from a worker thread (no signal handler there), a
  second Ctrl-C while the first one's closing hangs, select's judge stopped as generate is,
  timed_out_requests over a --batch resume and from a summary written before it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from distill.generate import run
from distill.records import read_records
from tests import forked
from tests.servers import serve  # noqa: F401 - the fixture
from tests.test_teacher_replies_s16 import JSON, cfg

GENERATE_IMPORTS = ("distill.generate.stage", "distill.teachers.openai", "openai", "aiohttp")
HELD = 20  # seconds a server holds a request at most (released at each test's end)
ROOT = Path(__file__).resolve().parents[1]


def answer() -> dict:
    return {
        "choices": [{"index": 0, "message": {"content": "So 4."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5},
    }


def summary_of(out) -> dict:
    return json.loads(out.with_name(out.stem + ".summary.json").read_text())


def wait_for(what, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, "the run never got there"
        time.sleep(0.01)


def whole_lines(path) -> list[dict]:
    text = path.read_text() if path.exists() else ""
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def ended_by_ctrl_c(child, within: float = 15) -> None:
    try:
        child.wait(within)
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGKILL)
        child.wait()
        raise AssertionError("the interrupted run did not end") from None
    assert child.returncode == 130, child.output
    assert "interrupted: everything finished so far is saved" in child.output[1]
    assert "Traceback" not in child.output[1]


# ------------------------------------------------------------------ the loop's SIGINT handler


def test_a_programs_signal_wakeup_fd_is_left_as_it_was(serve, tmp_path):
    """A program (another event loop, a GUI toolkit) that set the process's wakeup fd calls
    generate: before, the fd was -1 after it (asyncio's add_signal_handler took it for the run's
    loop, its remove_signal_handler cleared it), every signal after it lost to that program."""
    assert threading.current_thread() is threading.main_thread()
    server = serve(lambda k: (200, answer(), JSON))
    mine, other = socket.socketpair()
    mine.setblocking(False)
    fd = mine.fileno()
    before = signal.set_wakeup_fd(fd)
    try:
        run(cfg(server.url, tmp_path / "t.jsonl"), progress=False)
        held = signal.set_wakeup_fd(before)
    finally:
        signal.set_wakeup_fd(before)
        mine.close()
        other.close()
    assert held == fd  # before: -1
    assert len(list(read_records(tmp_path / "t.jsonl"))) == 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_run_leaves_sigint_and_the_wakeup_fd_as_they_were(serve, tmp_path):
    server = serve(lambda k: (200, answer(), JSON))
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    run(cfg(server.url, tmp_path / "t.jsonl"), progress=False)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.set_wakeup_fd(-1) == -1


def test_generate_from_a_worker_thread_runs(serve, tmp_path):
    """add_signal_handler works in the main thread only: a caller in another thread (a user's
    program, a worker pool) gets the plain run, no error."""
    server = serve(lambda k: (200, answer(), JSON))
    out, errors = tmp_path / "t.jsonl", []

    def work():
        try:
            run(cfg(server.url, out, limit=2), progress=False)
        except BaseException as e:  # noqa: BLE001 - the test reports it
            errors.append(e)

    t = threading.Thread(target=work)
    t.start()
    t.join(60)
    assert not t.is_alive() and errors == []
    assert len(list(read_records(out))) == 2


def test_a_ctrl_c_whose_cancel_the_run_swallowed_still_stops_it():
    """The first Ctrl-C cancels the run; a cancel taken on its way (a timeout's context that
    fired with it and turned it into a timeout) let the run go on and end as if never
    interrupted: generate went on to its next teacher, a caller saw success."""
    from distill.teachers.openai import interruptible

    seen = []

    async def swallowing():
        os.kill(os.getpid(), signal.SIGINT)
        try:
            await asyncio.sleep(HELD)
        except asyncio.CancelledError:
            seen.append("cancelled")
        return "done"

    with pytest.raises(KeyboardInterrupt):
        asyncio.run(interruptible(swallowing()))
    assert seen == ["cancelled"]  # the loop's handler took it (not Python's, mid-coroutine)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_where_the_wakeup_fd_cannot_be_set_the_run_goes_on(monkeypatch):
    """A subinterpreter's main thread (mod_wsgi, an embedding program): signal.set_wakeup_fd
    raises ValueError there; the run is awaited plainly, as off the main thread."""
    from distill.teachers.openai import interruptible

    def refused(*a, **kw):
        raise ValueError("set_wakeup_fd only works in main thread of the main interpreter")

    async def work():
        await asyncio.sleep(0)
        return "done"

    monkeypatch.setattr(signal, "set_wakeup_fd", refused)
    assert asyncio.run(interruptible(work())) == "done"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def _close_hangs():
    """In the run: the client's close, after the first Ctrl-C cancelled the run, never ends."""
    from distill.teachers import openai as teacher

    async def hang(self):
        Path(os.environ["DISTILL_TEST_CLOSING"]).touch()
        await asyncio.Event().wait()

    teacher.DirectPost.close = hang
    teacher.ClientPost.close = hang


def test_a_second_ctrl_c_ends_a_run_whose_closing_hangs(serve, tmp_path):
    hold = threading.Event()

    def reply(k):
        if k >= 1:
            hold.wait(HELD)
        return 200, answer(), JSON

    server = serve(reply)
    out, closing = tmp_path / "t.jsonl", tmp_path / "closing"
    os.environ["DISTILL_TEST_CLOSING"] = str(closing)
    args = [
        "generate", "--data", "builtin:arithmetic", "--limit", "2", "--teacher", "openai",
        "--base-url", server.url, "--model", "m", "--concurrency", "1", "--out", str(out),
        "--quiet",
    ]  # fmt: skip
    try:
        child = forked.start(*args, before=_close_hangs, imports=GENERATE_IMPORTS)
    finally:
        del os.environ["DISTILL_TEST_CLOSING"]
    try:
        wait_for(lambda: len(server.log) == 2 or child.poll() is not None)
        wait_for(lambda: out.exists() and out.read_text().count("\n") == 1)
        child.send_signal(signal.SIGINT)
        wait_for(lambda: closing.exists() or child.poll() is not None)
        assert child.poll() is None, child.output  # the first Ctrl-C waits for the close
        child.send_signal(signal.SIGINT)
        ended_by_ctrl_c(child)
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            child.wait()
        hold.set()
    assert len(whole_lines(out)) == 1
    assert summary_of(out)["samples"] == 1


def test_ctrl_c_stops_selects_judge_keeping_its_cache_whole(serve, tmp_path):
    """select --judge runs the same teacher: Ctrl-C while the second judge request is held
    ends it at once, 130, the first reply cached whole; the rerun asks only for the second."""
    from tests.test_select import judged_traces

    hold = threading.Event()

    def reply(k):
        if k == 1:
            hold.wait(HELD)
        body = answer()
        body["choices"][0]["message"]["content"] = "Clear.\nScore: 8"
        return 200, body, JSON

    server = serve(reply)
    src = judged_traces(tmp_path, ["a", "b"])
    args = [
        "select", str(src), "--out", str(tmp_path / "sel.jsonl"), "--judge", "m",
        "--judge-base-url", server.url, "--concurrency", "1", "--cache-dir", str(tmp_path / "c"),
    ]  # fmt: skip
    child = forked.start(*args, imports=GENERATE_IMPORTS + ("distill.select.stage",))
    try:
        wait_for(lambda: len(server.log) == 2 or child.poll() is not None)
        assert len(server.log) == 2, child.output
        wait_for(lambda: any(p.read_text().count("\n") for p in (tmp_path / "c").rglob("*.jsonl")))
        child.send_signal(signal.SIGINT)
        ended_by_ctrl_c(child)
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            child.wait()
        hold.set()
    [cache] = (tmp_path / "c").rglob("*.jsonl")
    assert len(whole_lines(cache)) == 1
    assert not (tmp_path / "sel.jsonl").exists()

    done = forked.distill(*args, imports=GENERATE_IMPORTS, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(server.log) == 3  # the held one asked again, the cached one not
    assert len(list(read_records(tmp_path / "sel.jsonl"))) == 2


# ------------------------------------------------------------------ timed_out_requests


def test_a_batch_resume_carries_the_timed_out_requests_once(tmp_path, capsys):
    """An online run whose first request gets no reply in time, then `--batch` buys what is
    missing: the count is the file's (1), this run's 0, said in its line; the prompt is done."""
    from distill.errors import DistillError
    from tests.fakebatch import FakeBatchServer
    from tests.test_batch import cfg as batch_cfg

    server = FakeBatchServer().start()
    out = tmp_path / "t.jsonl"
    try:
        server.faults.append({"hang": 3})  # the first online request: past --request-timeout
        with pytest.raises(DistillError, match="1 requests timed out: their cost is unknown"):
            run(batch_cfg(server, out, limit=2, batch=False, request_timeout=0.5), progress=False)
        assert summary_of(out)["timed_out_requests"] == 1
        capsys.readouterr()
        run(batch_cfg(server, out, limit=2), progress=False)
    finally:
        server.stop()
    summary = summary_of(out)
    assert summary["samples"] == 4  # two prompts of --n 2: the timed-out one bought by the batch
    assert summary["timed_out_requests"] == 1 and summary["this_run"]["timed_out_requests"] == 0
    assert "1 requests timed out over this file's runs (0 in this run)" in capsys.readouterr().out


def test_a_summary_written_before_timed_out_requests_is_read(serve, tmp_path, capsys):
    """A traces file whose summary an earlier distill wrote (no timed_out_requests): the rerun,
    summarize and the card read it as none."""
    from distill.generate import summarize

    server = serve(lambda k: (200, answer(), JSON))
    out = tmp_path / "t.jsonl"
    run(cfg(server.url, out), progress=False)
    path = out.with_name(out.stem + ".summary.json")
    old = summary_of(out)
    del old["timed_out_requests"], old["this_run"]["timed_out_requests"]
    path.write_text(json.dumps(old))
    assert summarize(out)["timed_out_requests"] == 0
    capsys.readouterr()
    run(cfg(server.url, out, limit=2), progress=False)
    assert summary_of(out)["samples"] == 2 and summary_of(out)["timed_out_requests"] == 0
    assert "timed out" not in capsys.readouterr().out


def _card(tmp_path, **summary_keys) -> str:
    from distill.publish import PublishConfig, build_card
    from tests.test_publish import run_folder

    tmp_path.mkdir()
    student = run_folder(tmp_path)
    path = tmp_path / "traces.summary.json"
    summary = json.loads(path.read_text())
    summary.pop("timed_out_requests", None)
    summary.update(summary_keys)
    path.write_text(json.dumps(summary))
    return str(build_card(student, student, PublishConfig(dir=str(student), local_dir="x")))


def test_the_card_counts_timed_out_requests_only_as_a_count(tmp_path):
    """The card read the key as it found it: an edited summary's `true` or `-1` became 'True
    requests timed out' / '-1 requests timed out'; such a value is no count (as generate's
    rerun reads it: none), a summary without the key none either."""
    assert "3 requests timed out: their cost is unknown" in _card(
        tmp_path / "a", timed_out_requests=3
    )
    assert "timed out" not in _card(tmp_path / "b")
    for k, bogus in enumerate((True, -1, "2", 1.5)):
        assert "timed out" not in _card(tmp_path / f"c{k}", timed_out_requests=bogus), bogus


# ------------------------------------------------------------------ Ctrl-C while distill starts

HOOK = """
import os, runpy, signal, sys

class SigintAtImport:  # Ctrl-C as module `at` is imported
    def find_spec(self, name, path=None, target=None):
        if name == {at!r}:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)

sys.meta_path.insert(0, SigintAtImport())
"""


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("at", ["typer", "distill.generate.config"])
def test_ctrl_c_while_distill_imports_is_one_line_and_130(at):
    """`python -m distill generate ...` (runpy, as -m runs it) interrupted while distill.cli
    imports typer or registers the commands (~0.2 s): before, a KeyboardInterrupt traceback."""
    done = python(
        HOOK.format(at=at)
        + "sys.argv = ['distill', 'generate', '--help']\n"
        + "runpy.run_module('distill', run_name='__main__', alter_sys=True)\n"
    )
    assert done.returncode == 130, done.stderr
    assert done.stderr == "interrupted: nothing was started\n"


def test_a_program_importing_distill_cli_keeps_its_ctrl_c():
    """Only `distill` itself exits on a Ctrl-C while it starts: a program importing distill.cli
    gets its KeyboardInterrupt, and Python's handler is in place once `distill` has started."""
    done = python(
        HOOK.format(at="distill.generate.config")
        + "try:\n    import distill.cli\nexcept KeyboardInterrupt:\n    print('mine')\n"
    )
    assert (done.returncode, done.stdout) == (0, "mine\n"), done.stderr
    done = python(
        "import runpy, signal, sys\n"
        + "sys.argv = ['distill', '--help']\n"
        + "try:\n    runpy.run_module('distill', run_name='__main__', alter_sys=True)\n"
        + "except SystemExit:\n"
        + "    print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)\n"
    )
    assert done.stdout.endswith("True\n"), done.stderr


def _sigint_in(module: str, owner: str, name: str):
    def before():
        import importlib

        target = getattr(importlib.import_module(module), owner) if owner else None
        holder = target if target is not None else importlib.import_module(module)
        real = getattr(holder, name)

        def interrupted(*a, **kw):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the handler runs here, at the latest
            return real(*a, **kw)

        setattr(holder, name, interrupted)

    return before


@pytest.mark.parametrize(
    ("where", "module", "owner", "name"),
    [
        ("building the commands", "typer.main", "", "get_command"),  # before: a traceback
        ("reading the flags", "typer.core", "TyperCommand", "parse_args"),  # before: no line
    ],
)
def test_ctrl_c_before_the_command_runs_is_one_line_and_130(tmp_path, where, module, owner, name):
    done = forked.distill(
        "generate", "--data", "builtin:arithmetic", "--out", str(tmp_path / "t.jsonl"),
        before=_sigint_in(module, owner, name), timeout=60,
    )  # fmt: skip
    assert done.returncode == 130, done.stderr
    assert done.stderr.startswith("interrupted") and len(done.stderr.splitlines()) == 1
    assert not (tmp_path / "t.jsonl").exists()


def test_ctrl_c_stops_a_batch_run_keeping_its_batches(tmp_path):
    """--batch waits on the provider (no event loop): Ctrl-C still ends it, 130, the batch ids
    kept for the rerun, which re-attaches and buys nothing twice."""
    from tests.fakebatch import FakeBatchServer
    from tests.test_batch import cfg as batch_cfg

    server = FakeBatchServer().start()
    server.plans.append({"hold": True})
    out = tmp_path / "t.jsonl"
    state = out.with_name(out.name + ".batches.json")
    args = [
        "generate", "--data", "builtin:arithmetic", "--limit", "2", "--teacher", "openai",
        "--base-url", server.url, "--model", "fake-r1", "--n", "2", "--batch",
        "--batch-poll", "0.05", "--out", str(out), "--quiet",
    ]  # fmt: skip
    try:
        child = forked.start(*args, imports=GENERATE_IMPORTS)
        try:

            def submitted():
                entries = json.loads(state.read_text())["batches"] if state.exists() else []
                return any(e.get("batch_id") for e in entries) or child.poll() is not None

            wait_for(submitted)
            assert child.poll() is None, child.output
            child.send_signal(signal.SIGINT)
            ended_by_ctrl_c(child)
        finally:
            if child.poll() is None:
                child.send_signal(signal.SIGKILL)
                child.wait()
        assert all(e["batch_id"] for e in json.loads(state.read_text())["batches"])
        server.release()
        run(batch_cfg(server, out, limit=2), progress=False)
    finally:
        server.stop()
    assert len(server.batches) == 1  # re-attached, not submitted again
    assert len(list(read_records(out))) == 4
