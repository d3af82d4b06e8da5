"""verify --math, review of bdc1261 (values stated then justified, rates as units).

1. A gold's unit was dropped only as `_UNIT_AFTER` reads it ("4 m/s"), an answer's only where
   the answer is read through it: a right answer was wrong where the two are written apart
   ("\\boxed{4 m/s}" against "4m/s", "$4 m/s$" against "4 m/s"); both were right before.
2. A sentence after "x = 2 is the only solution" that opens with a check word ("Substituting",
   "Plugging in", "Given", "Note") or "As a result" was read as a check, whatever it went on to:
   "... Substituting, y = 2x + 1 = 5." judged 2 (right against 2, wrong against the 5 asked).
3. A value offered beside the one stated, in its reason ("since 3 also works") or as "could
   also be 3", was no hedge: "2 is the answer, which could also be 3." right against 2.
4. Any two of the letters m, s, g, h, L over one another were a rate, a unit dropped: the
   pendulum's "4\\pi^2 L/g" was 4\\pi^2, right against an answer of 4\\pi^2.
"""

from __future__ import annotations

import pytest

from distill.filter.verify import judge, verify_math


def judged(answer: str, gold: str) -> str | None:
    # the record-level entry point `distill filter --verify math` calls for each trace
    rec = {"answer": answer, "gold": gold, "messages": [{"role": "user", "content": "Solve."}]}
    return judge(rec, "math")[0]


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        # the gold's unit written with no space, as a fraction or a product: not dropped
        ("\\boxed{4 m/s}", "4m/s"),
        ("The answer is 4 m/s.", "4m/s"),
        ("4 m/s", "4m/s"),
        ("\\boxed{4 m/s^2}", "4m/s^2"),
        ("\\boxed{4 km/h}", "4km/h"),
        ("\\boxed{4 m/s}", "4 \\frac{m}{s}"),
        ("\\boxed{4 m/s}", "4\\frac{m}{s}"),
        ("\\boxed{4 m/s}", "4 m s^{-1}"),
        ("\\boxed{3\\sqrt{2} m/s}", "3\\sqrt{2}m/s"),
        # the gold's dropped, the answer's kept (inline maths, no space, a fraction)
        ("The answer is $4 m/s$.", "4 m/s"),
        ("The answer is $4 m/s^2$.", "4 m/s^2"),
        ("\\boxed{4m/s}", "4 m/s"),
        ("\\boxed{4\\frac{m}{s}}", "4 m/s"),
        ("\\boxed{4g/cm^3}", "4 g/cm^3"),
        ("The answer is 4km/h.", "4 km/h"),
        ("\\boxed{\\frac{4\\pi^2 L}{g}}", "4\\pi^2 L/g"),
    ],
)
def test_a_right_value_with_its_unit_is_right_however_the_unit_is_written(answer, gold):
    assert judged(answer, gold) == "correct"


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        ("\\boxed{5 m/s}", "4m/s"),
        ("The answer is $5 m/s$.", "4 m/s"),
        ("\\boxed{5}", "4 \\frac{m}{s}"),
        ("\\boxed{4}", "4 x/s"),  # x is no unit
        ("\\boxed{6}", "6x/s"),
        # variables divided, no unit: only m/s is a rate of two letters
        ("\\boxed{4\\pi^2}", "4\\pi^2 L/g"),
        ("The answer is 4\\pi^2 L/g.", "4\\pi^2"),
        ("\\boxed{4\\pi^2 L/g}", "4\\pi^2"),
        ("\\boxed{2}", "2 h/g"),
        ("\\boxed{2}", "2\\frac{L}{g}"),
    ],
)
def test_a_wrong_value_or_no_unit_stays_wrong(answer, gold):
    assert judged(answer, gold) == "wrong"


@pytest.mark.parametrize(
    "reply",
    [
        "x = 2 is the only solution. Substituting, y = 2x + 1 = 5.",
        "x = 2 is the only solution. As a result, y = 5.",
        "x = 2 is the only solution. Given that, y = 5.",
        "x = 2 is the only solution. Given x = 2, the area is 5.",
        "x = 2 is the only solution. Plugging in, the area is 5.",
        "x = 2 is the only solution. Verifying, the perimeter is x + 3 = 5.",
        "x = 2 is the only solution. Note that the question asks for x + 3 = 5.",
        "So x = 2, since (x-2)^2 = 0. Substituting, y = 5.",
    ],
)
def test_a_sentence_that_goes_on_to_another_quantity_is_no_check(reply):
    assert judged(reply, "2") == "wrong"
    assert judged(reply, "5") == "correct"


@pytest.mark.parametrize(
    "reply",
    [
        "x = 2 is the only solution. Checking: (2-2)^2 = 0.",
        "x = 2 is the only solution. Substituting x = 2 back into the equation, 4 - 4 = 0.",
        "x = 2 is the only solution. Plugging in, the left side is 4 - 4 = 0.",
        "x = 2 is the only solution. Note that x = -3 is extraneous.",
        "x = 2 is the only solution. As (x-2)^2 = 0, no other root exists.",
        "So x = 2, since (x-2)^2 = 0. Substituting, 4 - 4 = 0.",
    ],
)
def test_a_check_of_the_value_stated_still_reads_it(reply):
    assert judged(reply, "2") == "correct"


@pytest.mark.parametrize(
    "reply",
    [
        "2 is the answer, which could also be 3.",
        "2 is the answer, but it could also be 3.",
        "2 is the answer since 3 also works.",
        "2 is the answer because 3 works too.",
        "So x = 2, since 3 also works.",
        "x = 2 is the only solution since x = 3 also satisfies it.",
        "The answer is 2, which could also be 3.",
        "The answer is 2 since 3 also works.",
        "\\boxed{2}, but it could also be 3.",
        "\\boxed{2} since 3 also works.",
    ],
)
def test_a_value_offered_beside_the_one_stated_is_a_hedge(reply):
    assert judged(reply, "2") == "wrong"
    assert judged(reply, "3") == "wrong"
    assert verify_math(reply, "2, 3") == "correct"


@pytest.mark.parametrize(
    ("reply", "gold"),
    [
        ("The answer is 0.5, which could also be written as 1/2.", "1/2"),
        ("The answer is 2 since 2 also satisfies the second equation.", "2"),
        ("The answer is 2; it could not be 3.", "2"),
        ("The answer is 3, since 2 + 2 = 4 would give 4.", "3"),
        ("x = 3 is the only solution since x = 4 is extraneous.", "3"),
    ],
)
def test_the_same_value_again_or_one_set_aside_is_no_hedge(reply, gold):
    assert judged(reply, gold) == "correct"
