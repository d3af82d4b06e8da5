"""1bd9b8c read any one word after a stated LaTeX expression as its unit, so a variable or a word
that changes the value was dropped: 'The answer is 2\\pi rh' was right against 2\\pi, '2\\sqrt{3}
squared' against 2\\sqrt{3}. Only known units are dropped now."""

from __future__ import annotations

import pytest

from distill.filter.verify import verify_math


@pytest.mark.parametrize(
    ("reply", "gold"),
    [
        ("The answer is 2\\pi rh.", "2\\pi"),
        ("The answer is 2\\sqrt{3} squared.", "2\\sqrt{3}"),
        ("The answer is 2\\sqrt{3} hundred.", "2\\sqrt{3}"),
        ("The answer is \\sqrt{2} mn.", "\\sqrt{2}"),
    ],
)
def test_a_word_that_is_no_unit_is_not_dropped(reply: str, gold: str) -> None:
    assert verify_math(reply, gold) != "correct"


@pytest.mark.parametrize(
    ("reply", "gold"),
    [
        ("The answer is 4\\pi cm^2.", "4\\pi"),
        ("The answer is 2\\sqrt{3} inches.", "2\\sqrt{3}"),
        ("The answer is 5\\pi square feet.", "5\\pi"),
    ],
)
def test_known_units_are_still_units(reply: str, gold: str) -> None:
    assert verify_math(reply, gold) == "correct"
