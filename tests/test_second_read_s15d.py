"""Second read of 18ea772 (--unsafe-sandbox's supervisor, distill/filter/sandbox.py LIMITS).

1. The supervisor ends as the solution did: killed by a signal, it sends itself the same one.
   Its own RLIMIT_CORE is the caller's (the solution's alone is 0), so every solution that
   crashed or ran out of CPU (SIGSEGV, SIGABRT, SIGXCPU: the signals that dump core) left a
   core of the supervisor's interpreter (~6 MB) where the caller allows cores, or ran the
   host's crash handler (apport, systemd-coredump: a pipe in core_pattern runs whatever the
   limit): one per failing run of a filter. The solution's own crash dumped nothing before.
2. The solution runs in a session of its own, under the supervisor: should the supervisor be
   killed (by the solution, which runs as our uid there), nothing killed the solution, and it
   outlived its run, however long it ran; before the supervisor it was the process group the
   run ends with, and could not leave it.
"""

from __future__ import annotations

import os
import resource
import signal
import tempfile
import time
import uuid

import pytest

from distill.filter import sandbox
from distill.filter.sandbox import run_code


def _core_files_land_in_cwd() -> bool:
    with open("/proc/sys/kernel/core_pattern") as f:
        pattern = f.read().strip()
    return not pattern.startswith("|") and "/" not in pattern


@pytest.fixture
def kept_tmp(monkeypatch, tmp_path):
    """run_code's temporary folders, kept under tmp_path to look into after the run."""
    made = []

    class Kept:
        def __init__(self, **kw):
            self.name = tempfile.mkdtemp(prefix=kw.get("prefix"), dir=tmp_path)
            made.append(self.name)

        def __enter__(self):
            return self.name

        def __exit__(self, *exc):
            return None

    monkeypatch.setattr(tempfile, "TemporaryDirectory", Kept)
    return made


@pytest.fixture
def cores_allowed():
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    if hard == 0:
        pytest.skip("this process may not dump core (hard RLIMIT_CORE 0)")
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
    yield
    resource.setrlimit(resource.RLIMIT_CORE, (soft, hard))


CRASHES = {
    "SIGSEGV": ("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)", {}),
    "SIGABRT": ("import os\nos.abort()", {}),
    "SIGXCPU": ("while True:\n    pass", {"cpu_s": 1, "timeout": 10}),
}


@pytest.mark.skipif(not _core_files_land_in_cwd(), reason="core_pattern writes elsewhere")
@pytest.mark.parametrize("sig", list(CRASHES))
def test_a_crashed_solution_leaves_no_core_of_the_supervisor(sig, kept_tmp, cores_allowed):
    code, limits = CRASHES[sig]
    r = run_code(code, isolation="none", guard=False, **limits)
    assert r.reason == f"killed ({sig})", r  # reported as before
    (tmp,) = kept_tmp
    cores = [os.path.join(d, f) for d, _, fs in os.walk(tmp) for f in fs if f.startswith("core")]
    assert cores == [], f"core files of the run: {cores}"


def _alive(mark: str) -> list[int]:
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


def test_a_solution_that_kills_its_supervisor_does_not_outlive_its_run():
    mark = f"second-read-{uuid.uuid4().hex}"
    body = "import os, time\nos.kill(os.getppid(), 9)\ntime.sleep(30)"
    code = f"import os, sys\nos.execv(sys.executable, [sys.executable, '-c', {body!r}, {mark!r}])"
    r = run_code(code, isolation="none", guard=False, timeout=5)
    left = _alive(mark)
    try:
        for _ in range(40):
            if not left:
                break
            time.sleep(0.05)
            left = _alive(mark)
        assert r.reason == "killed (SIGKILL)", r
        assert left == [], "the solution outlived its run"
    finally:
        for pid in left:
            os.kill(pid, signal.SIGKILL)


def test_the_solution_is_still_judged_as_before():
    # what the fixes touch: the end of a killed solution, and its start
    assert run_code("print(1)", isolation="none", guard=False).stdout == "1\n"
    segv = run_code(CRASHES["SIGSEGV"][0], isolation="none", guard=False)
    assert segv.reason == "killed (SIGSEGV)", segv
    assert sandbox.run_code("import sys\nsys.exit(3)", isolation="none").reason == "exit 3"
