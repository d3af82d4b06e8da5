"""`distill run` over a run dir whose student is trained lets filter (or select) run again at
the settings and on the inputs of the set on disk (its report deleted): it should write the same
data. When it does not (a judge's cache deleted, a code test that timed out this time, a judge
that answers otherwise), the stage used to replace kept.jsonl and only then did train refuse:
the data the student learned was gone. Now the stage stops before it replaces the file, in one
line naming the file, the student folder and `--set train.overwrite=true`, the file and its
manifest as they were. (The same data written again goes on: test_run_rewrites_s11.) train is
the stand-in of test_run_rewrites_s11."""

from __future__ import annotations

from pathlib import Path

import pytest

import distill.filter.stage
import distill.train
from distill.errors import DistillError
from distill.pipeline import run as pipeline_run
from tests import test_run_rewrites_s11 as rewrites
from tests.test_filter_kill import make_traces
from tests.test_run_rewrites_s11 import FILTER, TRAIN

trained = rewrites.trained  # the fixture: train.run replaced by leave_run, its configs


def recipe(tmp_path: Path, **sections) -> tuple[Path, Path]:
    path, run = rewrites._recipe(tmp_path, **sections)
    make_traces(run / "traces.jsonl", 30)
    return path, run


def files(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(run.iterdir()) if p.is_file()}


def test_filter_writing_other_data_at_its_settings_leaves_the_students_data(
    tmp_path, trained, monkeypatch, capsys
):
    r, run = recipe(tmp_path, filter=FILTER, train=TRAIN)
    pipeline_run(r)
    (run / "kept.report.json").unlink()  # filter runs again at its settings
    before = files(run)
    monkeypatch.setattr(distill.filter.stage, "decide", _flaky_decide())
    capsys.readouterr()
    for kw in ({}, {"only": ["filter"]}):
        with pytest.raises(
            DistillError,
            match=r"filter would replace \S*kept\.jsonl, which \S*student was trained on .*"
            r"with other data, run again at the same settings.*--set train\.overwrite=true",
        ) as e:
            pipeline_run(r, **kw)
        assert "\n" not in str(e.value)
        assert files(run) == before  # kept, rejects, manifest as they were; no temporary file
    assert "== train" not in capsys.readouterr().out
    assert len(trained) == 1
    # the user starts over: the new data is written and the student trained again on it
    pipeline_run(r, sets=["train.overwrite=true"])
    assert (run / "kept.jsonl").read_bytes() != before["kept.jsonl"]
    assert len(trained) == 2


def test_select_writing_other_data_after_filter_leaves_the_students_data(
    tmp_path, trained, monkeypatch
):
    # filter -> select -> train on selected.jsonl: filter again at its settings writes another
    # kept.jsonl, select (its input changed) would write another selected.jsonl
    select = {"input": "{run_dir}/kept.jsonl", "out": "{run_dir}/selected.jsonl"}
    train = {**TRAIN, "data": "{run_dir}/selected.jsonl"}
    r, run = recipe(tmp_path, filter=FILTER, select=select, train=train)
    pipeline_run(r)
    (run / "kept.report.json").unlink()
    selected = {n: (run / n).read_bytes() for n in ("selected.jsonl", "selected.manifest.json")}
    monkeypatch.setattr(distill.filter.stage, "decide", _flaky_decide())
    with pytest.raises(
        DistillError, match=r"select would replace \S*selected\.jsonl, which \S*student was"
    ):
        pipeline_run(r)
    assert {n: (run / n).read_bytes() for n in selected} == selected
    assert len(trained) == 1


def _flaky_decide():
    decide = distill.filter.stage.decide

    def otherwise(facts, cfg):
        rates = decide(facts, cfg)
        next(f for f in facts if not f.reasons).reasons.append("wrong_answer")
        return rates

    return otherwise
