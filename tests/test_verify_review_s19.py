"""Session 19, second read of d4cf173 (verify: replies with no box or "the answer is") and ab56f09
(judge: the score alone after sub-score lines).

1. A value restated in the same sentence ("1/6, or about 0.167", "2 hours or 120 minutes", "120
   arrangements, or 5!", "5 m/s or 18 km/h") was judged on the restatement alone: a right answer
   of 1/6, 2, 120, 5 was wrong (and "5 m/s or 18 km/h" read 18). Two different values stay a
   hedge ("5 m/s or 20 km/h").
2. A value the reply denies in bare LaTeX ("So the ratio is not \\frac{3}{4}.", "We cannot have
   x = \\sqrt{2}.") was right against it.
3. d4cf173 read the first value of "X is N, which ..." where the remark goes on to another value
   ("The total time is 120 minutes, which is 2 hours.": 120 read, right answer 2 wrong).
4. A dismissal with a bracketed reason and then the value ("The minimum is not 0 (since x > 0),
   it is 2.") was no answer; a value in brackets after a negation ("so the point is (2, 5)") was
   read as its reason, and the value before it the answer.
5. ab56f09: lines that quote values ("x = 2", "Trace answer: 3") were read as sub-scores, and the
   number after them as the score.
"""

from __future__ import annotations

import pytest

from distill.filter.verify import verify_math
from distill.select.judge import parse_score

# ----------------------------------------------------------------------------- 1. restatements


@pytest.mark.parametrize(
    "reply, gold",
    [
        ("So the probability is 1/6, or about 0.167.", "1/6"),
        ("So the probability is $\\frac{1}{6}$, or about $0.167$.", "1/6"),
        ("So the probability is 1/6 ≈ 0.167.", "1/6"),
        ("So the probability is 1/6 (approximately 16.7%).", "1/6"),
        ("The time taken is 2 hours or 120 minutes.", "2 hours"),
        ("The time taken is 2 hours or 120 minutes.", "2"),
        ("Hence there are 120 arrangements, or 5!.", "120"),
        ("The speed is 5 m/s or 18 km/h.", "5"),
        ("The speed is 5 m/s or 18 km/h.", "5 m/s"),
        ("**The speed is 5 m/s or 18 km/h.**", "5"),
        ("Each side is 12 inches, or 1 foot.", "12"),
        ("The weight is 2 lb, or about 0.9 kg.", "2"),
        ("The area is 4\\pi, or about 12.57 square units.", "4\\pi"),
        # the second writing is the same value: right against a gold written so too
        ("So the probability is 1/6, or about 0.167.", "0.167"),
        ("The time taken is 2 hours or 120 minutes.", "120"),
        ("The speed is 5 m/s or 18 km/h.", "18"),
    ],
)
def test_a_value_restated_in_other_words_is_the_answer(reply, gold):
    assert verify_math(reply, gold) == "correct"


@pytest.mark.parametrize(
    "reply, gold",
    [
        # two values of one quantity: a hedge, right against neither
        ("The speed is 5 m/s or 20 km/h.", "5"),
        ("The speed is 5 m/s or 20 km/h.", "20"),
        ("So the distance is 3 km or 4000 m.", "4000"),
        ("The distance is 5 km or 5 miles.", "5"),
        ("The speed is 5 m/s or 7 m/s.", "7"),
        # not within the rounding it admits, or no value said to be the same
        ("So the probability is 1/6, or about 0.3.", "1/6"),
        ("Hence there are 24 arrangements, or 5!.", "24"),
        ("The area is 4\\pi, or about 14 square units.", "4\\pi"),
        ("So the probability is 1/6 or 1/3.", "1/6"),
        # denied, supposed or hedged: no value given
        ("The probability is not 1/6, or about 0.167.", "1/6"),
        ("Maybe the probability is 1/6, or about 0.167.", "1/6"),
    ],
)
def test_two_values_or_an_unasserted_one_are_not_a_restatement(reply, gold):
    assert verify_math(reply, gold) != "correct"


# ----------------------------------------------------------------------------- 2. denied LaTeX


@pytest.mark.parametrize(
    "reply, gold",
    [
        ("So the ratio is not \\frac{3}{4}.", "3/4"),
        ("So the ratio is not \\frac{3}{4}.", "\\frac{3}{4}"),
        ("Thus the ratio cannot be \\frac{3}{4}.", "3/4"),
        ("Thus the ratio isn't \\frac{3}{4}.", "3/4"),
        ("We cannot have x = \\sqrt{2}.", "\\sqrt{2}"),
    ],
)
def test_a_latex_value_the_reply_denies_is_never_right(reply, gold):
    assert verify_math(reply, gold) != "correct"


@pytest.mark.parametrize(
    "reply, gold",
    [
        ("So the ratio is \\frac{3}{4}.", "3/4"),
        ("We get x = \\sqrt{2}.", "\\sqrt{2}"),
        ("So the ratio is not \\frac{3}{4}, it is \\frac{4}{3}.", "4/3"),
        ("The ratio is not \\frac{3}{4} but \\frac{4}{3}.", "4/3"),
    ],
)
def test_a_latex_value_given_is_still_read(reply, gold):
    assert verify_math(reply, gold) == "correct"


# ----------------------------------------------------------------------------- 3. remarks


@pytest.mark.parametrize(
    "reply, gold",
    [
        ("The total time is 120 minutes, which is 2 hours.", "2"),
        ("So the total is 24, which means each of the 4 friends pays 6.", "6"),
        ("The area of the square is 16, which means the side length is 4.", "4"),
        ("The sum of the roots is 5, which makes the product 6.", "6"),
        ("So the perimeter is 20, which reduces to 10 per half.", "10"),
        ("The speed is 20 m/s, which is 72 km/h.", "72"),
        ("The cost per item is 3, which brings the total to 12.", "12"),
    ],
)
def test_a_which_remark_that_goes_on_to_another_value_reads_that_value(reply, gold):
    assert verify_math(reply, gold) == "correct"


@pytest.mark.parametrize(
    "reply, gold",
    [
        # d4cf173's remarks on the value stated: still the value stated
        ("the minimum is 8, which is not attained at x=0", "8"),
        ("So the minimum is 8, which occurs at x = 2.", "8"),
        ("The number of students is 30, which is 5 more than last year.", "30"),
        ("So the sum is 10, which is divisible by 5.", "10"),
        ("The largest area is 25, which is achieved by a 5 by 5 square.", "25"),
    ],
)
def test_a_which_remark_on_the_value_keeps_it(reply, gold):
    assert verify_math(reply, gold) == "correct"


# ----------------------------------------------------------------------------- 4. brackets


def test_a_dismissal_with_a_bracketed_reason_then_the_value_reads_the_value():
    assert verify_math("The minimum is not 0 (since x > 0), it is 2.", "2") == "correct"
    assert verify_math("The minimum is not 0 (since x > 0), it is 2.", "0") != "correct"


@pytest.mark.parametrize(
    "reply",
    [
        "So x = 2. Note y = 0 is not a solution, so the point is (2, 5).",
        "So x = 2. Then y cannot be 0, so the point is (2, 5).",
    ],
)
def test_a_bracketed_value_after_a_negation_is_no_reason(reply):
    # the reply concludes the point: the x = 2 before it is no answer
    assert verify_math(reply, "2") != "correct"


# ----------------------------------------------------------------------------- 5. judge


@pytest.mark.parametrize(
    "reply",
    [
        "The trace computes:\nx = 2\ny = 3\n5",
        "The student wrote:\na = 3\nb = 4\n7",
        "Trace answer: 3\nReference answer: 3\n3",
        "Trace answer: 12\nReference answer: 15\n2",
        "The answer is correct.\nStep count: 5\nErrors: 0\n9",
    ],
)
def test_quoted_values_are_no_sub_scores(reply):
    assert parse_score(reply)[0] is None


@pytest.mark.parametrize(
    "reply, score",
    [
        ("- correctness: 4/5\n- clarity: 5/5\n9", 9.0),
        ("- correctness: 8/10\n- clarity: 7/10\n8", 8.0),
        ("**Correctness**: 9\n**Clarity**: 8\n\n**8**", 8.0),
        ("Accuracy: 3 out of 5\nClarity: 4 out of 5\n7", 7.0),
    ],
)
def test_sub_scores_then_the_score_alone_still_read(reply, score):
    assert parse_score(reply)[0] == score
