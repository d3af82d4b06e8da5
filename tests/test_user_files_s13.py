"""Nothing the user owns is destroyed, nor left behind by a refusal.

- `distill filter` (select, export, generate, instruct) on its own wrote over the data a trained
  student beside it learned (RUN_DIR/kept.jsonl, RUN_DIR/student/train_data.json holding its
  sha256): the student's lineage then named data that was gone. `distill run` refused that
  already; the commands on their own now refuse it in one line, and a rerun that writes the
  same data goes on.
- A recipe `distill run` refused in an existing run dir left RUN_DIR/.distill-run.lock there."""

from __future__ import annotations

import json
from pathlib import Path

from tests import inproc
from tests.test_cli import one_line_error
from tests.test_filter_kill import make_traces
from tests.test_run_rewrites_s11 import leave_run

ENV = {"OPENAI_API_KEY": "sk-test"}


def student_of(run: Path, data: Path) -> Path:
    """A student trained on `data` in RUN_DIR/student (what train leaves)."""
    from distill.train.config import TrainConfig

    cfg = TrainConfig(data=str(data), model="builtin:smollm2", output_dir=str(run / "student"))
    return leave_run(cfg)


def test_filter_on_its_own_does_not_write_over_a_students_data(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    traces, kept = run / "traces.jsonl", run / "kept.jsonl"
    make_traces(traces, 30)
    res = inproc.distill("filter", traces, "--out", kept)
    assert res.returncode == 0, res.stderr
    student = student_of(run, kept)
    data, manifest = kept.read_bytes(), (run / "kept.manifest.json").read_bytes()

    res = inproc.distill("filter", traces, "--out", kept, "--verify", "math")
    one_line_error(res, rf"--out {kept} is the data {student} was trained on .*another --out")
    assert kept.read_bytes() == data
    assert (run / "kept.manifest.json").read_bytes() == manifest

    # the same settings, the report deleted: the same data written again, as distill run allows
    (run / "kept.report.json").unlink()
    res = inproc.distill("filter", traces, "--out", kept)
    assert res.returncode == 0, res.stderr
    assert kept.read_bytes() == data and (run / "kept.report.json").is_file()

    # a student of other data (its sha256 is not the file's): nothing of it to keep
    (student / "train_data.json").write_text(json.dumps({"data_sha256": "0" * 64}))
    res = inproc.distill("filter", traces, "--out", kept, "--verify", "math")
    assert res.returncode == 0, res.stderr
    assert kept.read_bytes() != data


def test_export_and_generate_on_their_own_do_not_write_over_a_students_data(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    traces = run / "traces.jsonl"
    make_traces(traces, 4)
    res = inproc.distill("export", traces, "--out", run / "data.jsonl")
    assert res.returncode == 0, res.stderr
    data = run / "data.jsonl"
    student = student_of(run, data)
    before = data.read_bytes()
    res = inproc.distill("export", traces, "--out", data, "--format", "alpaca")
    one_line_error(res, rf"--out {data} is the data {student} was trained on")
    assert data.read_bytes() == before
    res = inproc.distill("export", traces, "--out", data)  # the same set: goes on
    assert res.returncode == 0, res.stderr
    assert data.read_bytes() == before

    # a student trained on the traces themselves: generate would add samples to them
    student = student_of(run, traces)
    before = traces.read_bytes()
    res = inproc.distill(
        "generate", "--data", "builtin:arithmetic?n=2", "--teacher", "openai",
        "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--out", traces, env=ENV,
    )  # fmt: skip
    one_line_error(res, rf"--out {traces} is the data {student} was trained on .*add samples")
    assert traces.read_bytes() == before


RECIPE = """
filter:
  input: "{run_dir}/t.jsonl"
  out: "{run_dir}/t.jsonl"
"""


def test_a_refused_recipe_leaves_no_lock_in_the_run_dir(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("the user's")
    for run in (mine, tmp_path / "new"):
        res = inproc.distill("run", "--recipe", recipe, "--run-dir", run)
        one_line_error(res, r"--out \S+t\.jsonl is the input traces")
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    assert not (tmp_path / "new").exists()


def test_a_run_that_ends_removes_its_lock(tmp_path, monkeypatch):
    from distill import generate

    run = tmp_path / "run"
    run.mkdir()
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "generate:\n  data: builtin:arithmetic?n=2\n  teacher: openai\n"
        "  base_url: http://127.0.0.1:9/v1\n  model: m\n  out: '{run_dir}/traces.jsonl'\n"
    )
    seen = []
    monkeypatch.setattr(
        generate, "run", lambda c, progress=True: seen.append((run / ".distill-run.lock").exists())
    )
    res = inproc.distill("run", "--recipe", recipe, "--run-dir", run, env=ENV)
    assert res.returncode == 0, res.stderr
    assert seen == [True]  # held while the stages ran
    assert not (run / ".distill-run.lock").exists()
