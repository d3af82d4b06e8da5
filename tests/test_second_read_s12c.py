"""Second read of b059692 / 2f56f4d / b3b0870 (s12c): a stated choice letter followed by the
usual explanation of why the other options fail is the answer, not a hedge."""

import pytest

from distill.filter.verify import math_answer_key, verify_math

# ---------------------------------------------------------------- a stated letter, then reasons


@pytest.mark.parametrize(
    "answer",
    [
        "The answer is B.\n\nOption A fails because x must be positive.",
        "**Answer: B**\n\n**Explanation:**\n- (A) is incorrect: it ignores friction.\n"
        "- (C) overstates the force.",
        "The correct answer is **B**.\n\nA and C are wrong: both double count.",
        "Answer: B\n\nThe other options (A, C, D) do not satisfy the condition.",
        "Therefore the answer is B.\n\nWhy not C? Because C counts the corner twice.",
    ],
)
def test_a_stated_letter_then_why_the_others_fail_is_the_answer(answer):
    """2f56f4d took any other choice named after the stated one for a walk-back: the common
    'answer, then why each other option fails' was judged wrong against its own right letter."""
    assert verify_math(answer, "B") == "correct"
    assert math_answer_key(answer) == math_answer_key("The answer is B.")


@pytest.mark.parametrize(
    "answer",
    [
        "The answer is B.\n\nWait... option C works, so C.",
        "Answer: B\n\nActually C.",
        "The answer is B.\n\nOption A fails. Hmm, but then (C) fits better.",
    ],
)
def test_a_letter_walked_back_is_still_a_hedge(answer):
    assert verify_math(answer, "B") == "wrong"
