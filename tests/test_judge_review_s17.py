"""select --judge, review of 27ce6e3 (a number alone on the reply's last line is the score).

The last line was read as the score wherever the line before it ended a sentence, also where it
was the next item of a numbered list ("1. ...\\n2. ...\\n3."), the number the reasons had just
ended with (a quote of the trace's answer), a number on a scale the reasons named ("4 out of
5", "a 100-point scale"), or where the judge's max tokens had cut the reply off there: a cut-off
reply so scored was kept as scored and never asked again.
"""

from __future__ import annotations

import pytest

from distill.select import judge
from distill.select.judge import parse_score


@pytest.mark.parametrize(
    "reply",
    [
        "1. The setup is correct.\n2. The algebra is clean.\n3.",
        "Issues:\n1. The final answer is right.\n2. One step is skipped.\n3",
        'The trace\'s last line reads "Thus x = 2."\n2',
        "He wrote: the answer is 8.\n8",
        "Let me check the arithmetic: 3 + 5 = 8.\n8",
        "I would rate this 4 out of 5.\n4",
        "Rated on a 1-5 scale. The solution is solid.\n4",
        "On a 100-point scale: good work.\n8",
        "Graded on a scale from 1 to 5, it is sound.\n4",
    ],
)
def test_a_last_line_that_is_a_list_item_the_texts_number_or_another_scale_is_no_score(reply):
    assert parse_score(reply)[0] is None


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ("Strengths:\n1. Correct.\n2. Clear.\n\n8", 8.0),  # no list item: 8 follows 2
        ("Two out of 3 steps are fully justified; the rest is fine.\n7", 7.0),  # a count
        ("The trace computes 1/2 correctly.\n8", 8.0),  # a fraction, no scale
        ("The trace gives 3/4, which is correct.\n9", 9.0),
        ("On a scale of 1 to 10, this is solid.\n8", 8.0),
        ("The final answer 12 matches.\n9", 9.0),
    ],
)
def test_a_last_line_score_after_such_text_still_reads(reply, score):
    assert parse_score(reply)[0] == score


def test_a_reply_cut_off_at_a_number_on_its_last_line_is_no_score_and_is_asked_again():
    text = "The setup is right and the algebra is clean.\n7"  # "7 of the 8 steps ..." cut off
    assert parse_score(text)[0] == 7.0  # finished so, the score
    assert parse_score(text, cut_off=True)[0] is None
    reply = {"text": text, "finish_reason": "length", "max_tokens": 50}
    assert not judge.usable(reply, 200)  # asked again under a larger cap
    # a labelled score in a cut-off reply is still its score
    assert judge.usable({"text": "Score: 7\nThe steps", "finish_reason": "length"}, 200)


def test_select_does_not_score_a_judge_reply_cut_off_after_a_number(tmp_path):
    # through `distill select --judge`: the cut-off reply was scored 7 and the trace kept
    from tests.test_select import FakeJudge, judged_traces, select

    class CutJudge(FakeJudge):
        def _choice(self, i: int, prompt: str, max_tokens: int) -> dict:
            choice = super()._choice(i, prompt, max_tokens)
            if "CUT" in choice["message"]["content"]:
                choice["finish_reason"] = "length"
            return choice

    replies = ["CUT: the setup is right.\n7", "The setup is right.\n7"]
    src = judged_traces(tmp_path, replies)
    j = CutJudge().start()
    try:
        kept, rejects, rep = select(
            tmp_path, src, judge="judge", judge_base_url=j.url, min_score=5.0
        )
    finally:
        j.stop()
    assert [r["prompt_id"] for r in kept] == ["p1"]
    assert {r["prompt_id"]: r["reject_reason"] for r in rejects} == {"p0": "judge_no_score"}
    assert rep["judge"]["cut_off"] == 1
