"""A third read of `distill select`: a --by column read per prompt instead of per trace, judge
replies whose score was misread (a reasoning judge's thinking before a lone </think>, the
rubric's '1-10' read as a score of 1)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from distill.select.judge import parse_score
from tests.test_select import select, trace, write


def _mixed_teachers(tmp_path: Path) -> Path:
    # two teachers on the same prompts: 'small' wrote 3 traces a prompt, 'big' 1
    recs = []
    for k in range(6):
        for s, model in enumerate(("big", "small", "small", "small")):
            teacher = {"backend": "openai", "model": model, "params": {}}
            recs.append(trace(f"p{k}", f"What is {k} plus one?", s, teacher=teacher))
    return write(tmp_path / "kept.jsonl", recs)


def test_by_column_groups_each_trace_by_its_own_value(tmp_path):
    # --by teacher.model: the traces of one prompt differ in it; each is drawn in its own group
    # (was: every trace of a prompt put in the group of its last trace, one group here)
    src = _mixed_teachers(tmp_path)
    kept, rejects, rep = select(tmp_path, src, budget=4, by="teacher.model")
    assert Counter(r["teacher"]["model"] for r in kept) == {"big": 2, "small": 2}
    assert rep["diversity"]["groups"] == 2
    assert rep["diversity"]["per_group"] == {
        "small": {"pool": 18, "selected": 2},
        "big": {"pool": 6, "selected": 2},
    }
    assert all(r["meta"]["select"]["cluster"] == r["teacher"]["model"] for r in kept + rejects)


@pytest.mark.parametrize(
    "reply",
    [
        # DeepSeek-R1 served without a reasoning parser: the template opened <think>, the reply
        # holds the thinking, a lone </think>, then the verdict
        'Draft: {"score": 3, "reason": "hmm"}. No, better than that.\n</think>\n\n'
        '{"score": 8, "reason": "clear"}',
        "Maybe Score: 3? Let me check again.\n</think>\n\nClear.\nScore: 8",
    ],
)
def test_a_reasoning_judges_thinking_before_a_lone_close_tag_is_not_its_verdict(reply):
    score, reason = parse_score(reply)
    assert score == 8.0
    assert "Let me check" not in reason and "Draft" not in reason


@pytest.mark.parametrize(
    "reply,score",
    [
        ("Score 1-10: 8", 8.0),  # the scale named after the label, then the score
        ("Score: 8\n(on a rating 1-10 scale, 10 exemplary)", 8.0),
        ("Score: 8. A rating 1 to 10 fits this rubric.", 8.0),
        ("Score: 7 - clear but long", 7.0),  # a dash after the score is no range
    ],
)
def test_the_rubrics_range_is_not_read_as_a_score(reply, score):
    assert parse_score(reply)[0] == score


def test_prompts_in_a_script_without_spaces_cluster_by_topic():
    # Chinese: \w+ read each clause as one word, seen once, and every prompt's TF-IDF row was
    # empty or one clause: the two topics fell into one cluster (no diversity, no word of it)
    from distill.select.diversity import cluster

    geometry = [f"计算三角形的面积，三角形的边长为{k}厘米，求面积" for k in range(6)]
    geometry += [f"已知圆的半径是{k}米，求圆的面积和周长" for k in range(6)]
    dice = [f"掷两个骰子，点数之和为{k}的概率是多少" for k in range(6)]
    dice += [f"从袋子里随机摸一个球，摸到红球的概率是多少？袋中有{k}个红球" for k in range(6)]
    labels = cluster(geometry + dice, 2, 0)
    assert len(set(labels[:12])) == 1 and len(set(labels[12:])) == 1
    assert labels[0] != labels[12]


def test_a_students_cached_samples_are_verified_against_the_current_gold(tmp_path, monkeypatch):
    # the gold fixed in the data (same messages: the same sample ids): the cached samples are
    # checked against the new gold, not the one stored beside them when they were sampled
    from distill import teachers
    from tests.test_review_select import CountingStudent

    monkeypatch.setitem(teachers.TEACHERS, "hf", CountingStudent)  # answers \boxed{0}
    CountingStudent.calls = []
    kw = dict(student="m", student_backend="hf", samples=2, prefer_failed=True)
    src = write(tmp_path / "kept.jsonl", [trace("a", "What is 0 + 0?", gold="0")])
    _, _, rep = select(tmp_path, src, out="a.jsonl", **kw)
    assert rep["difficulty"]["pass_rate_all"]["mean"] == 1.0
    write(src, [trace("a", "What is 0 + 0?", gold="7")])
    kept, _, rep = select(tmp_path, src, out="b.jsonl", **kw)
    assert len(CountingStudent.calls) == 2  # nothing sampled again
    assert kept[0]["meta"]["select"]["pass_rate"] == 0.0


def test_clusters_and_by_together_are_one_line_not_clusters_ignored(tmp_path):
    from distill.errors import DistillError
    from distill.select.config import SelectConfig

    src = write(tmp_path / "kept.jsonl", [trace("a", "A?")])
    with pytest.raises(DistillError, match="--clusters .* --by .*: pick one"):
        SelectConfig(input=str(src), out=str(tmp_path / "s.jsonl"), by="meta.domain", clusters=4)


def test_the_reports_pass_rates_are_of_the_prompts_in_the_pool(tmp_path):
    # generate's traces hold a prompt the teacher never solved (so absent from kept.jsonl):
    # the report's "all" statistics were over it too, beside "total" prompts that exclude it
    traces = []
    for pid, right in (("p0", 1), ("p1", 3), ("gone", 0)):
        for s in range(4):
            v = "correct" if s < right else "wrong"
            traces.append(trace(pid, f"problem {pid}", s, checks={"verify": v}))
    every = write(tmp_path / "traces.jsonl", traces)
    kept = write(tmp_path / "kept.jsonl", [t for t in traces if t["checks"]["verify"] == "correct"])
    _, _, rep = select(tmp_path, kept, teacher_traces=str(every), prefer_failed=True)
    assert rep["prompts"]["total"] == 2
    assert rep["difficulty"]["prompts_rated"] == 2
    assert rep["difficulty"]["pass_rate_all"]["mean"] == 0.5


def test_a_budget_larger_than_the_pool_does_not_say_all_kept_when_the_token_budget_cut(tmp_path):
    src = write(tmp_path / "kept.jsonl", [trace(f"p{k}", f"Q{k}?", tokens=20) for k in range(5)])
    kept, _, rep = select(tmp_path, src, budget=100, token_budget=45)
    assert len(kept) == 2
    assert rep["notes"] == [
        "--budget 100 >= the 5 traces left after the other criteria; --token-budget 45 "
        "kept 2 of them"
    ]


def test_a_causal_lm_named_as_reward_model_is_one_line_not_a_random_head(tmp_path, tiny_qwen):
    # a chat model (not a reward model) loads as a sequence classifier with a newly initialised
    # score head: its "scores" were noise, ranking the traces at random without a word
    from distill.errors import DistillError

    src = write(tmp_path / "kept.jsonl", [trace("a", "A?"), trace("b", "B?")])
    with pytest.raises(DistillError, match=r"--judge .* no reward model: .*score"):
        select(tmp_path, src, judge=str(tiny_qwen), judge_backend="reward", budget=1)


def test_a_trace_the_judges_server_refuses_is_no_score_not_a_run_that_can_never_finish(tmp_path):
    # one trace longer than the judge's context: HTTP 400 on every try. The run stopped with
    # "rerun the same command to ask only for those", and every rerun stopped the same way.
    from tests.test_select import FakeJudge, judged_traces

    src = judged_traces(tmp_path, ["Score: 9", "Score: 6", "Score: 8"])
    j = FakeJudge().start()
    try:
        kw = dict(judge="judge", judge_base_url=j.url, concurrency=1)
        j.faults.append({"status": 400})  # the first request: p0's
        kept, rejects, rep = select(tmp_path, src, **kw)
        assert sorted(r["prompt_id"] for r in kept) == ["p1", "p2"]
        assert [(r["prompt_id"], r["reject_reason"]) for r in rejects] == [("p0", "judge_no_score")]
        assert rep["judge"]["refused"] == 1 and rep["judge"]["scored"] == 2
        assert any("refused 1 request" in n and "HTTP 400" in n for n in rep["notes"])
        # a rerun asks again only for the refused one (a 400 is not cached)
        asked = len(j.log)
        select(tmp_path, src, out="again.jsonl", **kw)
        assert len(j.log) == asked + 1
    finally:
        j.stop()


class TimingOutJudge:
    """generate's openai teacher, as it reports a request that timed out on every try."""

    def __init__(self, tcfg):
        pass

    def run(self, jobs, sink):
        for job in jobs:
            sink.failed(job, 0, "timed out after 600s x 7 tries")


def test_a_judge_failure_that_may_pass_on_a_rerun_still_stops_the_run(tmp_path, monkeypatch):
    from distill import teachers
    from distill.errors import DistillError
    from tests.test_select import judged_traces

    monkeypatch.setitem(teachers.TEACHERS, "openai", TimingOutJudge)
    src = judged_traces(tmp_path, ["Score: 9", "Score: 6"])
    with pytest.raises(DistillError, match="2 judge requests failed: timed out .* rerun the same"):
        select(tmp_path, src, judge="judge", judge_base_url="http://127.0.0.1:9/v1")


def test_a_prompt_the_students_server_refuses_is_unrated_not_a_run_that_can_never_finish(
    tmp_path,
):
    # a prompt longer than the served student's context (with --student-max-tokens): HTTP 400
    # on every try, and every rerun stopped on it
    from tests.test_select import FakeStudent

    rates = {f"What is {k} + 1?": r for k, r in enumerate([0.25, 0.5, 0.5])}
    recs = [trace(f"p{k}", q, gold=str(k + 1)) for k, q in enumerate(rates)]
    src = write(tmp_path / "kept.jsonl", recs)
    s = FakeStudent(rates).start()
    try:
        s.faults.append({"status": 400})  # the first request: p0's 4 samples
        kw = dict(student="student", student_base_url=s.url, samples=4, pass_rate="0.1:0.6")
        kept, rejects, rep = select(tmp_path, src, concurrency=1, **kw)
        assert sorted(r["prompt_id"] for r in kept) == ["p1", "p2"]
        assert [(r["prompt_id"], r["reject_reason"]) for r in rejects] == [("p0", "difficulty")]
        assert rep["difficulty"]["refused"] == 4
        assert any("refused 4 student sample" in n for n in rep["notes"])
    finally:
        s.stop()
