"""Second read of 1e1376a (s14): what its verdict rules missed.

1. A long run of spaces or blank lines after "answer"/"答案" (a degenerate reply that ran to
   max_tokens) hung filter: the statement patterns put several optional whitespace runs side by
   side, and a run they could not end on was re-split every way (the Chinese leads 1e1376a added
   to --verify math's statement hung on "答案" + spaces; the English ones already did). A
   200 KB reply is read in well under a second now.
2. "The answer is B. If anything, C." offers C as well: a hedge, as "Then again, C".
3. "答案是B。C项说法正确但与题意无关。" ("C is correct but irrelevant") dismisses C, as its
   English twin does; 1e1376a's "正确" read it as a second answer.
"""

import subprocess
import sys

import pytest

from distill.filter.verify import choice_key, verify_choice, verify_math

N = 200_000
LONG = {
    "spaces after a stated letter": "The answer is B" + " " * N + "x",
    "spaces after 'The answer'": "The answer" + " " * N + "x",
    "stars after 'The answer'": "The answer" + "*" * N + "x",
    "spaces after 答案": "答案" + " " * N + "x",
    "spaces after 答案是B": "答案是B" + " " * N + "x",
    "blank lines": "Reasoning.\n" + "\n" * N + "x",
    "spaces after 'if answer'": "The answer is B. C if answer" + " " * N + "x",
    "a sentence of ifs": "The answer is B. C " + "if " * (N // 3),
}


@pytest.mark.parametrize("name", list(LONG))
def test_a_long_degenerate_reply_is_judged_in_a_second(name):
    # in a child process: the old patterns took hours, and a regex cannot be interrupted
    code = (
        "import sys\n"
        "from distill.filter.verify import choice_key, verify_choice, verify_math\n"
        "t = sys.stdin.buffer.read().decode()\n"
        "verify_choice(t, 'B'), choice_key(t), verify_math(t, '12')\n"
    )
    subprocess.run(
        [sys.executable, "-c", code], input=LONG[name].encode(), check=True, timeout=60
    )  # generous for a slow CI machine: each takes under a second here


@pytest.mark.parametrize(
    "answer",
    [
        "The answer is B. If anything, C.",
        "The answer is B.\n\nIf anything, option C.",
    ],
)
def test_if_anything_offers_a_second_answer(answer):
    assert verify_choice(answer, "B") == "wrong"
    assert verify_math(answer, "B") == "wrong"
    assert choice_key(answer) == "B, C"


def test_if_anything_that_dismisses_is_no_hedge():
    assert verify_choice("The answer is B. If anything, C is worse.", "B") == "correct"


@pytest.mark.parametrize(
    "answer",
    [
        "答案是B。C项说法正确但与题意无关。",
        "答案是B。C的说法正确但片面。",
        "答案是B。D项正确但不全面。",
    ],
)
def test_a_chinese_option_conceded_and_set_aside_is_no_hedge(answer):
    assert verify_choice(answer, "B") == "correct"
    assert verify_math(answer, "B") == "correct"
    assert choice_key(answer) == "B"


@pytest.mark.parametrize(
    "answer, gold, verdict",
    [
        # the patterns rewritten for speed read what they read before
        ("The answer is B.", "B", "correct"),
        ("The answer is ( B ) .", "B", "correct"),
        ("**Answer:** **B**", "B", "correct"),
        ("Answer: $\\textbf{(C)}$", "C", "correct"),
        ("The answer is B, since C fails.", "B", "correct"),
        ("答案 是 B 。", "B", "correct"),
        ("答案：B 或 C", "B", "wrong"),
        ("Suppose\n\nB\nThen x < 0.", "B", "no_answer"),
        ("x\n\n  (B)  \n\ny", "B", "correct"),
    ],
)
def test_letters_stated_as_before(answer, gold, verdict):
    assert verify_choice(answer, gold) == verdict


@pytest.mark.parametrize(
    "answer, gold, verdict",
    [
        ("The answer is:   12", "12", "correct"),
        ("The final answer is : $\\frac{1}{2}$", "1/2", "correct"),
        ("答案 为 ： 12。", "12", "correct"),
        ("The answer is B.  ", "B", "correct"),
        ("The answer is $B$ .", "C", "wrong"),
    ],
)
def test_statements_read_as_before_under_math(answer, gold, verdict):
    assert verify_math(answer, gold) == verdict
