"""A second read of select's third-read fixes (e4e6804, cb7365f, ba4b37a, 3bea31d, abb53d8): a
judge's verdict that quotes a '</think>' tag, a judge or student server that refuses every
request, --by values 1 and "1", a reward checkpoint whose head lacks only its bias."""

from __future__ import annotations

import pytest

from distill.errors import DistillError
from distill.select.judge import parse_score
from tests.test_select import select, trace, write


@pytest.mark.parametrize(
    "reply,score",
    [
        # a judge citing a trace's stray tag in its verdict: the text after the quoted tag held
        # no score, and the whole verdict was dropped as malformed (e4e6804)
        ('{"score": 4, "reason": "the answer leaks a stray </think> tag"}', 4.0),
        ("Score: 4\nReason: the answer ends with a stray `</think>` tag.", 4.0),
        ('**Score:** 3 - the trace closes "</think>" twice', 3.0),
        ("Score: 8/10. The reasoning closes its block (</think>) before the answer.", 8.0),
    ],
)
def test_a_verdict_that_quotes_a_close_tag_is_still_read(reply, score):
    assert parse_score(reply)[0] == score


@pytest.mark.parametrize(
    "reply,score",
    [
        # what e4e6804 fixed stays fixed: R1's thinking before a lone </think> is no verdict
        ('Draft {"score": 3}. Hmm.\n</think>\n\n{"score": 8, "reason": "ok"}', 8.0),
        ("Score: 3? no.\n</think>\n\nScore: 8/10", 8.0),
        ("Score: 3 maybe.\n</think>\n\nI am not sure.", None),  # its verdict holds no score
        ("Score: 8/10", 8.0),
        ("**Score:** 7", 7.0),
        ('{"score": 9, "reason": "exemplary"}', 9.0),
    ],
)
def test_a_reasoning_judges_lone_close_tag_still_ends_its_thinking(reply, score):
    assert parse_score(reply)[0] == score


@pytest.mark.parametrize(
    "reply,score",
    [
        # a verdict citing a trace's unclosed tag was read as the judge's own reply cut off
        ('{"score": 4, "reason": "the answer opens <think> and never closes it"}', 4.0),
        ("Score: 2 - the reasoning opens `<think>` twice.", 2.0),
        # the judge's own thinking cut off by max_tokens stays no verdict
        ("<think>Score: 9 but cut off", None),
        ("  <think>\nHmm, Score: 9 then", None),
    ],
)
def test_a_verdict_that_quotes_an_open_tag_is_not_a_reply_cut_off(reply, score):
    assert parse_score(reply)[0] == score


def test_a_judge_server_that_refuses_every_request_is_one_line_naming_the_refusal(tmp_path):
    # a bad request for every trace (a parameter the model does not take, --judge-max-tokens
    # over its context), fewer traces than the 8 identical 4xx that stop the openai teacher:
    # every trace was judge_no_score and the line blamed the replies' format ('first reply:
    # None', "must end with 'Score: N'")
    from tests.test_select import FakeJudge, judged_traces

    src = judged_traces(tmp_path, ["Score: 9", "Score: 6", "Score: 8"])
    j = FakeJudge().start()
    try:
        j.faults.extend({"status": 400} for _ in range(3))
        with pytest.raises(DistillError) as e:
            select(tmp_path, src, judge="judge", judge_base_url=j.url, concurrency=1)
        line = str(e.value)
        assert "refused all 3" in line and "HTTP 400" in line and "injected 400" in line, line
        assert "Score: N" not in line and "\n" not in line
    finally:
        j.stop()


def test_a_student_server_that_refuses_every_prompt_is_one_line_not_an_empty_selection(tmp_path):
    # --student-max-tokens over the student's context: every prompt refused. The run ended
    # with every trace rejected for 'difficulty' (0 kept) and a note
    from tests.test_select import FakeStudent

    rates = {f"What is {k} + 1?": 0.5 for k in range(2)}
    src = write(tmp_path / "kept.jsonl", [trace(f"p{k}", q) for k, q in enumerate(rates)])
    s = FakeStudent(rates).start()
    try:
        s.faults.extend({"status": 400} for _ in range(2))
        kw = dict(student="student", student_base_url=s.url, samples=2, pass_rate="0.1:0.9")
        with pytest.raises(DistillError) as e:
            select(tmp_path, src, concurrency=1, **kw)
        line = str(e.value)
        assert "refused all 4" in line and "HTTP 400" in line and "injected 400" in line, line
        assert "\n" not in line
    finally:
        s.stop()


def test_by_values_1_and_the_string_1_are_one_group(tmp_path):
    # a column written as 1 by one source and "1" by another: two groups in the draw (each a
    # share of the round-robin), one line in the report's per_group (keyed "1": the second
    # overwrote the first's counts) beside "groups": 3
    recs = [trace(f"a{k}", f"Q a{k}?", meta={"level": 1}) for k in range(3)]
    recs += [trace(f"b{k}", f"Q b{k}?", meta={"level": "1"}) for k in range(3)]
    recs += [trace(f"c{k}", f"Q c{k}?", meta={"level": 2}) for k in range(6)]
    src = write(tmp_path / "kept.jsonl", recs)
    kept, rejects, rep = select(tmp_path, src, budget=6, by="meta.level")
    div = rep["diversity"]
    assert div["groups"] == len(div["per_group"]) == 2
    assert div["per_group"] == {"1": {"pool": 6, "selected": 3}, "2": {"pool": 6, "selected": 3}}
    # each trace still says its own value
    assert {r["prompt_id"][0]: r["meta"]["select"]["cluster"] for r in kept + rejects} == {
        "a": 1,
        "b": "1",
        "c": 2,
    }
