"""A second read of fab064e (run_code's limits applied by prlimit/setpriv or LIMITS, which exec
the sandbox, instead of a preexec_fn in a fork of the caller).

A limit the caller cannot give (a hard limit of its own below it, no CAP_SYS_RESOURCE to raise
it: `ulimit -Hv` on a shared machine under a larger code_memory_mb) made Popen raise before;
since fab064e what applies the limits exits before the solution starts, and every run read as
the solution's failure ('exit 1', 'exit 125'): the filter dropped every code trace as wrong, a
reward scored every sample 0, with no word of why. run_code refuses in one line now.

And what the solution sees of its caller by either way, in every mode, from a caller that holds
supplementary groups, a secret in its environment and an inheritable descriptor.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from distill.filter import sandbox
from distill.filter.sandbox import MODES, probe

ROOT = Path(__file__).resolve().parent.parent
ISOLATED = [m for m in MODES if probe(m) is None]
BEST = ISOLATED[0] if ISOLATED else "none"
SYSTEM_PYTHON = "/usr/bin/python3"
CAN_DROP = (
    os.geteuid() == 0
    and os.path.exists(SYSTEM_PYTHON)
    and sandbox._nobody_can_read([SYSTEM_PYTHON])
)
LIMITERS = ["util-linux", "python"]


def _caller(script: str, *args: str) -> subprocess.CompletedProcess:
    """`script` in a process of its own (limits, groups and environment that are its own);
    without CAP_SYS_RESOURCE, as an unprivileged user runs it."""
    cmd = [sys.executable, "-c", script, *args]
    if sandbox._may_raise_limits():
        if shutil.which("setpriv") is None:
            pytest.skip("setpriv is not installed: cannot drop CAP_SYS_RESOURCE")
        cmd = ["setpriv", "--bounding-set", "-sys_resource", "--", *cmd]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)


def _limiter(which: str) -> str:
    """The lines a caller script starts with to use `which` way of applying the limits."""
    if which == "util-linux" and sandbox._util_linux(sandbox.ENV["PATH"]) is None:
        pytest.skip("prlimit or setpriv is not installed")
    return "" if which == "util-linux" else "sandbox._util_linux = lambda path: None\n"


# ----------------------------------------------------------------------------- a limit not given

BELOW_ITS_HARD_LIMIT = """
import resource, sys
from distill.errors import DistillError
from distill.filter import sandbox
{limiter}
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))  # ulimit -Hv: 4 GB
for mode in sys.argv[1:]:
    ok = sandbox.run_code("print(6 * 7)", isolation=mode, mem_mb=1024)  # within it: runs
    print(mode, ok.reason, ok.stdout.strip())
    try:
        r = sandbox.run_code("print('ran')", isolation=mode, mem_mb=8192)  # above it
        print(mode, "returned", r.reason, r.stdout.strip() or "-")
    except DistillError as e:
        print(mode, "refused", "RLIMIT_AS" in str(e) and str(e).count(chr(10)) == 0)
"""


@pytest.mark.parametrize("which", LIMITERS)
def test_a_limit_above_the_callers_hard_limit_is_refused_not_a_wrong_answer(which):
    script = BELOW_ITS_HARD_LIMIT.format(limiter=_limiter(which))
    out = _caller(script, BEST, "none")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines() == [
        f"{BEST} ok 42",
        f"{BEST} refused True",
        "none ok 42",
        "none refused True",
    ]


# ----------------------------------------------------------------------------- the caller's own

HOLDS_GROUPS_A_SECRET_AND_A_DESCRIPTOR = """
import os, sys
from distill.filter import sandbox
{limiter}
os.environ["HF_TOKEN"] = "distill-canary-s14b"
keep = os.open("/dev/null", os.O_RDONLY)
os.set_inheritable(keep, True)
if os.geteuid() == 0:
    os.setgroups([4, 27, 100])
SEES = '''
import os
fds = sorted(int(f) for f in os.listdir("/proc/self/fd"))[:-1]  # the last: listdir's own
env = open("/proc/self/environ", "rb").read()
print(repr((os.getgroups(), fds, b"canary" in env)))
'''
for mode in sys.argv[2:]:
    r = sandbox.run_code(SEES, isolation=mode, guard=False, python=sys.argv[1] or None)
    assert r.ok, r
    print(mode, r.stdout.strip())
"""


@pytest.mark.parametrize("which", LIMITERS)
def test_the_solution_gets_nothing_of_its_callers(which):
    script = HOLDS_GROUPS_A_SECRET_AND_A_DESCRIPTOR.format(limiter=_limiter(which))
    out = _caller(script, SYSTEM_PYTHON if CAN_DROP else "", *ISOLATED, "none")
    assert out.returncode == 0, out.stderr[-2000:]
    seen = dict(line.split(" ", 1) for line in out.stdout.splitlines())
    assert set(seen) == {*ISOLATED, "none"}
    for mode, view in seen.items():
        groups, fds, canary = ast.literal_eval(view)
        assert fds == [0, 1, 2] and not canary, (mode, view)  # stdin, the two output files
        if CAN_DROP and mode != "none":  # root enters as nobody: none of root's groups
            assert groups == [], (mode, view)
