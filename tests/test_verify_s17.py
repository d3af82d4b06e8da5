"""verify --math on replies the last review found judged wrongly, and their neighbours.

1. "The answer is 2\\sqrt{3} is the answer." read as 2: the restating words made the clause prose
   (no statement) and math-verify's read of the reply took the 2.
2. "x = 2 is the only solution since (x-2)^2 = 0" judged against the 0 math-verify read last: a
   value stated ("X is the answer", "The only solution is X", "So X, since ...") and then
   justified is read as stated. Hedges stay hedges; a reply that goes on to another value
   ("..., so y = 5") states nothing.
3. "3\\sqrt{2} m/s" (a rate after bare LaTeX, or alone) read as 3*sqrt(2)*m/s; "\\," and "\\;"
   (LaTeX spacing) cut a stated expression as a comma would.
"""

from __future__ import annotations

import pytest

from distill.filter.verify import math_answer_key, verify_math

R3, R2 = "2\\sqrt{3}", "3\\sqrt{2}"


@pytest.mark.parametrize(
    "reply",
    [
        "The answer is 2\\sqrt{3} is the answer.",
        "The final answer is 2\\sqrt{3} is the final answer.",
        "The answer is 2\\sqrt{3} is the answer since 12 = (2\\sqrt{3})^2 holds.",
        "2\\sqrt{3} is the answer.",
        "Therefore, $2\\sqrt{3}$ is the final answer.",
        # a reason after a stated expression, no comma before it
        "The answer is 2\\sqrt{3} since (2\\sqrt{3})^2 = 12.",
        "Final answer: 2\\sqrt{3} because 12 = 12",
        "The answer is 2\\sqrt{3} since 3\\sqrt{2} fails.",
    ],
)
def test_a_value_stated_and_restated_or_justified_is_read_as_stated(reply: str) -> None:
    assert verify_math(reply, R3) == "correct"
    assert verify_math(reply, "2") == "wrong"
    assert verify_math(reply, "12") == "wrong"


@pytest.mark.parametrize(
    "reply",
    [
        "x = 2 is the only solution since (x-2)^2 = 0",
        "So $x = 2$ is the only solution, because $(x-2)^2 = 0$.",
        "x = 2 is the only solution. Indeed, (x-2)^2 = 0 forces it.",
        "x = 2 is the only solution to the equation, since (x-2)^2 = 0.",
        "x = -3 is extraneous, so x = 2 is the only solution.",
        "x = 2 is the only solution; x = -3 is extraneous.",
        "The only solution is x = 2 since (x-2)^2 = 0.",
        "The unique solution is $x = 2$, because $(x-2)^2 = 0$.",
        "The only root is 2, since (x-2)^2 = 0.",
        "So x = 2, since (x-2)^2 = 0.",
        "Therefore x = 2 because the discriminant is 0.",
        "\\boxed{2}. So x = 2 is the only solution since (x-2)^2 = 0.",
    ],
)
def test_an_answer_stated_then_justified_is_the_answer(reply: str) -> None:
    assert verify_math(reply, "2") == "correct"
    assert verify_math(reply, "0") == "wrong"
    assert verify_math(reply, "-3") == "wrong"
    assert math_answer_key(reply) == "2"


def test_a_later_statement_is_still_the_answer() -> None:
    reply = "x = 2 is the only solution, so the answer is 7."
    assert verify_math(reply, "7") == "correct"
    assert verify_math("The answer is 5. x = 2 is the only solution since 4 = 4.", "2") == "correct"


@pytest.mark.parametrize(
    "reply",
    [
        "x = 2 is the only solution, but x = 3 also works.",
        "x = 2 is the answer, or x = 3.",
        "x = 2 is the answer. Or maybe x = 3.",
        "Either 2 or 3 is the answer.",
        "2 or 3 is the answer.",
        "x = 2 is the only solution since (x-2)^2 = 0, or x = 3.",
        "So x = 2, since (x-2)^2 = 0, or x = 3.",
        "So x = 2 since (x-2)^2 = 0, but x = 3 also works.",
        "The answer is 2 since 4 = 4, or 3.",
        "The only solution is x = 2 or x = 3.",
    ],
)
def test_two_values_offered_stay_a_hedge(reply: str) -> None:
    assert verify_math(reply, "2") == "wrong"
    assert verify_math(reply, "3") == "wrong"


@pytest.mark.parametrize(
    ("reply", "gold"),
    [
        ("x = 2 is the solution of the first equation, so y = 5.", "5"),
        ("x = 2 is the only solution. Then y = 2x + 1 = 5.", "5"),
        ("The solution is x = 2, so y = 5.", "5"),
        ("The solution is x = 2, and substituting gives y = 5.", "5"),
        ("The solution is 2\\sqrt{3}, so y = 5.", "5"),
        ("So x = 2 since y = 1, so z = 5.", "5"),
        ("So x = 2 since (x-2)^2 = 0. Then y = 5.", "5"),
    ],
)
def test_a_value_on_the_way_to_another_is_not_the_answer(reply: str, gold: str) -> None:
    assert verify_math(reply, gold) == "correct"
    assert verify_math(reply, "2" if "sqrt" not in reply else R3) == "wrong"


@pytest.mark.parametrize(
    "reply",
    [
        "If x = 2 is the answer, then y = 5.",
        "We check whether 2 is the answer: 2^2 = 4, so yes.",
        "x = 2 is a solution, and x = 3 is another.",
    ],
)
def test_a_value_supposed_or_one_of_several_is_not_stated(reply: str) -> None:
    assert verify_math(reply, "2") == "wrong"


@pytest.mark.parametrize(
    "reply",
    [
        "The answer is 3\\sqrt{2} m/s",
        "The answer is 3\\sqrt{2} m/s.",
        "Final answer: 3\\sqrt{2} m/s",
        "The answer is 3\\sqrt{2} m/s^2.",
        "The answer is 3\\sqrt{2} m/s².",
        "The answer is 3\\sqrt{2} rad/s.",
        "The answer is 3\\sqrt{2} meters per second.",
        "The answer is 3\\sqrt{2}\\,\\text{m/s}.",
        "3\\sqrt{2} m/s",
        "3\\sqrt{2} m/s is the answer.",
        "$3\\sqrt{2}$ m/s is the answer.",
        "The answer is 3\\sqrt{2} m/s since v^2 = 18.",
    ],
)
def test_a_rate_after_a_value_is_its_unit(reply: str) -> None:
    assert verify_math(reply, R2) == "correct"
    assert verify_math(reply, "3") == "wrong"


@pytest.mark.parametrize(
    ("reply", "gold"),
    [
        ("12 m/s", "12"),
        ("The answer is \\frac{3}{2} m/s.", "\\frac{3}{2}"),
        ("The answer is 2\\sqrt{3} g/cm^3.", R3),
    ],
)
def test_a_rate_after_other_values_is_its_unit(reply: str, gold: str) -> None:
    assert verify_math(reply, gold) == "correct"


@pytest.mark.parametrize(
    ("reply", "gold"),
    [
        ("The answer is 2\\sqrt{3} x/s.", R3),  # x is no unit
        ("The answer is 2\\pi rh.", "2\\pi"),
        ("2\\pi r", "2\\pi"),
        ("The answer is 3\\sqrt{2} m/s or 4 m/s.", R2),  # a hedge, units or not
    ],
)
def test_what_is_no_unit_still_counts(reply: str, gold: str) -> None:
    assert verify_math(reply, gold) == "wrong"


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        ("The answer is 2\\sqrt{3} is the answer.", R3),
        ("x = 2 is the only solution since (x-2)^2 = 0", "2"),
        ("3\\sqrt{2} m/s", R2),
        ("The answer is 3\\sqrt{2} m/s.", R2),
    ],
)
def test_filter_verify_math_keeps_the_reported_replies(answer: str, gold: str) -> None:
    # the record-level entry point `distill filter --verify math` calls for each trace
    from distill.filter.verify import judge

    rec = {"answer": answer, "gold": gold, "messages": [{"role": "user", "content": "Solve."}]}
    assert judge(rec, "math") == ("correct", None)


@pytest.mark.parametrize(
    ("reply", "gold", "verdict"),
    [
        # a boxed value with its rate: read as 3*sqrt(2)*m/s, wrong against 3\sqrt{2}
        ("\\boxed{3\\sqrt{2} m/s}", R2, "correct"),
        ("\\boxed{4 m/s}", R2, "wrong"),
        # a gold with its rate: math-verify read it as 3*sqrt(2)*m/s, which the answer (its unit
        # dropped as it is read) was not
        ("The answer is 3\\sqrt{2} m/s.", "3\\sqrt{2} m/s", "correct"),
        ("\\boxed{3\\sqrt{2}}", "\\boxed{3\\sqrt{2} m/s}", "correct"),
        ("\\boxed{3\\sqrt{2} m/s}", "3\\sqrt{2} m/s", "correct"),
        ("\\boxed{4}", "3\\sqrt{2} m/s", "wrong"),
        ("\\boxed{2\\pi r}", "2\\pi", "wrong"),
    ],
)
def test_a_rate_in_a_box_or_in_the_gold_is_its_unit(reply: str, gold: str, verdict: str) -> None:
    assert verify_math(reply, gold) == verdict


def test_a_value_and_its_rate_vote_as_the_value() -> None:
    assert math_answer_key("\\boxed{3\\sqrt{2} m/s}") == math_answer_key(
        "The answer is 3\\sqrt{2}."
    )
