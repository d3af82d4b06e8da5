"""run_code started each solution with subprocess's preexec_fn (rlimits, a new session, nobody),
so Popen fork()ed the caller: the page tables of the whole process copied for every run, ~40 ms
of system time from a process holding torch and 2 GB (`train --reward`, select's difficulty,
eval on code). Now the process that becomes the sandbox applies the same limits to itself
before it execs the command (util-linux prlimit/setpriv, or LIMITS in our interpreter where
they are missing), and Popen vforks. The limits must hold by either way, as before.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from distill.filter import sandbox
from distill.filter.sandbox import MODES, probe, run_code

ROOT = Path(__file__).resolve().parent.parent
ISOLATED = [m for m in MODES if probe(m) is None]
BEST = ISOLATED[0] if ISOLATED else "none"
SYSTEM_PYTHON = "/usr/bin/python3"
CAN_DROP = (
    os.geteuid() == 0
    and os.path.exists(SYSTEM_PYTHON)
    and sandbox._nobody_can_read([SYSTEM_PYTHON])
)


@pytest.fixture(params=["util-linux", "python"])
def limiter(request, monkeypatch):
    """Both ways of applying the limits: prlimit/setpriv where installed, else LIMITS."""
    if request.param == "python":
        monkeypatch.setattr(sandbox, "_util_linux", lambda path: None)
    elif sandbox._util_linux(sandbox.ENV["PATH"]) is None:
        pytest.skip("prlimit or setpriv is not installed")
    return request.param


# ----------------------------------------------------------------------------- the caller


CALLER = """
import os, sys
forks = []
os.register_at_fork(before=lambda: forks.append(1))  # a preexec_fn runs it; a vfork does not
from distill.filter.sandbox import run_code
for mode in sys.argv[1:]:
    r = run_code("print(6 * 7)", isolation=mode, timeout=20)
    assert r.stdout.strip() == "42", r
print(len(forks))
"""


@pytest.mark.parametrize("mode", [*ISOLATED, "none"])
def test_running_code_does_not_fork_the_caller(mode):
    out = subprocess.run(
        [sys.executable, "-c", CALLER, mode], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0"


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_the_caller_starts_the_sandbox_with_vfork():
    # Every process the caller itself makes (strace without -f: not its children's)
    out = subprocess.run(
        ["strace", "-e", "trace=fork,vfork,clone,clone3", sys.executable, "-c", CALLER, BEST],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if "ptrace" in out.stderr and out.returncode != 0:
        pytest.skip("ptrace is not permitted here")
    assert out.returncode == 0, out.stderr
    calls = [
        line for line in out.stderr.splitlines() if line.startswith(("fork", "vfork", "clone"))
    ]
    assert calls and all(c.startswith("vfork") or "CLONE_VFORK" in c for c in calls), calls


# ----------------------------------------------------------------------------- the limits

READ = """
import os, resource
print([resource.getrlimit(getattr(resource, "RLIMIT_" + n))
       for n in ("CPU", "AS", "FSIZE", "NOFILE", "CORE")])
print(resource.getrlimit(resource.RLIMIT_NPROC), os.getgroups())
print(os.getsid(0) == os.getpid() == os.getpgrp())
uid_map = open("/proc/self/uid_map").read().split()
print(uid_map[1] if uid_map[0] != "0" else os.getuid())  # the uid on the host
"""


@pytest.mark.parametrize("mode", [*ISOLATED, "none"])
def test_the_limits_are_in_force_for_the_solution(mode, limiter):
    python = SYSTEM_PYTHON if CAN_DROP else None
    r = run_code(READ, isolation=mode, guard=False, cpu_s=3, mem_mb=300, python=python)
    assert r.ok, r
    rlimits, nproc_groups, session, host_uid = r.stdout.splitlines()
    assert rlimits == str([(3, 4), (300 << 20, 300 << 20), (16 << 20, 16 << 20), (64, 64), (0, 0)])
    if mode == "none":
        assert session == "True"  # its own session and group: the timeout kills them all
    if CAN_DROP and mode != "none":  # root enters the sandbox as nobody, bound by RLIMIT_NPROC
        assert host_uid == "65534" and nproc_groups == "(256, 256) []"


@pytest.mark.parametrize("mode", [BEST, "none"])
def test_the_limits_stop_the_solution(mode, limiter):
    cpu = run_code("while True:\n    pass", isolation=mode, cpu_s=1, timeout=30)
    assert cpu.reason in ("killed (SIGXCPU)", "killed (SIGKILL)"), cpu  # not the wall clock
    mem = run_code("x = bytearray(400 << 20)\nprint('got it')", isolation=mode, mem_mb=128)
    assert not mem.ok and "MemoryError" in mem.stderr and "got it" not in mem.stdout
    big = "open('big', 'wb').write(bytes(20 << 20))\nprint('wrote it')"
    fsize = run_code(big, isolation=mode, guard=False)
    assert not fsize.ok and "File too large" in fsize.stderr and "wrote it" not in fsize.stdout


@pytest.mark.parametrize("mode", [*ISOLATED, "none"])
def test_a_limit_that_cannot_be_set_runs_nothing(mode, limiter):
    r = run_code("print('ran')", isolation=mode, cpu_s=2**64, guard=False)  # past rlim_t
    assert not r.ok and "ran" not in r.stdout


@pytest.mark.parametrize("mode", [*ISOLATED, "none"])
def test_the_timeout_kills_the_solution_and_its_children(mode, limiter):
    # The solution forks a child (no guard: it may) and both sleep past the timeout; the
    # mark in their command line finds them among every process of the machine.
    mark = f"spawn-{uuid.uuid4().hex}"
    body = "import os, time\nif os.fork() == 0:\n    time.sleep(31)\ntime.sleep(30)"
    code = f"import os, sys\nos.execv(sys.executable, [sys.executable, '-c', {body!r}, {mark!r}])"
    r = run_code(code, timeout=1, isolation=mode, guard=False)
    assert r.reason == "timeout"
    import time

    for _ in range(7):
        mine = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        if mark not in mine:
            break
        time.sleep(0.05)
    assert mark not in mine
