"""tests/inproc.py reads `distill ARGS` run in this process as the subprocess gives it."""

import subprocess
import sys
from pathlib import Path

from tests.inproc import distill


def _sub(*args, cwd):
    """The `distill` command (its console script: usage lines name it `distill`, as here)."""
    exe = Path(sys.executable).with_name("distill")
    return subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_a_refusal_and_an_escaped_exception_read_as_the_subprocess_gives_them(tmp_path):
    (tmp_path / "t.jsonl").write_text("")
    for args in (
        ["filter", "missing.jsonl", "--out", "k.jsonl"],  # one error line, exit 1
        ["filter", "t.jsonl", "--out", "t.jsonl"],  # an output that is its input
        ["filter", "--bogus"],  # a usage error: exit 2
    ):
        here, there = distill(*args, cwd=tmp_path), _sub(*args, cwd=tmp_path)
        assert (here.returncode, here.stderr) == (there.returncode, there.stderr), args
        assert here.returncode in (1, 2) and here.stderr.startswith("error: ")
    # --debug lets the error escape: python prints its traceback and exits 1
    args = ["--debug", "filter", "missing.jsonl", "--out", "k.jsonl"]
    here, there = distill(*args, cwd=tmp_path), _sub(*args, cwd=tmp_path)
    assert here.returncode == there.returncode == 1
    assert "Traceback" in here.stderr and "Traceback" in there.stderr
    assert here.stderr.strip().splitlines()[-1] == there.stderr.strip().splitlines()[-1]
    assert not list(tmp_path.glob("k*"))
