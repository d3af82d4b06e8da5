"""Second read of e7e38ec / b0740eb (s12d): a stated letter followed by another option offered
("Alternatively, C", "Or C.") is a hedge."""

import pytest

from distill.filter.verify import verify_math

# ---------------------------------------------------------------- another option offered


@pytest.mark.parametrize(
    "answer",
    [
        "The answer is B.\n\nAlternatively, C could also be correct.",
        "The answer is B.\n\nOr C.",
        "Answer: B\n\nThen again, D fits too.",
        "The answer is B.\n\nOn reflection, (C) is better.",
    ],
)
def test_a_letter_then_another_option_offered_is_a_hedge(answer):
    """e7e38ec made a later letter a hedge only after its walk-back words, which had none of
    these: each answer above, right letter B hedged with another, was judged correct."""
    assert verify_math(answer, "B") == "wrong"


@pytest.mark.parametrize(
    "answer",
    [
        "The answer is B.\n\nHmm, let me double check: yes B.",
        "The answer is B.\n\nOption A or C would need x < 0, which it is not.",
        "The answer is B.\n\nWhy not the others? A is wrong; (C) overstates it.",
    ],
)
def test_a_letter_then_its_check_or_reasons_is_the_answer(answer):
    assert verify_math(answer, "B") == "correct"
