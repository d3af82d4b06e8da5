"""`distill.filter.sandbox.run_code` run from a small helper process (tests/conftest.py).

run_code starts each solution with subprocess's `preexec_fn` (rlimits, a new session, nobody),
so python forks instead of vforking, and a fork copies the page tables of the whole process:
~50 ms of system time from a pytest worker that holds torch, transformers and a test session
(~1 GB), ~2 ms from a process that holds only the sandbox module. The suite's workers hand
each run_code call to a helper of their own (forkserver: a fresh interpreter, not a fork of
the worker), which runs it there and returns its Result (or raises its exception).

The call is the same call in another process: the arguments, the sandbox module's code and
the host are the same. Where they might not be it runs in the test's process as before: when
a test replaced anything in the sandbox module (monkeypatch of `isolation`, `probe`, ...:
the helper would not see it), when a variable the sandbox's host side reads is not the
session's (ENV_READ: the helper keeps the environment it started with), and in a process
forked from the worker (filter's workers, tests/forked.py's children), which do not own the
helper. (A solution that reads its parent's environment block, /proc/<ppid>/environ, sees the
one its parent was started with in either process: a test's monkeypatch.setenv is not there.)
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

# What run_code's host side takes from the environment: PATH (which of bwrap and unshare is
# there: `probe`, the command), tempfile's folder (where the solution's files go)
ENV_READ = ("PATH", "TMPDIR", "TEMP", "TMP")


def call(kwargs: dict):
    """In the helper: the real run_code."""
    from distill.filter.sandbox import run_code

    return run_code(**kwargs)


class Helper:
    def __init__(self) -> None:
        import multiprocessing

        import distill.filter.sandbox as sandbox

        self.sandbox = sandbox
        self.real = sandbox.run_code
        self.names = dict(vars(sandbox))  # what the helper's module holds too
        self.owner = os.getpid()
        # The session's: the helper (and the forkserver it comes from) starts at the first
        # call made with it, and keeps it
        self.environ = self._env()
        self.broken = False
        # up to 4 at once: a test may run code from threads (tests/test_verdicts2_s13.py)
        self.pool = ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("forkserver"))

    def run_code(self, code: str, **kwargs):
        if os.getpid() != self.owner or self._patched() or self.broken or self._other_env():
            return self.real(code, **kwargs)
        try:
            return self.pool.submit(call, {"code": code, **kwargs}).result()
        except BrokenProcessPool:  # the helper could not start or died: here, as before
            self.broken = True
            return self.real(code, **kwargs)

    def _patched(self) -> bool:
        now = vars(self.sandbox)
        return any(
            now.get(name) is not obj for name, obj in self.names.items() if name != "run_code"
        ) or any(name not in self.names for name in now)

    @staticmethod
    def _env() -> dict:
        return {k: v for k, v in os.environ.items() if k in ENV_READ or k.startswith("DISTILL")}

    def _other_env(self) -> bool:
        return self._env() != self.environ  # a test's monkeypatch.setenv, inproc's env=

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)
