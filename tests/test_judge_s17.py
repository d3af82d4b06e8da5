"""select --judge: a reply that gives its reasons and ends with the number alone on its last line
("The steps are clear.\\n8") was no score (judge_no_score, judge.malformed). It is the score now
where the reasons ended a sentence before it; a number that goes on with the text before it, or
sits in a code block, display maths or a quote, is the text's own and still no score. "Verdict:
8" or "Mark: 8" on a line of its own, and "(8)" / "[8]" alone, were no score either."""

from __future__ import annotations

import pytest

from distill.select.judge import parse_score


@pytest.mark.parametrize(
    ("reply", "score", "reason"),
    [
        ("The reasoning is clear and each step follows.\n8", 8.0, "The reasoning is clear"),
        ("Clear and correct, though a bit long.\n\n**7**", 7.0, "though a bit long."),
        ("A fine solution.\n10", 10.0, "A fine solution."),
        ("Correct (it checks x = 8).\n6.", 6.0, "Correct (it checks x = 8)."),
        # a remark naming a score it does not give, then the score
        ("It would need a score of 10 to be exemplary; this is close.\n9", 9.0, "exemplary"),
        ("> The answer is 8.\n\n7", 7.0, "The answer is 8."),  # a quote, then a blank line
        ("Clear.\n\n(8)", 8.0, "Clear."),
        ("Clear.\n[8]", 8.0, "Clear."),
    ],
)
def test_reasons_then_the_number_alone_on_the_last_line_is_the_score(reply, score, reason):
    got, why = parse_score(reply)
    assert got == score
    assert reason in why


def test_after_thinking_closed_inside_a_line_too():
    reply = "The steps check out, so a high mark.</think>\n\nClear and concise.\n8"
    assert parse_score(reply) == (8.0, "Clear and concise.")


@pytest.mark.parametrize(
    "reply",
    [
        "The trace ends with\n8",  # the sentence goes on into the number
        "The trace's final answer is:\n8",
        "Its last step computes 2 + 6 =\n8",
        "Steps:\n$$\n2+6=\n8",  # display maths left open
        "It shows \\[\n2+6 =\n8",
        "The program prints.\n```\n8",  # a code block left open
        "> The answer is 8.\n8",  # a quote goes on into the line after it
        "Good work.\n11",  # off the scale
        "Good work.\n0",
        "Good work. 8",  # on the reason's own line
    ],
)
def test_a_number_that_belongs_to_the_text_is_no_score(reply):
    assert parse_score(reply)[0] is None


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ("Clear.\nVerdict: 8", 8.0),
        ("Clear.\n**Final verdict:** 8", 8.0),
        ("Clear.\nMark: 7/10", 7.0),
        ("(8)", 8.0),
        ("[9]", 9.0),
    ],
)
def test_other_verdict_lines_and_a_bracketed_number_are_scores(reply, score):
    assert parse_score(reply)[0] == score


def test_a_labelled_score_still_wins_over_a_last_line():
    assert parse_score("Score: 6\nThe trace is fine.\n8")[0] == 6.0
    assert parse_score("Mark: the trace is fine. 3 + 5 = 8")[0] is None


def test_select_keeps_a_trace_whose_judge_ends_with_the_number_alone(tmp_path):
    # through `distill select --judge` (a judge server, the cache, --min-score): the trace was
    # rejected as judge_no_score
    from tests.test_select import FakeJudge, judged_traces, select

    replies = ["Each step follows and the answer is right.\n8", "Its last line computes 2 + 6 =\n8"]
    src = judged_traces(tmp_path, replies)
    j = FakeJudge().start()
    try:
        kept, rejects, rep = select(
            tmp_path, src, judge="judge", judge_base_url=j.url, min_score=5.0
        )
    finally:
        j.stop()
    assert [r["prompt_id"] for r in kept] == ["p0"]
    assert kept[0]["meta"]["select"]["judge"] == 8.0
    assert {r["prompt_id"]: r["reject_reason"] for r in rejects} == {"p1": "judge_no_score"}
    assert rep["judge"]["malformed"] == 1


def test_mt_benchs_double_bracketed_rating_is_a_score():
    """MT-Bench's single-answer judge prompt asks for "Rating: [[5]]" (FastChat's
    llm_judge), a format rubrics copied from it keep: it was no score, every trace dropped."""
    from distill.select.judge import parse_score

    reply = "The assistant's answer is correct and clearly explained.\n\nRating: [[8]]"
    assert parse_score(reply)[0] == 8.0
    assert parse_score("[[9]]")[0] == 9.0
    assert parse_score("Rating: [[80]]")[0] is None  # out of range, as "Rating: 80"
