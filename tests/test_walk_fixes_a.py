"""Walkthrough fixes: eval's set-aside name, model paths checked before any write, generate's
summary and progress numbers, rich output in logs, write_atomic's temp file."""

import json
import os

import pytest

from distill.errors import DistillError


# --------------------------------------------------------------------------- eval set-aside
def test_samples_of_a_hub_name_are_set_aside_under_a_file_name_safe_tag(tmp_path):
    from distill.eval import set_aside_if_retrained

    traces = tmp_path / "e.student.traces.jsonl"
    set_aside_if_retrained(traces, "org/name")  # a hub name: the stamp is the name, with a /
    traces.write_text('{"id": "a"}\n')
    student = tmp_path / "student"
    student.mkdir()
    (student / "config.json").write_text("{}")
    set_aside_if_retrained(traces, str(student))  # was: ValueError: Invalid name 'e....org/name'
    [aside] = tmp_path.glob("e.student.traces.*.jsonl")
    assert aside.read_text() == '{"id": "a"}\n' and not traces.exists()
    assert "/" not in aside.name[len("e.student.traces.") :]
    stamp = json.loads((tmp_path / "e.student.traces.weights.json").read_text())
    assert stamp["model"] == str(student)  # the next eval to this --out is not stuck


def test_an_empty_samples_file_of_a_failed_eval_is_not_set_aside(tmp_path):
    from distill.eval import set_aside_if_retrained

    traces = tmp_path / "e.student.traces.jsonl"
    set_aside_if_retrained(traces, str(tmp_path / "typo"))  # a path: its stamp holds '/'
    traces.write_text("")  # the failed eval opened the file and wrote nothing
    student = tmp_path / "student"
    student.mkdir()
    (student / "config.json").write_text("{}")
    set_aside_if_retrained(traces, str(student))
    assert list(tmp_path.glob("e.student.traces.*.jsonl")) == []
    set_aside_if_retrained(traces, str(student))  # and again: same weights, nothing to do


# --------------------------------------------------------------------------- model paths
def test_a_typod_builtin_and_a_missing_local_path_are_refused(tmp_path, monkeypatch):
    from distill.models import check_model_path

    with pytest.raises(
        DistillError,
        match=r"^--model: unknown built-in model 'builtin:smolm2' \(have: builtin:smollm2",
    ):
        check_model_path("builtin:smolm2")
    monkeypatch.chdir(tmp_path)
    for name in ("./nope", "../nope-walk", str(tmp_path / "nope"), "~/nope-walk-distill"):
        with pytest.raises(
            DistillError, match=r"^--baseline: model not found: \S*nope\S* \(no such folder\)$"
        ):
            check_model_path(name, "--baseline", missing_ok=False)
    check_model_path("org/name", missing_ok=False)  # a hub name: looked up when loaded
    check_model_path("builtin:smollm2", missing_ok=False)
    check_model_path("./nope")  # train's --model in a recipe: a folder an earlier step writes


def test_generate_with_a_typod_builtin_writes_nothing(tmp_path):
    from distill.generate import GenerateConfig

    with pytest.raises(DistillError, match="builtin:smolm2"):
        GenerateConfig(
            data="builtin:arithmetic",
            teacher="hf",
            model="builtin:smolm2",
            out=str(tmp_path / "x.jsonl"),
        )
    assert list(tmp_path.iterdir()) == []


def test_eval_with_a_missing_baseline_or_model_is_refused_before_sampling(tmp_path, monkeypatch):
    from distill.eval import EvalConfig, run

    monkeypatch.chdir(tmp_path)
    student = tmp_path / "student"
    student.mkdir()
    (student / "config.json").write_text("{}")
    for model, baseline in ((str(student), str(tmp_path / "nope")), ("./nope", None)):
        cfg = EvalConfig(  # a recipe's eval may name a folder its train writes: passes here
            model=model,
            baseline=baseline,
            backend="hf",
            data="builtin:arithmetic",
            out=str(tmp_path / "e2.json"),
        )
        with pytest.raises(DistillError, match=r"^--(baseline|model): model not found: \S*nope"):
            run(cfg)  # refused before the student is sampled, not after
    assert sorted(p.name for p in tmp_path.iterdir()) == ["student"]


# --------------------------------------------------------------------------- generate summary
def test_summary_prompt_tokens_are_the_billed_sum_not_rounded_per_sample():
    from distill.generate.stage import Totals

    totals = Totals()
    for request in range(8):  # 8 requests of n=3 samples, 25 prompt tokens each
        for _ in range(3):
            totals.add(
                {
                    "prompt_id": request,
                    "usage": {"prompt_tokens": 25, "completion_tokens": 1, "n_in_request": 3},
                }
            )
    assert totals.result()["prompt_tokens"] == 200  # was 192: round(25 / 3) = 8, 8 * 24


def test_progress_numbers_are_those_of_every_sample_however_fast_they_come():
    from distill.generate.stage import _Progress

    bar = _Progress(3, enabled=False)
    for _ in range(3):  # a whole batch at once (the hf teacher)
        bar.advance(100, 0.25)
    stats = bar.bar.tasks[0].fields["stats"]
    assert "$0.7500" in stats, stats  # was $0.2500: the later two came within 0.1 s


# --------------------------------------------------------------------------- rich in logs
def test_a_server_message_with_brackets_is_printed_whole_on_one_line(tmp_path, capsys, monkeypatch):
    from distill.generate import GenerateConfig, run
    from tests.fakebatch import FakeBatchServer

    monkeypatch.setenv("COLUMNS", "80")  # rich's width for output that is not a terminal
    why = "model [/x] fake-r1 is not available for batch in this region " + "x" * 60
    server = FakeBatchServer().start()
    try:
        server.plans.append({"fail": why})
        cfg = GenerateConfig(
            data="builtin:arithmetic",
            limit=2,
            teacher="openai",
            base_url=server.url,
            model="fake-r1",
            n=1,
            out=str(tmp_path / "t.jsonl"),
            max_retries=2,
            batch=True,
            batch_poll=0.05,
        )
        with pytest.raises(DistillError, match="2 samples failed"):  # not rich's MarkupError
            run(cfg, progress=False)
    finally:
        server.stop()
    lines = capsys.readouterr().out.splitlines()
    batch_line = [line for line in lines if line.startswith("batch: ") and "failed" in line]
    failed = [line for line in lines if line.startswith("  failed ")]
    assert batch_line and why in batch_line[0]  # batch.py's line: whole, brackets kept
    assert len(failed) == 2 and all(why in line for line in failed)  # stage.py's lines


# --------------------------------------------------------------------------- write_atomic
def test_write_atomic_leaves_no_temp_file_when_the_write_fails(tmp_path, monkeypatch):
    import errno
    from pathlib import Path

    from distill.records import write_atomic

    real = Path.write_text

    def disk_full(self, text, *a, **kw):
        real(self, "", *a, **kw)  # the file is created, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, "write_text", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(tmp_path / "s.json", "{}\n")
    assert list(tmp_path.iterdir()) == []
