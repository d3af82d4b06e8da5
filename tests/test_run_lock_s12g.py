"""The run dir's lock (RUN_DIR/.distill-run.lock, 08da4be, ceceffd) second read: a run refused
by the lock removed the holder's lock file (and the folder) when it had seen no folder a moment
before, so a third run started beside the first; a run that opened the lock file just before the
previous run removed it held a lock on a file no longer there; and a child the run forked (the
filter's pool, an in-process vLLM engine) kept the lock after the run was SIGKILLed, so every
rerun was refused as 'another distill run is running'."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests import inproc
from tests.test_cli import one_line_error

ROOT = Path(__file__).resolve().parent.parent
ENV = {"OPENAI_API_KEY": "sk-test"}
LOCK = ".distill-run.lock"

RECIPE = """
run:
  dir: {run}
generate:
  data: builtin:arithmetic?n=2
  teacher: openai
  base_url: http://127.0.0.1:9/v1
  model: m
  out: "{{run_dir}}/traces.jsonl"
"""

HOLDER = """
import fcntl, os, sys, time
os.makedirs(sys.argv[1], exist_ok=True)
f = open(os.path.join(sys.argv[1], ".distill-run.lock"), "a")
fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
print("held", flush=True)
time.sleep(120)
"""


def refused(path: Path) -> bool:
    """Whether a new `distill run` taking the lock at `path` now would be refused."""
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False


def test_a_run_refused_by_the_lock_leaves_the_holders_lock_and_folder(tmp_path, monkeypatch):
    # The other run makes the folder and takes the lock between this run's look (no folder:
    # 'made' by this run) and its mkdir.
    run = tmp_path / "run"
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.format(run=run))
    holder, mkdir = [], Path.mkdir

    def racing_mkdir(self, *a, **k):
        if self == run and not holder:
            holder.append(
                subprocess.Popen([sys.executable, "-c", HOLDER, str(run)], stdout=subprocess.PIPE)
            )
            assert holder[0].stdout.readline() == b"held\n"
        return mkdir(self, *a, **k)

    monkeypatch.setattr(Path, "mkdir", racing_mkdir)
    try:
        res = inproc.distill("run", "--recipe", recipe, env=ENV)
        monkeypatch.undo()
        assert holder, "the run made no run dir"
        one_line_error(res, rf"another `distill run` is running in {run}\b")
        # the holder's run goes on: its folder and lock are there, a third run is refused
        assert (run / LOCK).is_file()
        assert refused(run / LOCK)
    finally:
        for p in holder:
            p.kill()
            p.wait()


def test_a_lock_file_removed_before_it_was_locked_is_taken_again(tmp_path, monkeypatch):
    # The previous run ended (its bare run dir's lock removed) between this run's open of the
    # lock file and its flock: the lock this run took must still keep a next run out.
    run = tmp_path / "run"
    run.mkdir()
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.format(run=run))
    real_flock, seen, late = fcntl.flock, [], []

    def late_flock(f, op):
        if not late and op & fcntl.LOCK_EX:
            late.append(os.unlink(run / LOCK))  # the previous run's cleanup
        return real_flock(f, op)

    from distill import generate

    def stage(cfg, progress=True):
        seen.append(refused(run / LOCK))
        return cfg.out

    monkeypatch.setattr(fcntl, "flock", late_flock)
    monkeypatch.setattr(generate, "run", stage)
    res = inproc.distill("run", "--recipe", recipe, env=ENV)
    monkeypatch.undo()
    assert res.returncode == 0, res.stderr
    assert late and seen == [True], "a second run could start beside this one"


def test_a_child_the_run_forked_does_not_keep_the_lock_after_a_sigkill(tmp_path):
    run = tmp_path / "run"
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.format(run=run))
    # generate's stand-in forks a child that outlives the run (as a pool worker or an engine
    # process may for a while), then the run is SIGKILLed
    script = textwrap.dedent(
        f"""
        import os, sys, time
        from distill import generate, pipeline
        def stage(cfg, progress=True):
            if os.fork() == 0:
                time.sleep(60)
                os._exit(0)
            print("forked", flush=True)
            time.sleep(120)
        generate.run = stage
        pipeline.run({str(recipe)!r})
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, **ENV, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while b"forked" not in proc.stdout.readline():
            assert proc.poll() is None and time.monotonic() < deadline
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 5  # (the child may not have been scheduled yet)
        while refused(run / LOCK) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not refused(run / LOCK)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the forked child, still asleep
