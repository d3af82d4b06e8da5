"""`distill ARGS` in a child process forked from the test's own: a real process, which a test
kills (SIGKILL, from outside or from a hook in it), without what a `python -m distill`
subprocess pays each time: python's start and, for any command that reaches a model, the import
of torch + transformers + trl + peft (~6 CPU seconds). The child starts with whatever the worker
has imported; what it writes to disk, and how it ends (an exit code or the signal that killed
it), are a subprocess's. `distill` returns a `subprocess.CompletedProcess` as `subprocess.run`
does (returncode -9 for a SIGKILL); `start` a running child to poll and kill, as a Popen.

`imports` are imported in the test's process before the fork (see `start`); `before` runs in
the child first: a hook that kills it at a given point (tests/kill_at_checkpoint.py), or
environment settings (DISTILL_TEST_KILL_AT) for it alone.

Not for what needs a fresh interpreter (what a command imports, its threads), nor for a test
that reads the command's stdout/stderr beyond distill's own lines: in the child, python warnings
and what libraries log go where the worker's go (pytest's capture), not to its stderr as they
would from a subprocess. Those keep a subprocess.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path


def distill(
    *args: object,
    cwd: str | Path | None = None,
    before: Callable[[], None] | None = None,
    imports: tuple[str, ...] = (),
    timeout: float = 300,
) -> subprocess.CompletedProcess:
    """`distill ARGS` forked, waited for (`timeout` seconds at most, as subprocess.run)."""
    child = start(*args, cwd=cwd, before=before, imports=imports)
    try:
        child.wait(timeout)
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGKILL)
        child.wait()
        raise
    return subprocess.CompletedProcess(child.args, child.returncode, *child.output)


class Child:
    """A forked `distill`, as much of a subprocess.Popen(stdout=PIPE, stderr=PIPE, text=True)
    as the kill tests use: poll, wait, send_signal, returncode, and once it has ended what it
    printed: stdout.read(), stderr.read() (`output`: both texts)."""

    def __init__(self, pid: int, args: list[str], tmp: tempfile.TemporaryDirectory) -> None:
        self.pid, self.args, self._tmp = pid, args, tmp
        self.returncode: int | None = None
        self.output = ("", "")

    @property
    def stdout(self) -> io.StringIO:
        return io.StringIO(self.output[0])

    @property
    def stderr(self) -> io.StringIO:
        return io.StringIO(self.output[1])

    def poll(self) -> int | None:
        if self.returncode is None:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.returncode = os.waitstatus_to_exitcode(status)
                tmp = Path(self._tmp.name)
                self.output = (_read(tmp / "stdout"), _read(tmp / "stderr"))
                self._tmp.cleanup()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(self.args, timeout)
            time.sleep(0.005)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, sig)


def start(
    *args: object,
    cwd: str | Path | None = None,
    before: Callable[[], None] | None = None,
    imports: tuple[str, ...] = (),
) -> Child:
    """`distill ARGS` forked and left running (as subprocess.Popen)."""
    import importlib

    # imported here, so a worker pays them once: the command's own (the CLI, and `imports`, the
    # libraries it reaches), which the test's in-process steps after the kill import anyway
    for name in ("distill.cli", *imports):
        importlib.import_module(name)
    argv = [str(a) for a in args]
    tmp = tempfile.TemporaryDirectory()
    out, err = Path(tmp.name) / "stdout", Path(tmp.name) / "stderr"
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest, whatever happens
        code = 1
        try:
            _child(argv, cwd, before, out, err)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:
            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    return Child(pid, ["distill", *argv], tmp)


def _child(argv, cwd, before, out: Path, err: Path) -> None:
    # fd 1 and 2 are the worker's (pytest's capture): the child's go to its own files
    for fd, path in ((1, out), (2, err)):
        f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(f, fd)
        os.close(f)
    sys.stdout = open(1, "w", closefd=False, buffering=1)  # noqa: SIM115
    sys.stderr = open(2, "w", closefd=False, buffering=1)  # noqa: SIM115
    if "torch" in sys.modules:
        import torch

        # GNU OpenMP's thread pool does not survive a fork (a child's parallel region waits on
        # the parent's threads forever): one thread, as the suite's workers run anyway
        torch.set_num_threads(1)
    if cwd is not None:
        os.chdir(cwd)
    if before is not None:
        before()
    from distill.cli import app

    app(argv, prog_name="distill")


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""
