# ruff: noqa: F811 - the serve fixture, imported from tests/servers.py
"""Last read of fa81827/5982f6c (teachers.openai.interruptible) and 7df32f2 (Ctrl-C while
`distill` starts):

- a second Ctrl-C (the first one's close hanging) left asyncio.run's SIGINT handler of the run
  that was over in place for the rest of the process, and its run's task ended by asyncio.run's
  closing with a KeyboardInterrupt nobody read: 'Task exception was never retrieved' and a
  traceback on stderr as `distill generate` exited 130;
- distill's own SIGINT handler while it starts stayed in place where the start failed (an
  import, a command's config) or where it fired, for a program that ran distill's module
  (runpy, pdb) and went on: its later Ctrl-C printed 'interrupted: nothing was started' and
  exited 130.
- right already, pinned: a KeyboardInterrupt in each command's run is `_run`'s (what was saved),
  not the group's bare 'interrupted'; a real `python -m distill`'s usage and input errors exit 2
  and 1, one line.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.servers import serve  # noqa: F401 - the fixture
from tests.test_teacher_replies_s16 import JSON

ROOT = Path(__file__).resolve().parents[1]


def python(code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# ------------------------------------------------------------------ interruptible: a second Ctrl-C


async def _closing_hangs():
    """The run: the first Ctrl-C cancels it, its close then hangs until a second one."""
    os.kill(os.getpid(), signal.SIGINT)
    try:
        await asyncio.sleep(20)
    except asyncio.CancelledError:
        os.kill(os.getpid(), signal.SIGINT)
        await asyncio.sleep(20)


async def _interrupted_once():
    os.kill(os.getpid(), signal.SIGINT)
    await asyncio.sleep(20)


def test_a_second_ctrl_c_leaves_pythons_handler_and_no_unread_exception(caplog):
    """Before: asyncio.run's handler of the run that was over stayed (its closing put back the
    handler found at the start, after asyncio.run had restored its own), and the task ended
    with a KeyboardInterrupt never retrieved (logged, with its traceback, as it was freed)."""
    from distill.teachers.openai import interruptible

    assert threading.current_thread() is threading.main_thread()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        with pytest.raises(KeyboardInterrupt) as stopped:
            asyncio.run(interruptible(_closing_hangs()))
        del stopped  # its traceback holds the run's task
        gc.collect()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert [r.getMessage() for r in caplog.records] == []
    assert signal.set_wakeup_fd(-1) == -1

    # called again in the same process: a Ctrl-C stops it as the first, the handlers put back
    for _ in range(2):
        with pytest.raises(KeyboardInterrupt):
            asyncio.run(interruptible(_interrupted_once()))
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        assert signal.set_wakeup_fd(-1) == -1


def _answer() -> dict:
    return {
        "choices": [{"index": 0, "message": {"content": "So 4."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5},
    }


def test_distill_generate_stopped_by_a_second_ctrl_c_prints_no_traceback(serve, tmp_path):
    """A real `python -m distill generate` (a forked child ends with os._exit, before anything
    is freed): its close hangs after the first Ctrl-C, a second one ends it, 130 and the one
    line. Before: 'Task exception was never retrieved' and a traceback after it."""
    hold = threading.Event()

    def reply(k):
        if k >= 1:
            hold.wait(20)
        return 200, _answer(), JSON

    server = serve(reply)
    out, closing = tmp_path / "t.jsonl", tmp_path / "closing"
    code = f"""
        import asyncio, runpy, sys
        from pathlib import Path
        from distill.teachers import openai as teacher

        async def hang(self):
            Path({str(closing)!r}).touch()
            await asyncio.Event().wait()

        teacher.DirectPost.close = hang
        teacher.ClientPost.close = hang
        sys.argv = ["distill", *sys.argv[1:]]
        runpy.run_module("distill", run_name="__main__", alter_sys=True)
    """
    args = [
        "generate", "--data", "builtin:arithmetic", "--limit", "2", "--teacher", "openai",
        "--base-url", server.url, "--model", "m", "--concurrency", "1", "--out", str(out),
        "--quiet",
    ]  # fmt: skip
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def wait_for(what):
            deadline = time.monotonic() + 60
            while not what() and child.poll() is None:
                assert time.monotonic() < deadline, "the run never got there"
                time.sleep(0.01)
            assert child.poll() is None, child.communicate()

        wait_for(lambda: len(server.log) == 2 and out.exists() and out.read_text().count("\n"))
        child.send_signal(signal.SIGINT)
        wait_for(closing.exists)
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
        hold.set()
    assert child.returncode == 130, err
    assert err.startswith("interrupted: everything finished so far is saved"), err
    assert "Traceback" not in err and "never retrieved" not in err, err


# ------------------------------------------------------------------ cli: the handler while starting

STARTS = """
    import runpy, signal, sys
    {setup}
    sys.argv = ["distill", "--help"]
    try:
        runpy.run_module("distill", run_name="__main__", alter_sys=True)
    except BaseException as e:
        print(type(e).__name__)
    print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)
"""


@pytest.mark.parametrize(
    "setup, ended",
    [
        # an import of distill.cli's that fails (a broken install)
        ("sys.modules['distill.cli_build'] = None", "ModuleNotFoundError"),
        # a command's config module that fails as the commands are registered
        ("sys.modules['distill.eval'] = None", "ModuleNotFoundError"),
        # distill's own handler firing as it starts: its one line, SystemExit(130)
        (
            "import os\n"
            "class Hook:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'distill.generate.config':\n"
            "            sys.meta_path.remove(self)\n"
            "            os.kill(os.getpid(), signal.SIGINT)\n"
            "sys.meta_path.insert(0, Hook())",
            "SystemExit",
        ),
    ],
    ids=["import-error", "config-import-error", "interrupted"],
)
def test_pythons_sigint_handler_is_back_when_distill_could_not_start(setup, ended):
    """A program that runs distill's module (runpy, pdb, coverage) and goes on: before, its
    later Ctrl-C was distill's 'interrupted: nothing was started' and exit 130."""
    done = python(STARTS.format(setup=textwrap.indent(setup, "    ").lstrip()))
    assert done.stdout.splitlines() == [ended, "True"], done.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["generate", "--data", "builtin:arithmetic", "--model", "m", "--out", "g.jsonl"],
        ["filter", "t.jsonl", "--out", "k.jsonl"],
        ["train", "--data", "t.jsonl", "--model", "m", "--output-dir", "o"],
        ["select", "t.jsonl", "--out", "s.jsonl"],
        ["instruct", "--model", "m", "--out", "i.jsonl"],
        ["run", "--recipe", "r.yaml"],
    ],
    ids=lambda a: a[0],
)
def test_ctrl_c_in_a_commands_run_says_what_was_saved(tmp_path, monkeypatch, argv):
    """The group's own catch (7df32f2, reading the flags) is not reached from a running
    command: `_run` says what was saved, 130."""
    import distill.filter
    import distill.generate
    import distill.instruct
    import distill.learned
    import distill.pipeline
    import distill.select.stage
    import distill.train
    from distill.cli import app

    def stopped(*a, **kw):
        raise KeyboardInterrupt

    for module in (
        distill.generate,
        distill.filter,
        distill.train,
        distill.select.stage,
        distill.instruct,
        distill.pipeline,
    ):
        monkeypatch.setattr(module, "run", stopped)
    monkeypatch.setattr(distill.learned, "guard_append", lambda *a, **kw: None)
    monkeypatch.setattr(distill.learned, "guard_rewrite", lambda *a, **kw: None)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.jsonl").write_text("{}\n")
    (tmp_path / "r.yaml").write_text("generate:\n  data: builtin:arithmetic\n")
    res = CliRunner().invoke(app, argv)
    assert res.exit_code == 130, res.output
    assert res.output == (
        "interrupted: everything finished so far is saved; rerun the same command to resume\n"
    )


@pytest.mark.parametrize(
    "argv, code, line",
    [
        (
            ["generate", "--foo", "1"],
            2,
            "error: no such option: --foo (see: python -m distill generate --help)",
        ),
        (["--version"], 2, "error: no such option: --version (see: python -m distill --help)"),
        (
            ["generate", "--data", "builtin:arithmetic", "--model", "m", "--top-p", "0"],
            1,
            "error: generate: --top-p 0: must be in (0, 1]",
        ),
    ],
    ids=["usage", "version", "bad-value"],
)
def test_distill_itself_exits_as_before_where_nothing_is_interrupted(tmp_path, argv, code, line):
    """`python -m distill` (distill's start handler in place, then Python's): usage 2, bad
    input 1, one line each, nothing written."""
    done = subprocess.run(
        [sys.executable, "-c", "import runpy; "
         "runpy.run_module('distill', run_name='__main__', alter_sys=True)", *argv],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert (done.returncode, done.stderr.splitlines()) == (code, [line]), done.stderr
    assert list(tmp_path.iterdir()) == []
