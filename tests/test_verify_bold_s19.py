"""A stated answer in markdown bold with a remark in brackets after it ('The answer is **5** (see
above).', Qwen/Llama chat style) read '5**': wrong against 5, its maj@k vote split from '5'."""

from __future__ import annotations

import pytest

from distill.filter.verify import math_answer_key, verify_math


@pytest.mark.parametrize(
    "reply, gold",
    [
        ("The answer is **5** (see above).", "5"),
        ("Therefore, the answer is **5** (not 7).", "5"),
        ("The answer is **\\frac{1}{2}** (half).", "\\frac{1}{2}"),
        ("The final answer is **12** (twelve apples).", "12"),
    ],
)
def test_a_bold_stated_answer_with_a_remark_after_it_reads_its_value(reply, gold):
    assert verify_math(reply, gold) == "correct"
    assert "*" not in math_answer_key(reply)


def test_the_value_set_aside_in_the_remark_stays_wrong():
    assert verify_math("Therefore, the answer is **5** (not 7).", "7") == "wrong"
