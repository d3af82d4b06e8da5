"""Session 19: a value stated, then another set aside ("x = 4, not 6"); units hiding a hedge.

1. A reply with no box or statement whose last sentence gives a value and then sets another
   aside (", not Y", "(not Y)", "rather than Y", "instead of Y", "and not Y", "— not Y", "，不是Y",
   or a sentence "Not Y." of its own) was read as its last value, Y: 'Thus x = 4, not 6 (6 is too
   large).' was wrong against 4 and right against 6, and voted 6 under maj@k. Now the value given
   is read, and Y gets no vote. 'not only 4 but also 6' (both: a hedge) and 'either 4 or 6' are
   no such aside; 'X is not 6, but 4' reads 4, 'The answer is not 6, but 4.' too (math-verify's
   read took the 6 after 'The answer is').
2. 'The answer is 5 m/s or 7 m/s.' was read as 5 (the unit hid the 7 offered): right against 5,
   where the same sentence without 'The answer is' is a hedge. Now a hedge as that one is (two
   values in one unit, or two of one quantity: '5 m/s or 20 km/h'); a value restated ('2 hours or
   120 minutes', '1/6, or about 0.167') is still one answer.

    .venv/bin/python -m pytest tests/test_verify_not_s19.py -q -p no:xdist
"""

from __future__ import annotations

import pytest

from distill.filter.verify import math_answer_key, verify_math

R1 = (
    "<think>\nThe equation simplifies to x^2 - 10x + 24 = 0, so (x-4)(x-6) = 0, and x must be "
    "less than 5.\n</think>\n\n"
)

# ----------------------------------------------------------------------- 1. a value set aside

SET_ASIDE = [
    ("Thus x = 4, not 6 (6 is too large).", "4", "6"),
    (R1 + "Thus x = 4, not 6 (6 is too large).", "4", "6"),
    (R1 + "So x = 4, not 6, because 6 violates the constraint x < 5.", "4", "6"),
    (R1 + "Therefore, $x = 4$, not $x = 6$.", "4", "6"),
    ("The speed is 5 m/s, not 7 m/s.", "5", "7"),
    ("So the height is 10 m, not 12 m.", "10", "12"),
    ("So the area is 24 cm^2, not 48 cm^2 (I forgot the 1/2).", "24", "48"),
    ("x = 4 (not 6)", "4", "6"),
    ("So x = 4 (not 6).", "4", "6"),
    ("Hence, the minimum is 8 (not 9, since 9 would need x = 3).", "8", "9"),
    ("So x is 4, rather than 6.", "4", "6"),
    ("So the smaller root is 4 rather than 6.", "4", "6"),
    ("So we take x = 4 instead of 6.", "4", "6"),
    ("So x is 4 and not 6.", "4", "6"),
    ("So x = 4, but not 6.", "4", "6"),
    ("It is 4 — not 6.", "4", "6"),
    ("所以x=4，不是6。", "4", "6"),
    ("So 4 is the answer, not 6.", "4", "6"),
    ("So x = 4, not 6 or 8.", "4", "8"),
    ("It is 4, not 6, and not 8.", "4", "8"),
    ("So we get 7. Not 8.", "7", "8"),
    ("So the probability is \\frac{1}{6}, not \\frac{1}{3}.", "\\frac{1}{6}", "\\frac{1}{3}"),
    ("Thus $\\theta = 60^\\circ$ (not $120^\\circ$).", "60", "120"),
    ("Since lengths are positive, the side is 5, not -5.", "5", "-5"),
    ("So there are 8 solutions, not 4 as the naive count suggests.", "8", "4"),
    ("The remainder when $2^{10}$ is divided by 7 is 2, not 4.", "2", "4"),
    # the reason's own value (60) was read where it ends the sentence with a unit
    ("The time is 2 hours, not 3 hours, because the speed is 60 km/h.", "2", "3"),
    ("Thus f(2) = 4, not 2.", "4", "2"),
]


@pytest.mark.parametrize("reply, given, aside", SET_ASIDE)
def test_the_value_given_is_read_not_the_one_set_aside(reply, given, aside):
    assert verify_math(reply, given) == "correct"
    assert verify_math(reply, aside) == "wrong"


@pytest.mark.parametrize(
    "reply, given",
    [
        ("Thus x = 4, not 6 (6 is too large).", "4"),
        ("The speed is 5 m/s, not 7 m/s.", "5"),
        ("So x = 4 (not 6).", "4"),
        ("So x is 4, rather than 6.", "4"),
        ("So we get 7. Not 8.", "7"),
    ],
)
def test_the_value_set_aside_gets_no_vote(reply, given):
    # maj@k: the reply votes with the replies that give the value, never for the one set aside
    assert math_answer_key(reply) == math_answer_key(f"\\boxed{{{given}}}")


@pytest.mark.parametrize(
    "reply, right, wrong",
    [
        ("So the answer is 4, not 6.", "4", "6"),
        ("The answer is \\boxed{4}, not 6.", "4", "6"),
        ("答案是4，不是6。", "4", "6"),
        ("The answer is 5 m/s, not 7 m/s.", "5", "7"),
        ("X is not 6, but 4.", "4", "6"),
        ("So x is not 6, but 4.", "4", "6"),
        # math-verify's read of the reply took the 6 after "The answer is"
        ("The answer is not 6, but 4.", "4", "6"),
        ("x is not 6 but rather 4.", "4", "6"),
        ("So the speed is not 7 m/s, but 5 m/s.", "5", "7"),
        ("答案不是6，而是4。", "4", "6"),
    ],
)
def test_a_value_stated_or_given_after_a_denial_is_read(reply, right, wrong):
    assert verify_math(reply, right) == "correct"
    assert verify_math(reply, wrong) != "correct"


@pytest.mark.parametrize(
    "reply",
    [
        "So x is not only 4 but also 6.",
        "So x is either 4 or 6.",
        "So x = 4 or x = 6.",
    ],
)
def test_values_offered_together_stay_a_hedge(reply):
    assert verify_math(reply, "4") == "wrong"
    assert verify_math(reply, "6") == "wrong"


@pytest.mark.parametrize(
    "reply, gold",
    [
        ("If x = 4, not 6, then the product is 24.", "24"),
        ("The number of integers not exceeding 100 is 100.", "100"),
        ("There are 6 ways, not including rotations.", "6"),
        ("So the minimum is 8, attained at x = 3, not at x = 0.", "8"),
        ("So x = 3, not x = 0, gives the minimum 8.", "8"),
        ("The answer should be 42, not 24 as I had initially.", "42"),
        ("Therefore, the length is 12 cm rather than 12 m.", "12"),
        ("So x = 7. It cannot be 9, since 9 is odd.", "7"),
    ],
)
def test_replies_that_set_nothing_aside_read_as_before(reply, gold):
    assert verify_math(reply, gold) == "correct"


def test_a_value_after_the_aside_is_no_value_given():
    # "x = 4, not 6, and y = 3": the reply goes on to y; never read as 4 set against 6, nor 6
    reply = "So x = 4, not 6, and y = 3."
    assert verify_math(reply, "6") == "wrong"
    assert verify_math(reply, "3") == "correct"


# ----------------------------------------------------------------------- 2. units hiding a hedge

UNIT_HEDGES = [
    ("The answer is 5 m/s or 7 m/s.", "5", "7"),
    ("Final answer: 5 m/s or 7 m/s", "5", "7"),
    ("The answer is $5$ m/s or $7$ m/s.", "5", "7"),
    ("The answer is 5 m/s (or 7 m/s).", "5", "7"),
    ("The final answer is 5 m/s or 7 m/s, depending on the frame.", "5", "7"),
    ("The answer is 5 cm or 7 cm.", "5", "7"),
    ("The answer is 2 hours or 2.5 hours.", "2", "2.5"),
    ("答案是5 m/s或7 m/s。", "5", "7"),
    ("The answer is 5 m/s or 20 km/h.", "5", "20"),
    ("The answer is 3 km or 4000 m.", "3", "4000"),
]


@pytest.mark.parametrize("reply, first, second", UNIT_HEDGES)
def test_two_values_stated_in_units_are_a_hedge(reply, first, second):
    assert verify_math(reply, first) == "wrong"
    assert verify_math(reply, second) == "wrong"
    # as without "The answer is"
    bare = reply.replace("The answer is", "The speed is")
    if bare != reply:
        assert verify_math(bare, first) == "wrong"


@pytest.mark.parametrize(
    "reply, gold",
    [
        ("The answer is 2 hours or 120 minutes.", "2"),
        ("The answer is 2 hours or 120 minutes.", "120"),
        ("The answer is 1/6, or about 0.167.", "1/6"),
        ("The answer is 5 m/s or 18 km/h.", "5"),
        ("The answer is 100 cm, or 1 m.", "100"),
        ("The answer is 2 hours, i.e., 120 minutes.", "2"),
        ("The answer is 1500, or 1.5 thousand.", "1500"),
        ("The answer is 5 m/s, since 35 m in 7 s gives 5 m/s.", "5"),
    ],
)
def test_a_value_restated_is_still_one_answer(reply, gold):
    assert verify_math(reply, gold) == "correct"
