"""Adversarial read of the verdicts (s12): right answers the filter rejected, and a judge reply
whose score was misread. Each case below was judged otherwise before its fix."""

import pytest

from distill.filter.code import extract_code
from distill.filter.sandbox import MODES, probe
from distill.filter.verify import judge, math_answer_key, verify_math
from distill.select.judge import parse_score

ISOLATED = [m for m in MODES if probe(m) is None]
BEST = ISOLATED[0] if ISOLATED else "none"
F = "```"

# ---------------------------------------------------------------- math: a stated choice letter


@pytest.mark.parametrize(
    "answer, gold, verdict",
    [
        # No box, the letter stated: math-verify finds no letter in prose (was no_answer).
        ("So only option B works.\n\nThe answer is (B).", "B", "correct"),
        ("So only option C works.\n\nThe answer is (C).", "B", "wrong"),
        ("**Answer:** (B)", "\\textbf{(B)}\\ 12", "correct"),
        ("Final answer: D", "$\\mathrm{(B)}$", "wrong"),
        ("Answer: B", "B", "correct"),
    ],
)
def test_a_choice_letter_stated_without_a_box(answer, gold, verdict):
    assert verify_math(answer, gold) == verdict


@pytest.mark.parametrize(
    "answer", ["The answer is a multiple of 3.", "The answer is A positive number."]
)
def test_prose_is_no_choice_letter(answer):
    assert verify_math(answer, "A") != "correct"


def test_a_stated_choice_letter_is_a_vote():
    assert math_answer_key("The answer is (B).") == math_answer_key("\\boxed{B}") == "B"


# ---------------------------------------------------------------- math: a pair in boxes


@pytest.mark.parametrize(
    "answer, gold, verdict",
    [
        # math-verify reads the ordered pair "(3,5)" as the open interval: the boxes of its
        # coordinates were judged on the last one alone (wrong).
        # unnamed boxes against "(3,5)" without the problem: the two roots of an inequality
        # whose gold is the interval as likely as a pair (test_verdict_pairs_s12b.py): wrong
        ("\\boxed{3} and \\boxed{5}", "(3,5)", "wrong"),
        ("a = \\boxed{3}, b = \\boxed{5}", "(3,5)", "correct"),
        ("$a = \\boxed{3}$, $b = \\boxed{5}$", "(3, 5)", "correct"),
        ("x_1 = \\boxed{3}, x_2 = \\boxed{5}", "\\{3,5\\}", "correct"),
        # in order, and the pair only
        ("\\boxed{5} and \\boxed{3}", "(3,5)", "wrong"),
        ("\\boxed{3} and \\boxed{6}", "(3,5)", "wrong"),
        ("\\boxed{5}", "(3,5)", "wrong"),
        ("\\boxed{3} and \\boxed{5}", "[3,5]", "wrong"),
    ],
)
def test_boxed_coordinates_of_a_pair(answer, gold, verdict):
    assert verify_math(answer, gold) == verdict


# ---------------------------------------------------------------- code: which block runs

TESTS = {"inputs": ["2\n", "5\n"], "outputs": ["4\n", "10\n"]}


def code_verdict(answer: str) -> str:
    return judge({"answer": answer, "meta": {"tests": TESTS}}, "code", timeout=5, sandbox=BEST)[0]


def test_a_fence_with_text_after_its_language():
    # "```python " (a trailing space): no block, and its closing fence opened one, so the
    # explanation after it was the program; "```python title=..." was no block at all.
    answer = (
        f"{F}python \nprint(2 * int(input()))\n{F}\n\nIt doubles the input.\n"
        f"{F}\n$ python sol.py\n{F}\n"
    )
    assert extract_code(answer) == "print(2 * int(input()))\n"
    assert code_verdict(answer) == "correct"
    assert code_verdict(f"{F}python title=sol.py\nprint(2 * int(input()))\n{F}") == "correct"


def test_an_indented_fence_in_a_list_item():
    answer = (
        "1. Read n.\n2. The program:\n\n"
        f"   {F}python\n   n = int(input())\n   if n:\n       print(2 * n)\n   {F}\n"
    )
    assert extract_code(answer) == "n = int(input())\nif n:\n    print(2 * n)\n"
    assert code_verdict(answer) == "correct"


def test_fences_as_markdown_reads_them():
    # backticks inside the code close no block (the program was cut at them)
    assert extract_code(f"{F}python\ns = '{F}'\nprint(s)\n{F}") == f"s = '{F}'\nprint(s)\n"
    # as before
    assert extract_code(f"Here: {F}python\nprint(1){F}") == "print(1)"  # closed inline
    assert extract_code(f"{F}python\nprint(1)\n") is None  # cut off: no block
    two = f"{F}python\nprint(1)\n{F}\nthen\n{F}python\nprint(2)\n{F}\n{F}text\n2\n{F}"
    assert extract_code(two) == "print(2)\n"  # the last Python block


# ---------------------------------------------------------------- judge: the rubric's line


@pytest.mark.parametrize(
    "reply, score",
    [
        ("Clear and correct.\nScore: 8\n\nI did not give a score 10 because one step is terse.", 8),
        ("Score: 8\n\nIt would need a shorter proof to score 9 or 10.", 8),
        ("Good.\n**Score:** 6\n(A score 3 would be too harsh.)", 6),
        ("Score: 6\n\nNote: the trace's own score 9/10 claim is wrong.", 6),
        # as before
        ("Rating 3 for brevity, 9 for correctness.\nScore: 7", 7),
        ("Score: 7\nScore: 9", 9),
        ("Score: 80/100", None),
        ("Score: 8/10", 8),
    ],
)
def test_the_rubric_line_is_the_score(reply, score):
    assert parse_score(reply)[0] == score


# ---------------------------------------------------------------- math: an escaped amount


@pytest.mark.parametrize(
    "answer, verdict",
    [
        ("She pays 3 times \\$6.\n\nThe answer is \\$18.", "correct"),  # was no_answer
        ("The answer is \\$1,800.", "wrong"),
        ("The answer is \\$18 or \\$20.", "wrong"),  # a hedge, still
    ],
)
def test_a_stated_amount_in_markdown(answer, verdict):
    assert verify_math(answer, "18") == verdict
