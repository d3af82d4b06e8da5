"""tests/xdist_groups.py: under `-n 2 --dist loadgroup` a group's tests run on one worker."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = """
import os
from pathlib import Path

import pytest


def _mark(name):
    Path(name).write_text(os.environ["PYTEST_XDIST_WORKER"])


@pytest.mark.xdist_group("g")
def test_a():
    _mark("a")


@pytest.mark.xdist_group("g")
def test_b():
    _mark("b")


def test_c():
    _mark("c")


def test_d():
    _mark("d")
"""


def test_a_groups_tests_run_on_one_worker(tmp_path):
    (tmp_path / "test_g.py").write_text(TESTS)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-q", "-p",
         "no:cacheprovider", "-p", "tests.xdist_groups", "-o", "addopts=", "--rootdir",
         str(tmp_path), "test_g.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    workers = {n: (tmp_path / n).read_text() for n in "abcd"}
    assert workers["a"] == workers["b"], workers  # spread as a, b, a, b without the group
    assert len(set(workers.values())) == 2, workers  # the others still spread
