"""Two faults of run_code's sandbox (distill/filter/sandbox.py).

1. Where util-linux prlimit/setpriv are missing, and always under --unsafe-sandbox, LIMITS
   (`python -I -S -c LIMITS ...`) applies the limits and execs the sandbox. It imported
   `_signal`, which PyPy (older releases) and stripped builds lack: every run ended before the
   solution started, each read as the solution's failure (every code trace dropped as wrong).
   LIMITS falls back to `signal` now; where it cannot run at all under the interpreter,
   run_code refuses in one line before any run.
2. --unsafe-sandbox: a solution whose child called setsid() (or setpgid()) and forked a
   grandchild had left the process group the timeout kills: the grandchild outlived the run,
   timed out or not. LIMITS now stays as a child subreaper that kills every process the
   solution started. The OS-isolated modes had no such hole (their pid namespace ends with
   the run): tested alike.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import uuid

import pytest

from distill.errors import DistillError
from distill.filter import sandbox
from distill.filter.sandbox import MODES, probe, run_code

ISOLATED = [m for m in MODES if probe(m) is None]

# What LIMITS meets under an interpreter without `_signal`. PyPy's layout (older releases): the
# builtin module is `signal` itself. A stripped build: neither can be imported.
PYPY_LAYOUT = (
    "import sys, _signal\nsys.modules['signal'] = _signal\nsys.modules['_signal'] = None\n"
)
NO_SIGNAL_AT_ALL = "import sys\nsys.modules['_signal'] = sys.modules['signal'] = None\n"


@pytest.fixture
def shim(monkeypatch):
    """LIMITS applies the limits in every mode (as where prlimit/setpriv are missing); the
    fixture's value prefixes it with one of the layouts above."""
    monkeypatch.setattr(sandbox, "_util_linux", lambda path: None)

    def use(prefix: str) -> None:
        monkeypatch.setattr(sandbox, "LIMITS", prefix + sandbox.LIMITS)

    return use


# ----------------------------------------------------------------------------- 1. no _signal

SOLUTION = "def add(a, b):\n    return a + b\n"
WRONG = "def add(a, b):\n    return a - b\n"
TESTS = "assert add(2, 3) == 5\nassert add(-1, 1) == 0\n"


@pytest.mark.parametrize("mode", [*ISOLATED, "none"])
def test_solutions_are_judged_under_an_interpreter_without__signal(mode, shim):
    shim(PYPY_LAYOUT)
    right = run_code(SOLUTION, tests=TESTS, isolation=mode, timeout=20)
    assert right.ok, right
    wrong = run_code(WRONG, tests=TESTS, isolation=mode, timeout=20)
    assert not wrong.ok and wrong.reason == "tests failed", wrong
    echo = run_code("print(input()[::-1])", stdin="olleh\n", isolation=mode, timeout=20)
    assert echo.ok and echo.stdout == "hello\n", echo


@pytest.mark.parametrize("mode", [*ISOLATED, "none"])
def test_an_interpreter_limits_cannot_run_under_is_refused_in_one_line(mode, shim, tmp_path):
    shim(NO_SIGNAL_AT_ALL)
    ran = tmp_path / "ran"  # without OS isolation (none) the solution could write it
    with pytest.raises(DistillError) as e:
        run_code(f"open({str(ran)!r}, 'w')", isolation=mode, guard=False, timeout=20)
    assert "\n" not in str(e.value) and "LIMITS" in str(e.value) and "signal" in str(e.value)
    assert not ran.exists()


# ----------------------------------------------------------------------------- 2. escapes

# The solution execs an interpreter with `mark` in its argv (every process it forks carries it
# in /proc/PID/cmdline); its child leaves the process group, forks a grandchild that sleeps
# 30 s and exits at once (the daemon's double fork: the grandchild is an orphan, no longer a
# descendant of the solution). The solution prints the grandchild's pid once it is up, then
# spins past the timeout or exits.
BODY = """
import os, sys, time
r, w = os.pipe()
if os.fork() == 0:
    {escape}
    if os.fork() == 0:
        os.write(w, str(os.getpid()).encode())
        time.sleep(30)
        os._exit(0)
    os._exit(0)
os.close(w)
print(os.read(r, 100).decode(), flush=True)
{end}
"""
ESCAPES = {"setsid": "os.setsid()", "setpgid": "os.setpgid(0, 0)"}
ENDS = {"timeout": "while True:\n    pass", "exit": "pass"}
TIMEOUT = 0.5
CASES = [("none", esc, end) for esc in ESCAPES for end in ENDS]
CASES += [(mode, "setsid", end) for mode in ISOLATED for end in ENDS]


def _marked(mark: str) -> list[int]:
    """Every live process (not a zombie: its cmdline is empty) whose argv holds `mark`."""
    pids = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    if mark.encode() in f.read():
                        pids.append(int(p))
            except OSError:
                pass
    return pids


@pytest.mark.parametrize(("mode", "escape", "end"), CASES)
def test_nothing_the_solution_started_outlives_its_run(mode, escape, end):
    mark = f"escape-{uuid.uuid4().hex}"
    body = BODY.format(escape=ESCAPES[escape], end=ENDS[end])
    code = f"import os, sys\nos.execv(sys.executable, [sys.executable, '-c', {body!r}, {mark!r}])"
    t0 = time.monotonic()
    r = run_code(code, isolation=mode, guard=False, timeout=TIMEOUT)
    took = time.monotonic() - t0
    left = _marked(mark)
    try:
        for _ in range(20):  # ~1 s for the kernel to finish the kills
            if not left:
                break
            time.sleep(0.05)
            left = _marked(mark)
        assert r.stdout.strip().isdigit(), r  # the grandchild was up
        assert r.reason == ("timeout" if end == "timeout" else "ok"), r
        assert took < TIMEOUT + 1.5, took
        assert left == [], f"{len(left)} process(es) of the solution outlived the run"
        if mode == "none":  # its pid, as this host sees it, is gone (and reaped)
            with pytest.raises(ProcessLookupError):
                os.kill(int(r.stdout), 0)
    finally:
        for pid in left:
            os.kill(pid, signal.SIGKILL)


# ----------------------------------------------------------------------------- the supervisor


def test_the_supervisor_reports_the_solutions_end_as_it_was():
    # --unsafe-sandbox's solution is a child of LIMITS now: its exit status and its signal
    # are the run's, and a solution that leaves its stdin unread ends its run at once.
    assert run_code("import sys\nsys.exit(3)", isolation="none", guard=False).reason == "exit 3"
    abort = run_code("import os\nos.abort()", isolation="none", guard=False)
    assert abort.reason == "killed (SIGABRT)", abort
    t0 = time.monotonic()
    quick = run_code("print('no input read')", stdin="1 2\n" * 300_000, isolation="none")
    assert quick.ok and time.monotonic() - t0 < 4, quick


def test_the_solution_still_leads_a_session_of_its_own():
    read = "import os\nprint(os.getsid(0) == os.getpid() == os.getpgrp(), os.getppid() != 1)"
    r = run_code(read, isolation="none", guard=False, python=sys.executable)
    assert r.ok and r.stdout.split() == ["True", "True"], r
