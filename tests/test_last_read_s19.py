"""Session 19, last read of the second reads' fixes (e051ee9 verify's restatements and remarks).

1. e051ee9 read a value restated in "X or Y" as X, right against either writing, where Y is X
   "within the rounding its places admit", a whole number too: "So the median is 15.5 or 16."
   (two answers, a hedge) was right against 15.5 and against 16, "Thus x is 10.4 or 10." against
   10. A whole number restates a value that is not one only where the reply says it is about it.
2. e051ee9 read the last value of "X, which is Y" (the remark going on to another value): where
   Y is X again ("So the probability is 1/6, which is about 0.167.", "...$\\frac{\\sqrt{3}}{2}$,
   which is approximately 0.866.", "120, which equals 5!.", "84, which is $2^2 \\cdot 3 \\cdot
   7$.") the right answer X was wrong or no answer (d4cf173 had read X); "which comes from 3 + 4"
   read the 4. Now Y restating X reads X, right against Y's writing too (as "X, or about Y").

    .venv/bin/python -m pytest tests/test_last_read_s19.py -q -p no:xdist
"""

from __future__ import annotations

import pytest

from distill.filter.verify import verify_math

# ----------------------------------------------------------------------- 1. whole-number rounding

TWO_ANSWERS = [
    ("So the median is 15.5 or 16.", "16"),
    ("So the median is 15.5 or 16.", "15.5"),
    ("Thus x is 10.4 or 10.", "10"),
    ("The area is 25.9 or 25.", "25"),
    ("So they need 12.5 or 13 buses.", "12.5"),
]


@pytest.mark.parametrize("reply, gold", TWO_ANSWERS)
def test_a_value_or_a_whole_number_near_it_is_a_hedge(reply, gold):
    assert verify_math(reply, gold) != "correct"


@pytest.mark.parametrize(
    "reply, gold",
    [
        ("The mean is 15.5, or about 16.", "15.5"),
        ("The mean is 15.5, or about 16.", "16"),
        ("So the probability is 1/6, or 0.17.", "1/6"),
        ("So the probability is 2/3, or 67%.", "2/3"),
        ("Hence there are 120 arrangements, or 5!.", "120"),
    ],
)
def test_a_value_rounded_as_the_reply_says_is_still_a_restatement(reply, gold):
    assert verify_math(reply, gold) == "correct"


# ----------------------------------------------------------------------- 2. "which" restating

RESTATED_BY_REMARK = [
    ("So the probability is 1/6, which is about 0.167.", "1/6"),
    ("So the probability is 1/6, which is about 0.167.", "\\frac{1}{6}"),
    ("So the probability is 1/6, which is approximately 0.17.", "1/6"),
    ("The value is $\\frac{\\sqrt{3}}{2}$, which is approximately 0.866.", "\\frac{\\sqrt{3}}{2}"),
    ("So x = 1/3, which is 0.333...", "1/3"),
    ("Thus the total is 120, which equals 5!.", "120"),
    ("The number of arrangements is 720, which is 6!.", "720"),
    ("The number is 84, which is $2^2 \\cdot 3 \\cdot 7$.", "84"),
    ("So n = 84, which is 2^2 \\cdot 3 \\cdot 7.", "84"),
    ("The perimeter is 20 cm, which is 0.2 m.", "20"),
    ("The total time is 120 minutes, which is 2 hours.", "120"),
    ("So the count is 7, which comes from 3 + 4.", "7"),
]


@pytest.mark.parametrize("reply, gold", RESTATED_BY_REMARK)
def test_a_which_remark_that_says_the_value_again_keeps_it(reply, gold):
    assert verify_math(reply, gold) == "correct"


@pytest.mark.parametrize(
    "reply, gold",
    [
        # the remark's writing is right too, as "1/6, or about 0.167" is
        ("So the probability is 1/6, which is about 0.167.", "0.167"),
        ("The total time is 120 minutes, which is 2 hours.", "2"),
        ("The speed is 20 m/s, which is 72 km/h.", "72"),
        # e051ee9's remarks that go on to another value: still that value
        ("So the total is 24, which means each of the 4 friends pays 6.", "6"),
        ("The sum of the roots is 5, which makes the product 6.", "6"),
        ("The cost per item is 3, which brings the total to 12.", "12"),
    ],
)
def test_the_remarks_own_value_still_reads(reply, gold):
    assert verify_math(reply, gold) == "correct"


@pytest.mark.parametrize(
    "reply, gold",
    [
        ("The speed is 5 m/s, which is 20 km/h.", "5"),  # no conversion: the 20 read, no hedge
        ("So the total is 24, which means each of the 4 friends pays 6.", "24"),
        ("The probability is not 1/6, which is about 0.167.", "1/6"),
        ("If the probability is 1/6, which is about 0.167, then we are done.", "1/6"),
    ],
)
def test_a_remark_on_another_value_or_a_denied_one_is_no_restatement(reply, gold):
    assert verify_math(reply, gold) != "correct"


# ----------------------------------------------------------------------- 3. a negation elsewhere

# e051ee9's denied bare LaTeX ("We cannot have x = \\sqrt{2}.") took a negation anywhere in the
# clause before the value for its denial: the value a geometry reply ends with was wrong or no
# answer where the sentence names what it measures by a negation
NEGATION_ON_ANOTHER_THING = [
    ("The area not covered by the circle is 4 - \\pi.", "4 - \\pi"),
    ("So the area not shaded is 16 - 4\\pi.", "16 - 4\\pi"),
    ("The region not covered is 100 - 25\\pi.", "100 - 25\\pi"),
    ("The length of the part that is not painted is 3\\sqrt{2}.", "3\\sqrt{2}"),
    ("Since the side cannot be negative the side is 2\\sqrt{3}.", "2\\sqrt{3}"),
    ("Since x is not negative we get x = \\sqrt{2}.", "\\sqrt{2}"),
]


@pytest.mark.parametrize("reply, gold", NEGATION_ON_ANOTHER_THING)
def test_a_negation_on_something_else_denies_no_latex_value(reply, gold):
    assert verify_math(reply, gold) == "correct"


@pytest.mark.parametrize(
    "reply, gold",
    [
        ("We cannot have x = \\sqrt{2}.", "\\sqrt{2}"),
        ("We can never have x = \\sqrt{2}.", "\\sqrt{2}"),
        ("So x can't be \\sqrt{2}.", "\\sqrt{2}"),
        ("So the answer is not x = \\sqrt{2}.", "\\sqrt{2}"),
        ("Thus the ratio cannot be \\frac{3}{4}.", "3/4"),
        ("So we do not get x = \\sqrt{2}.", "\\sqrt{2}"),
    ],
)
def test_a_latex_value_denied_is_still_never_right(reply, gold):
    assert verify_math(reply, gold) != "correct"


# ----------------------------------------------------------------------- 4. a bracketed reason

# e051ee9 took any bracket opening with a number for a value ("so the point is (2, 5)"), never
# the reason a dismissal gives: "It cannot be 9 (9 is odd)." read the 9 in its reason as the
# value going on, the dismissal undone, and the 9 set aside was right (d4cf173: no answer)
DISMISSED_WITH_A_BRACKETED_REASON = [
    ("It cannot be 9 (9 is odd).", "9"),
    ("So x is not 3 (3 makes the denominator zero).", "3"),
    ("The answer cannot be -2 (-2 is negative).", "-2"),
]


@pytest.mark.parametrize("reply, gold", DISMISSED_WITH_A_BRACKETED_REASON)
def test_a_value_dismissed_with_a_bracketed_reason_is_never_right(reply, gold):
    assert verify_math(reply, gold) != "correct"


@pytest.mark.parametrize(
    "reply, gold",
    [
        ("It cannot be 9 (9 is odd), so it is 8.", "8"),
        ("The answer is not 3 (3 fails), it is 5.", "5"),
        ("The minimum is not 0 (since x > 0), it is 2.", "2"),
    ],
)
def test_the_value_after_a_bracketed_reason_is_read(reply, gold):
    assert verify_math(reply, gold) == "correct"


# ----------------------------------------------------------------------- 5. judge sub-scores

# bd8e981 took a sub-score line whose label ends with answer, steps, solution, result, ... for a
# value the judge quotes ("Trace answer: 3"), on a scale too: a rubric's "Final answer: 5/5" or
# "Reasoning steps: 8/10" ended the sub-scores, so the overall score after them was no score, or
# the last sub-score was read instead (7 for 8, 10 for 9)
RUBRICS = [
    ("- Correctness of the final answer: 5/5\n- Clarity of steps: 4/5\n9", 9.0),
    ("- Final answer: 5/5\n- Reasoning: 4/5\n9", 9.0),
    ("Logical steps: 8/10\nFinal answer: 10/10\n9", 9.0),
    ("Correctness: 9/10\nCompleteness: 8/10\nEfficiency of solution: 7/10\n8", 8.0),
    ("Correct answer: 10/10\nClear steps: 8 out of 10\n9", 9.0),
    ("Criterion A: 4/5\nCriterion B: 5/5\n9", 9.0),
]


@pytest.mark.parametrize("reply, score", RUBRICS)
def test_a_rubric_criterion_on_a_scale_is_a_sub_score_whatever_its_name(reply, score):
    from distill.select.judge import parse_score

    assert parse_score(reply)[0] == score


@pytest.mark.parametrize(
    "reply",
    [
        "The trace computes:\nx = 3/4\ny = 1/2\n5",  # a variable's value: never a sub-score
        "Trace answer: 3\nReference answer: 3\n3",
        "The answer is correct.\nStep count: 5\nErrors: 0\n9",
    ],
)
def test_quoted_values_are_still_no_sub_scores(reply):
    from distill.select.judge import parse_score

    assert parse_score(reply)[0] is None
