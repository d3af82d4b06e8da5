"""A second read of `distill select`: stale judge scores and student samples reused where the
thing scored changed, judge replies read on the wrong scale, and flags that were silently
ignored when their criterion was left out of --criteria."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from distill.errors import DistillError
from distill.records import read_records
from distill.select.config import SelectConfig
from distill.select.judge import parse_score
from distill.select.stage import run
from tests.test_select import FakeJudge, judged_traces, trace, write


def _scores(out: Path) -> dict[str, float]:
    base = out.with_suffix("")
    recs = list(read_records(out)) + list(read_records(f"{base}.rejects.jsonl"))
    return {r["id"]: r["meta"]["select"].get("judge") for r in recs}


def test_a_trace_rewritten_under_the_same_id_is_judged_again(tmp_path):
    # traces.jsonl regenerated (same teacher name and params: the same ids), kept.jsonl
    # filtered again: the judge cache in the same folder must not score the new text with
    # the old replies.
    src = judged_traces(tmp_path, ["Score: 3", "Score: 4"])
    j = FakeJudge().start()
    try:
        kw = dict(judge="judge", judge_base_url=j.url)
        run(SelectConfig(input=str(src), out=str(tmp_path / "a.jsonl"), **kw), quiet=True)
        assert _scores(tmp_path / "a.jsonl") == {"p0-0": 3.0, "p1-0": 4.0}
        asked = len(j.log)
        judged_traces(tmp_path, ["Score: 9", "Score: 4"])  # p0's text changed, p1's did not
        run(SelectConfig(input=str(src), out=str(tmp_path / "b.jsonl"), **kw), quiet=True)
        assert _scores(tmp_path / "b.jsonl") == {"p0-0": 9.0, "p1-0": 4.0}
        assert len(j.log) == asked + 1  # only the changed trace is asked again
    finally:
        j.stop()


@pytest.mark.parametrize(
    "reply",
    [
        "Score: -2",  # below the scale: not a 2
        "Score: 8/100",  # 0.8 on the rubric's scale, not 8
        "Rating: 4/5",  # another scale
        "Score: 3 out of 5",
        '{"score": true, "reason": "yes"}',  # a boolean is no score
    ],
)
def test_a_score_off_the_rubrics_scale_is_dropped_not_misread(reply):
    assert parse_score(reply)[0] is None


@pytest.mark.parametrize(
    "reply,score",
    [
        ("Score: 8/10", 8.0),
        ("Score: 10/10", 10.0),
        ("Score - 7", 7.0),
        ("Score: 7 (out of 10)", 7.0),
        ("Score: 8 out of 10", 8.0),
        ("**Score:** 9", 9.0),
        ("Score: 6/10. Presentation 9/10", 6.0),
    ],
)
def test_scores_on_the_rubrics_scale_still_read(reply, score):
    assert parse_score(reply)[0] == score


@pytest.mark.parametrize(
    "criteria,flag",
    [
        (["difficulty"], {"token_budget": 100}),
        (["diversity"], {"per_prompt": 1}),
        (["length"], {"by": "meta.domain"}),
        (["length"], {"clusters": 3}),
    ],
)
def test_a_flag_whose_criterion_is_left_out_is_one_line_not_ignored(tmp_path, criteria, flag):
    src = write(tmp_path / "kept.jsonl", [trace("a", "A?")])
    name = "--" + next(iter(flag)).replace("_", "-")
    with pytest.raises(DistillError, match=name):
        SelectConfig(
            input=str(src), out=str(tmp_path / "s.jsonl"), criteria=criteria, pass_rate=None, **flag
        )


class CountingStudent:
    """A stand-in for generate's hf teacher: answers every sample wrong and counts them."""

    calls: list[int] = []

    def __init__(self, tcfg):
        self.tcfg = tcfg

    def run(self, jobs, sink):
        from distill.teachers import Completion

        for job in jobs:
            for s in job.samples:
                CountingStudent.calls.append(s)
                sink.done(job, s, Completion(text="\\boxed{0}", completion_tokens=1))


def test_a_local_student_retrained_in_place_is_sampled_again(tmp_path, monkeypatch):
    from distill import teachers

    monkeypatch.setitem(teachers.TEACHERS, "hf", CountingStudent)
    CountingStudent.calls = []
    student = tmp_path / "student"
    student.mkdir()
    (student / "config.json").write_text("{}")
    weights = student / "model.safetensors"
    weights.write_bytes(b"v1")
    src = write(tmp_path / "kept.jsonl", [trace("a", "What is 0 + 1?")])
    kw = dict(student=str(student), student_backend="hf", samples=2, prefer_failed=True)
    run(SelectConfig(input=str(src), out=str(tmp_path / "a.jsonl"), **kw), quiet=True)
    assert len(CountingStudent.calls) == 2
    run(SelectConfig(input=str(src), out=str(tmp_path / "b.jsonl"), **kw), quiet=True)
    assert len(CountingStudent.calls) == 2  # the same student: every sample from the cache
    weights.write_bytes(b"v2 after more training")
    later = time.time() + 5
    os.utime(weights, (later, later))
    run(SelectConfig(input=str(src), out=str(tmp_path / "c.jsonl"), **kw), quiet=True)
    assert len(CountingStudent.calls) == 4  # another student under the same path
    rep = json.loads((tmp_path / "c.report.json").read_text())
    assert rep["difficulty"]["sampled_this_run"] == 2


def test_a_trace_rewritten_under_the_same_id_is_scored_again_by_a_reward_model(
    tmp_path, monkeypatch
):
    from distill.select import reward

    scored: list[str] = []

    def score_batch(tok, net, texts):
        scored.extend(texts)
        return [float(len(t)) for t in texts]

    monkeypatch.setattr(reward, "load", lambda model: (None, None))
    monkeypatch.setattr(reward, "render", lambda tok, chat: chat[-1]["content"])
    monkeypatch.setattr(reward, "score_batch", score_batch)
    src = write(tmp_path / "kept.jsonl", [trace("a", "A?", reasoning="short")])
    kw = dict(judge="rm", judge_backend="reward", criteria=["judge"])
    run(SelectConfig(input=str(src), out=str(tmp_path / "a.jsonl"), **kw), quiet=True)
    first = _scores(tmp_path / "a.jsonl")["a-0"]
    write(src, [trace("a", "A?", reasoning="a much longer rewritten trace")])
    run(SelectConfig(input=str(src), out=str(tmp_path / "b.jsonl"), **kw), quiet=True)
    assert len(scored) == 2  # the new text is scored, not given the old text's score
    assert _scores(tmp_path / "b.jsonl")["a-0"] > first
