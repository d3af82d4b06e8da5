"""verify --math / --verify choice and maj@k, second read of 61aab28 (the expression after the
last "the answer is", "so is C", derived values, labelled parts, conditional "or" hedges).

1. "The answer is 3k + 1." was read as "3k" (the "2k" thousands rule): right against 3k.
2. "0.5 (or 50 if expressed as a percentage)", "2 hours, or 120 when converted to minutes": the
   answer in other units was read as a conditional hedge, wrong.
3. "The answer is x = 3, so x^2 = 9." was judged 9 (wrong against 3), and a system checked after
   its solution ("x = 3, y = 4, so x + y = 7") was judged 7, wrong against "x=3, y=4" or "(3,4)".
4. "答案是12（十二）。" was read as the product 12*十二: wrong against 12.
5. "Option C is wrong. So is D.", "C is too large; same for D.", "so does the temperature at
   point C": an option dismissed, or physics, read as a second answer (a right choice wrong).
6. The expression after "the answer is": "(2, 3)" was read as "(2"; "2\\pi, or 4\\pi" and
   "2\\pi. But 4\\pi also works." were right against 2\\pi; "1/2 or 0.5" was a hedge;
   "2\\sqrt{3} (approximately 3.46)" was wrong; "**Final Answer**\\n2\\sqrt{3}" was not read.
7. "So x = 2 or x = 3." (no box, no statement) was wrong against "2, 3": judged on its last value.
8. "(a) \\boxed{12}\\n(b) \\boxed{13}" was read as its last box: wrong against "12, 13".
"""

from __future__ import annotations

import pytest

from distill.filter.verify import math_answer_key, verify_choice, verify_math
from tests.test_verify_reads_s16 import read_in_seconds


def test_an_operation_on_2k_is_no_thousands() -> None:
    assert verify_math("The answer is 3k + 1.", "3k") == "wrong"
    assert verify_math("The answer is 3k + 1.", "3k+1") == "correct"
    assert verify_math("The answer is 6k+1.", "6k+1") == "correct"
    assert math_answer_key("The answer is 2k - 1.") == math_answer_key("\\boxed{2k-1}")
    # "2k" on its own is still 2000 restated
    assert verify_math("The answer is 2k, or 2000.", "2000") == "correct"
    assert verify_math("The answer is 2k, or 2000.", "2") == "wrong"


@pytest.mark.parametrize(
    ("reply", "gold"),
    [
        ("The answer is 0.5 (or 50 if expressed as a percentage).", "0.5"),
        ("The answer is 0.5 (or 50 when written in percent).", "0.5"),
        ("The answer is 2 hours, or 120 when converted to minutes.", "2"),
    ],
)
def test_the_answer_in_other_units_is_no_hedge(reply: str, gold: str) -> None:
    assert verify_math(reply, gold) == "correct"


def test_a_value_on_a_condition_is_still_a_hedge() -> None:
    assert verify_math("The answer is 4 (or 5 if n is odd).", "4") == "wrong"
    assert verify_math("The answer is 12 (or 15 if we include the endpoints).", "12") == "wrong"


def test_a_value_derived_from_one_name_is_a_remark() -> None:
    assert verify_math("The answer is x = 3, so x^2 = 9.", "3") == "correct"
    assert verify_math("The answer is x = 3, so x^2 = 9.", "9") == "wrong"


@pytest.mark.parametrize("gold", ["x=3, y=4", "(3,4)", "3, 4"])
def test_a_system_checked_after_its_solution_is_the_solution(gold: str) -> None:
    for reply in (
        "The answer is x = 3, y = 4, so x + y = 7.",
        "The answer is x = 3, y = 4, so x + y = 7, which checks out.",
    ):
        assert verify_math(reply, gold) == "correct", reply
    assert verify_math("The answer is x = 4, y = 3, so x + y = 7.", "x=3, y=4") == "wrong"


def test_a_sum_derived_is_still_the_answer_against_one_value() -> None:
    assert verify_math("The answer is a = 3, b = 4, so a + b = 7.", "7") == "correct"
    assert verify_math("The answer is a = 3, b = 4, so a + b = 7.", "3") == "wrong"


def test_a_remark_in_full_width_brackets_after_a_number() -> None:
    assert verify_math("答案是12（十二）。", "12") == "correct"
    assert verify_math("答案是12（十二）。", "13") == "wrong"


@pytest.mark.parametrize(
    "reply",
    [
        "The answer is B. Option C is wrong. So is D.",
        "The answer is B. C is too large; same for D.",
        "The answer is B. As the pressure rises, so does the temperature at point C.",
    ],
)
def test_an_option_dismissed_like_the_one_before_is_no_second_answer(reply: str) -> None:
    assert verify_choice(reply, "B") == "correct"
    assert verify_math(reply, "B") == "correct"


def test_so_is_after_the_stated_letter_is_still_a_hedge() -> None:
    for reply in ("The answer is B, and so is C.", "Answer: B. So is C."):
        assert verify_choice(reply, "B") == "wrong", reply
        assert verify_math(reply, "B") == "wrong", reply


def test_a_bracketed_answer_is_read_whole() -> None:
    assert verify_math("The answer is (2, 3).", "(2,3)") == "correct"
    assert verify_math("The answer is (2, 3).", "3") == "wrong"
    assert verify_math("The answer is [1, 5].", "[1,5]") == "correct"
    assert verify_math("The answer is \\{1, 2\\}.", "\\{1,2\\}") == "correct"
    assert math_answer_key("The answer is (2, 3).") == math_answer_key("\\boxed{(2, 3)}")


def test_one_value_written_twice_is_no_hedge() -> None:
    assert verify_math("The answer is 1/2 or 0.5", "1/2") == "correct"
    assert verify_math("The answer is 1/2 or 0.5.", "0.5") == "correct"
    assert (
        verify_math("The answer is \\frac{\\pi}{4}, or 45^\\circ.", "\\frac{\\pi}{4}") == "correct"
    )
    assert verify_math("The answer is 2\\pi or 6.28.", "2\\pi") == "correct"


@pytest.mark.parametrize(
    "reply",
    [
        "The answer is 2\\pi, or 4\\pi.",
        "The answer is 2\\pi. But 4\\pi also works.",
        "\\boxed{2\\pi}. But 4\\pi also works.",
        "\\boxed{2\\pi}, or 4\\pi.",
    ],
)
def test_a_second_multiple_of_pi_is_a_hedge(reply: str) -> None:
    assert verify_math(reply, "2\\pi") == "wrong"


def test_two_values_offered_in_the_expression_are_a_hedge() -> None:
    assert verify_math("The answer is 1/2 or 1/3.", "1/2") == "wrong"
    assert verify_math("The answer is 1/2 or maybe 1/3.", "1/2") == "wrong"
    assert verify_math("答案是 2\\sqrt{3} 或 3\\sqrt{2}。", "2\\sqrt{3}") == "wrong"
    assert verify_math("答案是 2\\sqrt{3} 或 \\sqrt{12}。", "2\\sqrt{3}") == "correct"


def test_a_remark_after_the_expression_is_not_part_of_it() -> None:
    assert verify_math("The answer is 2\\sqrt{3} (approximately 3.46).", "2\\sqrt{3}") == "correct"


def test_the_expression_on_the_line_after_a_bold_heading() -> None:
    assert verify_math("**Final Answer**\n2\\sqrt{3}", "2\\sqrt{3}") == "correct"
    assert verify_math("**Final Answer**\n2\\sqrt{3}", "2") == "wrong"


@pytest.mark.parametrize(
    "reply",
    [
        "Factoring gives (x-2)(x-3) = 0.\n\nSo x = 2 or x = 3.",
        "Therefore x = 2 or x = 3.",
        "So x = 2, but x = 3 also satisfies.",
    ],
)
def test_values_offered_without_a_statement_are_judged_together(reply: str) -> None:
    assert verify_math(reply, "2, 3") == "correct"
    assert verify_math(reply, "\\{2, 3\\}") == "correct"
    assert verify_math(reply, "2") == "wrong"
    assert verify_math(reply, "3") == "wrong"


@pytest.mark.parametrize(
    "reply",
    [
        "(a) \\boxed{12}\n(b) \\boxed{13}",
        "Final answers: (a) \\boxed{12}, (b) \\boxed{13}",
        "**(a)** $\\boxed{12}$\n\n**(b)** $\\boxed{13}$",
    ],
)
def test_boxed_answers_to_labelled_parts_are_read_in_order(reply: str) -> None:
    assert verify_math(reply, "12, 13") == "correct"
    assert verify_math(reply, "(a) 12 (b) 13") == "correct"
    swapped = reply.replace("12", "@").replace("13", "12").replace("@", "13")
    assert verify_math(swapped, "12, 13") == "wrong"
    assert verify_math(swapped, "(a) 12 (b) 13") == "wrong"
    assert math_answer_key(reply) != math_answer_key(swapped)
    assert math_answer_key(reply) == math_answer_key("The answers are (a) 12 and (b) 13.")


N = 100_000  # a hang guard, 100 KB as tests/test_verdicts_s14b.py's (a linear reading: ~1 s)
LONG = {
    "spaces after a number": "The answer is 2" + " " * N + "x",
    "spaces before pi": ("2 " + " " * 1000 + "\\pi ") * (N // 1006),
    "looping 'or' of fractions": "The answer is " + "1/2 or " * (N // 7),
    "looping 'or' of pi": "The answer is " + "2\\pi, or " * (N // 9),
    "looping labelled boxes": "(a) \\boxed{1}\n(b) \\boxed{2}\n" * (N // 28),
    "looping 'so is' dismissed": "The answer is B. " + "C is wrong. So is D. " * (N // 21),
    "looping unstated hedge": "so 2\\pi also works, but " * (N // 24),
    "open brackets after a statement": "The answer is " + "(" * N,
}


def test_long_looping_replies_are_read_in_seconds() -> None:
    read_in_seconds(LONG)
