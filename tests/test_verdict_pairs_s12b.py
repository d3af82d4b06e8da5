"""Two rules of d7c5ab5 that accepted wrong answers (s12b): boxes read as an ordered pair against
a gold "(3,5)" that is as well an open interval (MATH's interval notation), and a stated choice
letter that won though the answer went on to another choice. Each wrong case below was judged
correct before its fix."""

import pytest

from distill.filter.verify import judge, math_answer_key, verify_math


def rec(answer: str, gold: str, problem: str | None = None) -> dict:
    r = {"prompt_id": "p", "answer": answer, "gold": gold}
    if problem is not None:
        r["messages"] = [
            {"role": "system", "content": "Put the final answer in \\boxed{}."},
            {"role": "user", "content": problem},
        ]
    return r


# ---------------------------------------------------------------- boxes against "(3,5)"

INEQUALITY = "Solve $x^2 - 8x + 15 < 0$. Express your answer in interval notation."
PAIR = "Find the ordered pair $(a,b)$ such that $a + b = 8$ and $b - a = 2$."
POINT = "The lines meet at $(x, y)$. Find it."


@pytest.mark.parametrize(
    "answer, gold, verdict",
    [
        # Two roots of the inequality's quadratic are no answer to it: math-verify reads "(3,5)"
        # as the open interval, and the same name boxed twice is never a pair's coordinates.
        ("x = \\boxed{3}, x = \\boxed{5}", "(3,5)", "wrong"),
        ("$x = \\boxed{3}$, $x = \\boxed{5}$", "(3, 5)", "wrong"),
        ("a = \\boxed{3}, a = \\boxed{5}", "(3,5)", "wrong"),
        ("x_1 = \\boxed{3}, x_2 = \\boxed{5}", "(3,5)", "wrong"),  # one unknown's two roots
        # unnamed boxes, no problem text to say a pair is asked: not read as one
        ("\\boxed{3} and \\boxed{5}", "(3,5)", "wrong"),
        ("\\boxed{3}, \\boxed{5}", "(3,5)", "wrong"),
        # two different names are a pair's coordinates, in order (d7c5ab5's case)
        ("a = \\boxed{3}, b = \\boxed{5}", "(3,5)", "correct"),
        ("$x = \\boxed{3}$, $y = \\boxed{5}$", "(3, 5)", "correct"),
        ("a = \\boxed{5}, b = \\boxed{3}", "(3,5)", "wrong"),
        # a set of roots is still the boxes together, whatever they are named
        ("x = \\boxed{3}, x = \\boxed{5}", "\\{3,5\\}", "correct"),
        ("x_1 = \\boxed{3}, x_2 = \\boxed{5}", "\\{3,5\\}", "correct"),
    ],
)
def test_boxes_are_a_pair_only_under_two_names(answer, gold, verdict):
    assert verify_math(answer, gold) == verdict
    assert judge(rec(answer, gold), "math")[0] == verdict


@pytest.mark.parametrize(
    "answer, problem, verdict",
    [
        # the problem asks for a pair: unnamed boxes in order are its coordinates
        ("\\boxed{3} and \\boxed{5}", PAIR, "correct"),
        ("\\boxed{3}, \\boxed{5}", POINT, "correct"),
        ("\\boxed{5} and \\boxed{3}", PAIR, "wrong"),
        # ... but one name boxed twice is not, even then
        ("a = \\boxed{3}, a = \\boxed{5}", PAIR, "wrong"),
        # the problem asks for an interval: two boxes are the roots, not (3,5)
        ("\\boxed{3} and \\boxed{5}", INEQUALITY, "wrong"),
        ("x = \\boxed{3}, x = \\boxed{5}", INEQUALITY, "wrong"),
        ("\\boxed{(3,5)}", INEQUALITY, "correct"),
    ],
)
def test_the_problem_text_says_whether_a_pair_is_asked(answer, problem, verdict):
    assert judge(rec(answer, "(3,5)", problem), "math")[0] == verdict
    assert verify_math(answer, "(3,5)", problem=problem) == verdict


# ---------------------------------------------------------------- a stated letter walked back


@pytest.mark.parametrize(
    "answer, gold",
    [
        ("The answer is B.\n\nWait... option C works, so C.", "B"),
        ("The answer is B.\n\nWait... option C works, so C.", "C"),
        ("**Answer:** (B)\n\nHmm, on second thought (D) fits better.", "B"),
        ("Answer: B\n\nActually C.", "B"),
        ("The answer is (B).\n\nOr maybe choice e.", "\\textbf{(B)}\\ 12"),
    ],
)
def test_a_stated_letter_walked_back_is_a_hedge(answer, gold):
    assert verify_math(answer, gold) == "wrong"


@pytest.mark.parametrize(
    "answer, gold, verdict",
    [
        ("So only option B works.\n\nThe answer is (B).", "B", "correct"),
        ("**Answer:** (B)", "\\textbf{(B)}\\ 12", "correct"),
        ("Answer: B", "B", "correct"),
        # the same letter again, or an article "A", names no other choice
        ("The answer is (B).\n\nOption B gives 12, as asked.", "B", "correct"),
        ("Answer: B\n\nA quick check confirms it.", "B", "correct"),
        # a new statement after the walk-back is the answer
        ("The answer is B.\n\nWait, option C works.\n\nThe answer is C.", "C", "correct"),
    ],
)
def test_a_stated_letter_still_read(answer, gold, verdict):
    assert verify_math(answer, gold) == verdict


def test_a_walked_back_letter_is_no_vote_for_it():
    assert math_answer_key("The answer is B.\n\nWait... option C works, so C.") != "B"
