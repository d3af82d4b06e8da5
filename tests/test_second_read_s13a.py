"""Second read of cebd671 (the standalone stages keep a trained student's data; the run's lock
file removed when the run ends) and 0c2dc3b (a Hub id and a same-named folder's samples).

- A folder beside --out that the user cannot read (a volume's lost+found) stopped filter,
  select, export, generate and instruct on any rerun: learned.py looked into it for a student
  and its PermissionError became the command's error.
- select on its own refused to rerun a set an older distill hashed with its server URL's
  credentials (the set `distill run` takes as done) as one 'at other settings'.
- instruct on its own, rerun with --include-seeds over a student's data written without them,
  wrote the seed tasks into it: only the count of generated instructions was looked at.
- distill run: the run dir removed (the run that made it ended, leaving it bare) between this
  run's mkdir and its open of the lock file ran this run with no lock, so a third run started
  beside it.
- select's student cache: a record whose `teacher` is not an object crashed select."""

from __future__ import annotations

import contextlib
import errno
import json
from pathlib import Path

import pytest

from tests import inproc
from tests.test_cache_keys_s13 import student_cfg
from tests.test_cli import one_line_error
from tests.test_filter_kill import make_traces
from tests.test_run_lock_s12g import LOCK, RECIPE, refused
from tests.test_user_files_s13 import student_of

ENV = {"OPENAI_API_KEY": "sk-test"}


def test_a_folder_beside_out_the_user_cannot_read_does_not_stop_a_rerun(tmp_path, monkeypatch):
    run = tmp_path / "run"
    run.mkdir()
    traces, kept = run / "traces.jsonl", run / "kept.jsonl"
    make_traces(traces, 6)
    res = inproc.distill("filter", traces, "--out", kept)
    assert res.returncode == 0, res.stderr
    # (root reads any folder: its permission is what a user's stat of what is in it meets)
    locked, stat = run / "lost+found", Path.stat
    locked.mkdir()

    def denied(self, *a, **k):
        if self.parent == locked:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return stat(self, *a, **k)

    monkeypatch.setattr(Path, "stat", denied)
    res = inproc.distill("filter", traces, "--out", kept, "--verify", "math")
    monkeypatch.undo()
    assert res.returncode == 0, res.stderr
    assert json.loads((run / "kept.manifest.json").read_text())["complete"] is True


def test_select_reruns_a_set_an_older_distill_hashed_with_the_urls_credentials(tmp_path):
    from distill.manifest import config_hashes
    from distill.select import stage
    from distill.select.config import SelectConfig

    run = tmp_path / "run"
    run.mkdir()
    traces, out = run / "traces.jsonl", run / "sel.jsonl"
    make_traces(traces, 8)
    url = "http://u:secret@127.0.0.1:9/v1"
    args = ("select", traces, "--out", out, "--criteria", "length", "--student-base-url", url)
    res = inproc.distill(*args)
    assert res.returncode == 0, res.stderr
    # the manifest as a distill before URLs were hashed without their credentials wrote it
    cfg = SelectConfig(input=str(traces), out=str(out), criteria=["length"], student_base_url=url)
    now, typed = config_hashes(cfg, ignore=stage._not_hashed(cfg))
    m = run / "sel.manifest.json"
    doc = json.loads(m.read_text())
    assert doc["config_hash"] == now
    m.write_text(json.dumps({**doc, "config_hash": typed}))
    assert stage.done(cfg) is None  # distill run takes it as this config's set
    student_of(run, out)
    before = out.read_bytes()
    res = inproc.distill(*args)
    assert res.returncode == 0, res.stderr
    assert out.read_bytes() == before


def test_instruct_include_seeds_does_not_write_the_seeds_into_a_students_data(
    tmp_path, tasks_server
):
    run = tmp_path / "run"
    run.mkdir()
    out = run / "instructions.jsonl"
    args = (
        "instruct", "--teacher", "openai", "--model", "m", "--base-url", tasks_server.url,
        "--num-instructions", "6", "--concurrency", "2", "--max-retries", "0", "--out", out,
    )  # fmt: skip
    res = inproc.distill(*args, env=ENV)
    assert res.returncode == 0, res.stderr
    student = student_of(run, out)
    before = out.read_bytes()
    res = inproc.distill(*args, env=ENV)  # the same run again adds nothing: goes on
    assert res.returncode == 0, res.stderr
    assert out.read_bytes() == before
    res = inproc.distill(*args, "--include-seeds", env=ENV)
    one_line_error(res, rf"--out {out} is the data {student} was trained on .*add instructions")
    assert out.read_bytes() == before


def test_a_run_dir_removed_between_mkdir_and_open_is_locked_again(tmp_path, monkeypatch):
    # The run that made RUN_DIR ended and removed it bare (its lock, then the folder) between
    # this run's mkdir and its open of the lock file.
    from distill import generate, pipeline

    run = tmp_path / "run"
    run.mkdir()
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.format(run=run))
    gone, seen = [], []

    def late_open(path, *a, **k):
        if Path(path) == run / LOCK and not gone:
            gone.append(run.rmdir())
        return open(path, *a, **k)

    def stage(cfg, progress=True):
        seen.append((run / LOCK).is_file() and refused(run / LOCK))
        return cfg.out

    monkeypatch.setattr(pipeline, "open", late_open, raising=False)
    monkeypatch.setattr(generate, "run", stage)
    res = inproc.distill("run", "--recipe", recipe, env=ENV)
    monkeypatch.undo()
    assert res.returncode == 0, res.stderr
    assert gone and seen == [True], "a second run could start beside this one"


def test_a_lock_taken_on_the_file_the_last_run_removed_keeps_no_third_run_out(
    tmp_path, monkeypatch
):
    # A holds the lock; B opens the lock file; A ends (removes the file, lets go); C makes a new
    # file and locks it; only then B's flock (on A's removed file) succeeds: B must not run.
    from distill import pipeline, records

    run = tmp_path / "run"
    run.mkdir()
    a, c = contextlib.ExitStack(), contextlib.ExitStack()
    assert pipeline._lock_run_dir(str(run), a, create=False)
    real, order = records.try_lock, []

    def interleaved(f, wait=False):
        if not order:  # B's first flock
            order.append("A ends")
            a.close()
            assert not (run / LOCK).exists()
            order.append("C locks")
            assert pipeline._lock_run_dir(str(run), c, create=False)
        return real(f, wait)

    monkeypatch.setattr(records, "try_lock", interleaved)
    with contextlib.ExitStack() as b, c:
        with pytest.raises(pipeline.DistillError, match="another `distill run` is running"):
            pipeline._lock_run_dir(str(run), b, create=False)
        assert order == ["A ends", "C locks"]
        assert refused(run / LOCK)  # C's, still held


def test_select_reads_a_student_cache_record_whose_teacher_is_not_an_object(tmp_path, monkeypatch):
    from distill.select.difficulty import PromptInfo, student_rates
    from distill.teachers import TEACHERS, Completion

    class Fake:
        def __init__(self, cfg):
            pass

        def run(self, jobs, sink):
            for j in jobs:
                for s in j.samples:
                    sink.done(j, s, Completion(text="\\boxed{2}"))

    cache = tmp_path / "student.jsonl"
    cache.write_text(json.dumps({"id": "x", "teacher": "m", "answer": "2"}) + "\n")
    cfg = student_cfg("m", "openai")
    prompts = {"p": PromptInfo([{"role": "user", "content": "1 + 1"}], "2", {})}
    monkeypatch.setitem(TEACHERS, "openai", Fake)
    rates, _ = student_rates(cfg, prompts, cache)
    assert rates == {"p": 1.0}
