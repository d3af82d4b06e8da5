"""Last read of 96e37ba / 6d22db0 (verify --math) and 82f5ba7 (select judge's last-line score).

1. verify: a check sentence after "x = 2 is the only solution" that names another value was read
   as going on to another quantity, also where it says the check confirms ("Verification: the
   sum is 2 + 2 = 4, which matches.", "the product is 6, as required", "... ✓"); and "as
   required", "the requirement", "requires x > 0" were read as what the question asks for. The
   stated value was no answer: math-verify's read took the 4 (wrong against 2; right before).
2. judge: a last line equal to the number the reasons ended with was no score, also where that
   sentence gave the score ("I would rate it an 8.\\n\\n8", "This trace deserves a 9.\\n9",
   "Final verdict: 9.\\n\\n9"); and any scale other than 10 named in the reasons made the last
   line no score, also a number above that scale ("Clarity: I'd rate it 4 out of 5.\\n8").
3. verify: a value conceded in the reason for the one stated and then ruled out by the sentence
   ("The answer is 3, since -3 is also a root and x must be positive") was read as offered, a
   hedge: wrong against 3 (right before 96e37ba made a reason's value an offer).
"""

from __future__ import annotations

import pytest

from distill.filter.verify import judge
from distill.select.judge import parse_score


def judged(answer: str, gold: str) -> str | None:
    # the record-level entry point `distill filter --verify math` calls for each trace
    rec = {"answer": answer, "gold": gold, "messages": [{"role": "user", "content": "Solve."}]}
    return judge(rec, "math")[0]


STATED = "x = 2 is the only solution. "


@pytest.mark.parametrize(
    "reply",
    [
        STATED + "Verification: the sum is 2 + 2 = 4, which matches.",
        STATED + "Checking: the product is 2 \\cdot 3 = 6, as required.",
        STATED + "Check: the sum is 2 + 3 = 5 ✓.",
        STATED + "Verifying: the total is 2 + 8 = 10, consistent with the problem.",
        STATED + "Checking: x = 2 satisfies the requirement x > 0.",
        STATED + "Note: the problem requires x > 0, and 2 > 0.",
        "The only solution is x = 2. Verification: the sum is 2 + 2 = 4, which matches.",
        "$n = 12$ is the answer. Check: the number of divisors is 6, as needed.",
    ],
)
def test_a_check_that_confirms_still_reads_the_value_stated(reply):
    gold = "12" if "n = 12" in reply else "2"
    assert judged(reply, gold) == "correct"


@pytest.mark.parametrize(
    ("reply", "gold"),
    [
        (STATED + "Substituting, the area is 5.", "5"),
        (STATED + "Check: the sum is 2 + 3 = 5.", "5"),  # no word that it confirms
        (STATED + "Note the problem requires us to find y, and y = 5.", "5"),
        (STATED + "Note the question asks for the perimeter, which is 5, as required.", "5"),
    ],
)
def test_a_sentence_that_goes_on_to_another_quantity_still_does(reply, gold):
    assert judged(reply, gold) == "correct"
    assert judged(reply, "2") == "wrong"


@pytest.mark.parametrize(
    ("reply", "gold"),
    [
        ("The answer is 3, since -3 is also a solution of x^2 = 9 and x must be positive.", "3"),
        (
            "The answer is 3, since -3 is also a root and the problem asks for the positive one.",
            "3",
        ),
        ("The answer is 2, as -2 is also a root, while only positive lengths make sense.", "2"),
        ("x = 3 is the only solution, because x = -3 is also a root, and x must be positive.", "3"),
    ],
)
def test_a_value_conceded_in_the_reason_and_ruled_out_is_no_hedge(reply, gold):
    assert judged(reply, gold) == "correct"


@pytest.mark.parametrize(
    "reply",
    ["2 is the answer since 3 also works.", "The answer is 2, since 3 also works for n = 1."],
)
def test_a_value_offered_in_the_reason_and_not_ruled_out_is_still_a_hedge(reply):
    assert judged(reply, "2") == "wrong"


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ("The steps are correct, though verbose. I would rate it an 8.\n\n8", 8.0),
        ("The steps are correct. Overall, this trace deserves a 9.\n9", 9.0),
        ("It skips one justification. I'd give it a 7.\n\n7", 7.0),
        ("Correct and well organised. I rate this trace 8.\n8", 8.0),
        ("Correct final answer. Final verdict: 9.\n\n9", 9.0),
        # a sub-score on another scale, then the score out of 10 above it
        ("Correct. Clarity alone I would rate 4 out of 5.\n8", 8.0),
    ],
)
def test_a_last_line_that_repeats_the_score_the_reasons_gave_is_the_score(reply, score):
    assert parse_score(reply)[0] == score


@pytest.mark.parametrize(
    "reply",
    [
        'The trace\'s last line reads "Thus x = 2."\n2',  # a quote: still the text's own
        "The trace concludes that the answer is 8.\n8",
        "I would rate this 4 out of 5.\n4",
        "On a 100-point scale: good work.\n8",
    ],
)
def test_the_texts_own_number_or_one_on_another_scale_is_still_no_score(reply):
    assert parse_score(reply)[0] is None


def test_select_keeps_a_trace_whose_judge_repeats_its_score_on_the_last_line(tmp_path):
    # through `distill select --judge`: the reply was judge_no_score, the trace dropped
    from tests.test_select import FakeJudge, judged_traces, select

    replies = ["Clear and correct. I would rate it an 8.\n\n8", "Muddled. I'd give it a 3.\n3"]
    src = judged_traces(tmp_path, replies)
    j = FakeJudge().start()
    try:
        kept, rejects, rep = select(
            tmp_path, src, judge="judge", judge_base_url=j.url, min_score=5.0
        )
    finally:
        j.stop()
    assert [(r["prompt_id"], r["meta"]["select"]["judge"]) for r in kept] == [("p0", 8.0)]
    assert {r["prompt_id"]: r["reject_reason"] for r in rejects} == {"p1": "judge"}
    assert rep["judge"]["malformed"] == 0
