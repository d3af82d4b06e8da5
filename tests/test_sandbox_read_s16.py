"""--unsafe-sandbox's kill of a solution's session (run_code's _end, 93902c7), read again.

1. It walked /proc for the session after every run whose supervisor ended with a signal, and a
   supervisor ends with the solution's own: every timeout, every guard's SIGKILL (a failed test,
   a violation). The solution's pid is free by then (the supervisor reaped it), so a process
   that took it and started a session of its own (another run's solution, a login) was killed.
   The supervisor now says `end` on its pipe once the solution's processes are gone, and the
   session is killed only where it did not (it was killed itself).
2. The walk read a process's session from /proc, then killed it by pid: one that exited between
   the two, its pid taken by another process, had that one killed. It signals through a pidfd
   opened before the read now.

Both make the pid reuse happen where the race is (the kernel's ns_last_pid: root only).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from distill.filter import sandbox
from distill.filter.sandbox import run_code

ROOT = Path(__file__).resolve().parent.parent
LAST_PID = "/proc/sys/kernel/ns_last_pid"


def _at_pid(pid: int, argv: list[str], **kw) -> subprocess.Popen | None:
    """`argv` started as process `pid` (None where another process took it first)."""
    for _ in range(5):
        with open(LAST_PID, "w") as f:
            f.write(str(pid - 1))
        p = subprocess.Popen(argv, **kw)
        if p.pid == pid:
            return p
        p.kill()
        p.wait()
    return None


needs_last_pid = pytest.mark.skipif(
    os.geteuid() != 0 or not os.access(LAST_PID, os.W_OK), reason="needs root (ns_last_pid)"
)


@needs_last_pid
@pytest.mark.parametrize(
    "end", ["os.kill(os.getpid(), 9)", "import time; time.sleep(30)"], ids=["killed", "timeout"]
)
def test_a_run_that_ended_kills_no_process_that_took_the_solutions_pid(end, tmp_path, monkeypatch):
    said = tmp_path / "pid"
    code = f"import os\nopen({str(said)!r}, 'w').write(str(os.getpid()))\n{end}\n"
    taken: list[subprocess.Popen | None] = []
    real = sandbox._kill_group

    def then_taken(proc):  # the supervisor has reaped the solution: its pid is free
        real(proc)
        taken.append(_at_pid(int(said.read_text()), ["sleep", "30"], start_new_session=True))

    monkeypatch.setattr(sandbox, "_kill_group", then_taken)
    r = run_code(code, isolation="none", guard=False, timeout=2)
    other = taken[0]
    if other is None:
        pytest.skip("another process took the pid")
    try:
        assert r.reason in ("killed (SIGKILL)", "timeout"), r
        assert other.poll() is None, "a process that took the solution's pid was killed"
    finally:
        other.kill()
        other.wait()


# The solution forks a child that says its pid, then kills its supervisor: run_code walks the
# solution's session. Between the walk's read of the child's stat and its kill, the child exits
# and a process of ours (a subreaper: the orphan is ours to reap) takes its pid.
RACE = r"""
import io, os, subprocess, sys, time, ctypes
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
sys.path.insert(0, sys.argv[2])
from distill.filter import sandbox
from tests.test_sandbox_read_s16 import _at_pid

said, swapped = sys.argv[1], []
code = f'''
import os, time
if os.fork() == 0:
    open({said!r}, "w").write(str(os.getpid()))
    time.sleep(30)
    os._exit(0)
time.sleep(0.5)
os.kill(os.getppid(), 9)
time.sleep(30)
'''

def spy(path, *a, **kw):
    f = open(path, *a, **kw)
    if swapped or not os.path.exists(said) or path != f"/proc/{open(said).read()}/stat":
        return f
    text, child = f.read(), int(open(said).read())
    f.close()
    os.kill(child, 9)
    for _ in range(300):  # ours once the solution is gone (PR_SET_PDEATHSIG)
        try:
            os.waitpid(child, 0)
            break
        except ChildProcessError:
            time.sleep(0.01)
    swapped.append(_at_pid(child, ["sleep", "30"]))
    return io.StringIO(text)

sandbox.open = spy
sandbox.run_code(code, isolation="none", guard=False, timeout=10)
other = swapped[0] if swapped else None
print("skip" if other is None else "alive" if other.poll() is None else "killed")
if other is not None:
    other.kill()
"""


@needs_last_pid
def test_the_session_walk_kills_no_process_that_took_a_pid_it_read(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", RACE, str(tmp_path / "child"), str(ROOT)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    if out.stdout.split()[-1] == "skip":
        pytest.skip("another process took the pid")
    assert out.stdout.split()[-1] == "alive", "a process that took an exited one's pid was killed"
