"""verify --math / --choice on replies the last review found judged wrongly.

1. "The answer is 0.5 or 1/3." was right against 0.5: a fraction offered with "or" after a plain
   number was not read as a second value (a hedge). "1/2 or 0.5" stays one value.
2. "(x-2)(x-3) = 0, so x = 2 or x = 3." was right against 3: the equation's operands were taken
   for the first value, and the hedge after them was missed.
3. "The answer is 2\\sqrt{3} cm." was wrong against 2\\sqrt{3}: the unit read as prose.
4. Under --verify choice, "The answer is 5 (option B)." was no_answer against B.
"""

from __future__ import annotations

import pytest

from distill.filter.verify import choice_key, verify_choice, verify_math


@pytest.mark.parametrize(
    "reply",
    [
        "The answer is 0.5 or 1/3.",
        "The answer is 0.5, or 1/3.",
        "The answer is 0.5, or maybe 1/3.",
        "\\boxed{0.5} or 1/3.",
    ],
)
def test_a_fraction_offered_after_a_number_is_a_hedge(reply: str) -> None:
    assert verify_math(reply, "0.5") == "wrong"
    assert verify_math(reply, "1/3") == "wrong"


@pytest.mark.parametrize(
    ("reply", "gold"),
    [
        ("The answer is 1/2 or 0.5.", "1/2"),
        ("The answer is 0.5 or 1/2.", "1/2"),
        ("The answer is 0.5 or 1/2.", "0.5"),
        ("The answer is 0.75, or 3/4.", "3/4"),
    ],
)
def test_one_value_written_twice_is_no_hedge(reply: str, gold: str) -> None:
    assert verify_math(reply, gold) == "correct"


@pytest.mark.parametrize(
    "reply",
    [
        "(x-2)(x-3) = 0, so x = 2 or x = 3.",
        "x^2 - 5x + 6 = 0, so x = 2 or x = 3.",
        "We get (x-2)(x-3) = 0, hence x = 2 or x = 3.",
    ],
)
def test_a_hedge_after_an_equation_is_a_hedge(reply: str) -> None:
    assert verify_math(reply, "3") == "wrong"
    assert verify_math(reply, "2") == "wrong"
    assert verify_math(reply, "2, 3") == "correct"


def test_one_value_after_an_equation_is_still_read() -> None:
    assert verify_math("(x-2)(x-3) = 0, so x = 3.", "3") == "correct"
    assert verify_math("2 + 3 = 5, but 6 also works.", "5") == "wrong"


@pytest.mark.parametrize(
    ("reply", "gold"),
    [
        ("The answer is 2\\sqrt{3} cm.", "2\\sqrt{3}"),
        ("The answer is 2\\sqrt{3} cm", "2\\sqrt{3}"),
        ("The final answer is 4\\pi square units.", "4\\pi"),
        ("The answer is 3\\sqrt{2} meters.", "3\\sqrt{2}"),
        ("The answer is 12 cm.", "12"),
    ],
)
def test_a_unit_after_an_expression_is_units(reply: str, gold: str) -> None:
    assert verify_math(reply, gold) == "correct"


def test_a_unit_does_not_hide_a_wrong_value() -> None:
    assert verify_math("The answer is 2\\sqrt{3} cm.", "2") == "wrong"
    assert verify_math("The answer is 2\\sqrt{3} cm.", "3\\sqrt{2}") == "wrong"


@pytest.mark.parametrize(
    "reply",
    [
        "The answer is 5 (option B).",
        "The answer is 5 (choice B).",
        "The answer is $2.5$ (option B).",
        "Answer: 5 (B)",
    ],
)
def test_the_option_named_after_a_value_is_the_choice(reply: str) -> None:
    assert verify_choice(reply, "B") == "correct"
    assert verify_choice(reply, "C") == "wrong"
    assert choice_key(reply) == "B"


def test_an_option_named_after_a_value_can_still_be_hedged() -> None:
    assert verify_choice("The answer is 5 (option B). But C also works.", "B") == "wrong"
