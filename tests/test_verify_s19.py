"""Session 19: replies with no box or "the answer is", read as a grader reads them, and the judge's
sub-scores.

1. verify --math: a reply that states its value and then says why, or where it is reached, was
   judged on the last number of the reason ("So it must be 4, since 4^2+4=20." read 20; "the
   minimum is 8, which is not attained at x=0" read 0; "The minimum value is 12, attained at k =
   3." read 3).
2. "It cannot be 9, since 9 is odd." alone was right against 9 (the value it dismisses).
3. "The speed is 5 m/s or 7 m/s." was no hedge (the unit hid the 7 offered): right against 7.
4. "The answer is 12, attained at k = 3." stated nothing (read 3: wrong against 12).
5. "Thus x = 2 and 3 is not a solution." was no answer.
6. "The speed is 3\\sqrt{2}." (bare LaTeX in prose, no unit) was wrong against 3\\sqrt{2}.
7. verify --choice: "A is not the answer. B is." was no answer.
8. (found on the way) "Thus x = 2, and x = -2 is extraneous." was right against -2 and wrong
   against 2; "So x = 3, which is extraneous." right against 3.
9. judge: sub-score lines, then the overall score alone on the last line, was no score (or the
   last sub-score, where they were out of 10).
"""

from __future__ import annotations

import pytest

from distill.filter.verify import verify_choice, verify_math
from distill.select.judge import parse_score


@pytest.mark.parametrize(
    "reply, gold",
    [
        ("Suppose the answer were 3. Then 3^2+3=12, not 20. So it must be 4, since 4^2+4=20.", "4"),
        ("the minimum is 8, which is not attained at x=0", "8"),
        ("So the minimum is 8, which occurs at x = 2.", "8"),
        ("The minimum value is 12, attained at k = 3.", "12"),
    ],
)
def test_a_value_then_its_reason_or_where_it_is_reached_is_the_answer(reply, gold):
    assert verify_math(reply, gold) == "correct"


@pytest.mark.parametrize(
    "reply, wrong_gold",
    [
        ("So it must be 4, since 4^2+4=20.", "20"),
        ("the minimum is 8, which is not attained at x=0", "0"),
        ("So the minimum is 8, which occurs at x = 2.", "2"),
    ],
)
def test_the_reasons_number_is_not_the_answer(reply, wrong_gold):
    assert verify_math(reply, wrong_gold) == "wrong"


@pytest.mark.parametrize(
    "reply, gold",
    [
        # set aside, or going on to another value: never read as the value stated
        ("So x = 3, which is not a valid solution.", "3"),
        ("So x = 2, which gives y = 5.", "2"),
        ("So it could be 4, since 4^2 = 16.", "4"),
    ],
)
def test_a_value_set_aside_or_left_behind_is_still_not_right(reply, gold):
    assert verify_math(reply, gold) != "correct"


@pytest.mark.parametrize(
    "reply",
    ["It cannot be 9, since 9 is odd.", "x is not 9.", "The number can't be $9$ because 9 is odd."],
)
def test_a_value_the_reply_dismisses_is_never_right(reply):
    assert verify_math(reply, "9") != "correct"


def test_a_dismissed_value_after_the_answer_leaves_the_answer():
    reply = "So x = 7. It cannot be 9, since 9 is odd."
    assert verify_math(reply, "7") == "correct"
    assert verify_math(reply, "9") == "wrong"
    assert verify_math("x must be even. It cannot be 9, since 9 is odd, so it is 8.", "8") == (
        "correct"
    )


@pytest.mark.parametrize("gold", ["5", "7"])
def test_two_values_in_one_unit_offered_as_alternatives_are_a_hedge(gold):
    assert verify_math("The speed is 5 m/s or 7 m/s.", gold) == "wrong"
    assert verify_math("The distance is $5$ km or $7$ km.", gold) == "wrong"


def test_a_value_with_its_unit_alone_is_still_read():
    assert verify_math("The side is 3 cm, and the area is 9 cm^2.", "9") == "correct"
    assert verify_math("The speed is 5 m/s.", "5") == "correct"


def test_the_answer_stated_then_where_it_is_attained_is_the_answer():
    assert verify_math("The answer is 12, attained at k = 3.", "12") == "correct"
    assert verify_math("The answer is 12, attained at k = 3.", "3") == "wrong"
    assert verify_math("The answer is 12, achieved when x = 1 and y = 2.", "12") == "correct"
    # what follows is still read for another value offered
    assert verify_math("The answer is 12, at k = 3, or 13.", "12") == "wrong"


def test_a_value_then_another_said_not_to_be_a_solution_is_the_answer():
    assert verify_math("Thus x = 2 and 3 is not a solution.", "2") == "correct"
    assert verify_math("Thus x = 2 and 3 is not a solution.", "3") == "wrong"
    assert verify_math("Thus $x = 2$ and $3$ is not a solution.", "2") == "correct"
    # both set aside, or the pair set aside: no answer
    assert verify_math("Thus 2 and 3 are not solutions.", "2") != "correct"
    assert verify_math("Thus x = 2 and y = 3 is not a solution.", "2") != "correct"


def test_a_root_called_extraneous_is_set_aside():
    reply = "Thus x = 2, and x = -2 is extraneous."
    assert verify_math(reply, "2") == "correct"
    assert verify_math(reply, "-2") == "wrong"
    assert verify_math("So x = 3, which is extraneous.", "3") != "correct"
    assert verify_math("So x = 3, which is an extraneous solution.", "3") != "correct"


@pytest.mark.parametrize(
    "reply, gold",
    [
        ("The speed is 3\\sqrt{2}.", "3\\sqrt{2}"),
        ("So the ratio is \\frac{3}{4}.", "\\frac{3}{4}"),
    ],
)
def test_bare_latex_ending_the_reply_is_its_value(reply, gold):
    assert verify_math(reply, gold) == "correct"


def test_bare_latex_ending_the_reply_is_not_its_first_factor():
    assert verify_math("The speed is 3\\sqrt{2}.", "3") == "wrong"


def test_the_letter_said_to_be_what_another_is_not_is_the_choice():
    assert verify_choice("A is not the answer. B is.", "B") == "correct"
    assert verify_choice("A is not the answer. B is.", "A") == "wrong"
    assert verify_choice("A isn't correct, but B is.", "B") == "correct"
    assert verify_choice("A is not the answer. B is wrong too.", "B") == "no_answer"


def test_the_last_line_after_sub_scores_is_the_overall_score():
    assert parse_score("- correctness: 4/5\n- clarity: 5/5\n9")[0] == 9.0
    assert parse_score("Good work.\n- correctness: 4/5\n- clarity: 5/5\n\n9")[0] == 9.0
    assert parse_score("- correctness: 8/10\n- clarity: 7/10\n8")[0] == 8.0


def test_a_last_line_that_may_be_on_the_sub_scores_own_scale_is_no_score():
    assert parse_score("- correctness: 4/5\n- clarity: 5/5\n4")[0] is None
    # one line, a list's next item, a rubric line: read as before
    assert parse_score("Correctness: 4/5\n9")[0] is None
    assert parse_score("1. Correctness: 4/5\n2. Clarity: 5/5\n3.")[0] is None
    assert parse_score("Score: 7\n- a: 3/5\n- b: 4/5\n9")[0] == 7.0
