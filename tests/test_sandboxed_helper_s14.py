"""The suite's sandbox helper (tests/sandboxed.py, 4c916ad) runs a test's run_code as the test's
own process would: the helper's environment is the one the session began with, so a call made
under another (a test's monkeypatch.setenv, inproc's env=) runs in the test's process.

Before, the helper ran every call with its own environment, and took it from the worker's first
call: `distill filter --unsafe-sandbox` under a PATH with neither bwrap nor unshare (test_sandbox's
refusal test) as a worker's first code test left every later run_code of that worker refused
('bwrap is not installed; unshare is not installed'), as xdist happened to hand out the tests;
and a test's PATH without them still found them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from distill.errors import DistillError
from distill.filter import sandbox

ROOT = Path(__file__).resolve().parent.parent

# A worker of its own: its first call made under a test's PATH, then one under the session's
FIRST_CALL_UNDER_A_TESTS_PATH = """
import os, sys
from tests.sandboxed import Helper
helper, path = Helper(), os.environ["PATH"]
os.environ["PATH"] = sys.argv[1]  # nothing that isolates on it
print(helper.run_code("print(1)", isolation="none").stdout.strip())
os.environ["PATH"] = path
print(helper.run_code("print(6 * 7)").stdout.strip())  # the best isolation of the host's PATH
helper.close()
"""


def test_a_call_under_a_tests_environment_leaves_the_helper_the_sessions(tmp_path):
    if sandbox.isolation() is None:
        pytest.skip("no OS isolation here to run model-written code")
    (tmp_path / "empty").mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    script = [sys.executable, "-c", FIRST_CALL_UNDER_A_TESTS_PATH, str(tmp_path / "empty")]
    r = subprocess.run(script, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["1", "42"]


def test_isolation_is_looked_for_on_the_tests_path(tmp_path, monkeypatch):
    if sandbox.isolation() is None:
        pytest.skip("no OS isolation here to run model-written code")
    # sandbox.run_code, the helper's (a name imported at collection is the real run_code)
    assert sandbox.run_code("print(6 * 7)").stdout == "42\n"  # the host's PATH: helper started
    # Nothing that isolates on PATH: run_code refuses in one line, as a user's process would
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    sandbox.probe.cache_clear()
    try:
        with pytest.raises(DistillError, match="bwrap is not installed; unshare is not installed"):
            sandbox.run_code("print(6 * 7)")
    finally:
        sandbox.probe.cache_clear()  # the next test probes the host's PATH again
