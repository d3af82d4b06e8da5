"""Two `distill run` of one recipe at once in one run dir (a second terminal, a job started
twice): both planned every sample, both bought it and appended it (traces.jsonl held each id
twice), and the filters renamed over each other, so every later run stopped on
`kept.rejects.jsonl ... was changed since filter wrote it`. The second run is now refused in one
line before it runs any stage, and the first one finishes as if alone."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from tests import forked, inproc
from tests.fakeserver import FakeServer
from tests.test_cli import one_line_error

ROOT = Path(__file__).resolve().parent.parent

RECIPE = """
run:
  dir: {run}
generate:
  data: builtin:arithmetic?n=8
  teacher: openai
  base_url: {url}
  model: fake-r1
  n: 2
  temperature: 0.7
  concurrency: 1
  out: "{{run_dir}}/traces.jsonl"
filter:
  input: "{{run_dir}}/traces.jsonl"
  out: "{{run_dir}}/kept.jsonl"
  verify: math
"""

ENV = {"OPENAI_API_KEY": "sk-test"}


def test_a_second_run_in_the_same_run_dir_is_refused_and_buys_nothing(tmp_path):
    server = FakeServer(latency=0.4).start()
    try:
        run = tmp_path / "run"
        recipe = tmp_path / "r.yaml"
        recipe.write_text(RECIPE.format(run=run, url=server.url))
        # the first run: forked from this process (tests/forked.py), a real process holding
        # the lock, without a python start and distill's imports (~2.5 CPU s as a subprocess)
        first = forked.start(
            "run", "--recipe", recipe, cwd=ROOT, before=lambda: os.environ.update(ENV)
        )
        traces = run / "traces.jsonl"
        deadline = time.monotonic() + 60
        while not (traces.is_file() and traces.stat().st_size) and first.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert first.poll() is None, first.output
        second = inproc.distill("run", "--recipe", recipe, env=ENV)
        one_line_error(second, rf"another `distill run` is running in {run}\b.*another --run-dir")
        assert "== generate" not in second.stdout
        first.wait(120)
        assert first.returncode == 0, first.stderr.read()[-2000:]
    finally:
        server.stop()
    ids = [json.loads(line)["id"] for line in traces.read_text().splitlines()]
    assert len(ids) == 16 and len(set(ids)) == 16  # each sample bought once
    assert len(server.log) == 8  # 8 prompts asked once: the refused run bought none of its own
    # the run dir is whole: a rerun finds every stage done and buys nothing
    again = inproc.distill("run", "--recipe", recipe, env=ENV)
    assert again.returncode == 0, again.stderr
    assert "filter: done" in again.stdout
    assert len(server.log) == 8


def test_a_dry_run_beside_a_run_and_a_run_after_one_are_not_refused(tmp_path, server):
    run = tmp_path / "run"
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.format(run=run, url=server.url))
    dry = inproc.distill("run", "--recipe", recipe, "--dry-run", env=ENV)
    assert dry.returncode == 0, dry.stderr
    assert not run.exists()  # --dry-run writes nothing, no lock either
    for _ in range(2):  # the lock goes with the run that held it
        res = inproc.distill("run", "--recipe", recipe, env=ENV)
        assert res.returncode == 0, res.stderr


def test_a_run_stopped_at_its_first_stage_leaves_no_run_dir(tmp_path):
    run = tmp_path / "run"
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        f"run:\n  dir: {run}\ninstruct:\n  seed_tasks: {tmp_path}/none.jsonl\n"
        "  teacher: openai\n  base_url: http://127.0.0.1:9/v1\n  model: m\n"
        '  out: "{run_dir}/instructions.jsonl"\n'
    )
    res = inproc.distill("run", "--recipe", recipe, env=ENV)
    one_line_error(res, "seed tasks not found")
    assert not run.exists()
