"""A second read of the filter's verdicts (and eval's, which uses the same verifiers): a correct
answer must not be rejected, a wrong one must not be accepted, and eval's numbers must count
the answers the verifier reads."""

import pytest

from distill.eval import score
from distill.filter.sandbox import MODES, probe
from distill.filter.verify import extract_choice, math_answer_key, verify_choice, verify_math

ISOLATED = [m for m in MODES if probe(m) is None]
BEST = ISOLATED[0] if ISOLATED else "none"


def _code(src: str) -> str:
    return f"Here is the solution.\n```python\n{src}\n```\n"


# ------------------------------------------------------------------------------ code


@pytest.mark.parametrize(
    "exit_line",
    ["exit()", "import sys\nsys.exit(0)", "raise SystemExit", "import os\nos._exit(0)"],
)
def test_a_solution_that_exits_before_the_asserts_is_not_correct(exit_line):
    """The assert tests run after the solution in one program: a solution that ends the
    program (exit(), sys.exit(0) under `if __name__ == "__main__":`) skipped them and was
    "correct" with a wrong function."""
    from distill.filter.code import verify_code

    wrong = _code(f"def add(a, b):\n    return a - b\n\n{exit_line}")
    verdict, detail = verify_code(wrong, ["assert add(1, 2) == 3"], isolation=BEST)
    assert verdict == "wrong", detail
    right = _code("def add(a, b):\n    return a + b")
    assert verify_code(right, ["assert add(1, 2) == 3"], isolation=BEST)[0] == "correct"


def test_apps_tests_with_inputs_and_outputs_as_lists_of_lines():
    """APPS/TACO `input_output` holds some stdin tests as lists of lines (APPS's own judge joins
    them with newlines); str(list) fed "['2', '1', '3']" to a correct solution."""
    from distill.filter.code import verify_code

    sol = _code("n = int(input())\nfor _ in range(n):\n    print(int(input()) * 2)")
    tests = {"inputs": [["2", "1", "3"], "1\n5\n"], "outputs": [["2", "6"], "10\n"]}
    assert verify_code(sol, tests, isolation=BEST)[0] == "correct"
    bad = {"inputs": [["2", "1", "3"]], "outputs": [["2", "7"]]}
    assert verify_code(sol, bad, isolation=BEST)[0] == "wrong"


# ------------------------------------------------------------------------------ choice


@pytest.mark.parametrize(
    "answer, gold",
    [
        ("The answer is a multiple of 3, which is option (C).", "C"),
        ("So the answer is a. No wait: (C).", "C"),
        ("The answer is an even number: **C**", "C"),
    ],
)
def test_the_article_a_is_not_choice_a(answer, gold):
    """IGNORECASE made the letter of "the answer is a ..." choice A."""
    assert extract_choice(answer) != "A"
    assert verify_choice(answer, "A") != "correct"


@pytest.mark.parametrize(
    "answer, letter",
    [
        ("Therefore \\boxed{\\text{B}}", "B"),
        ("Therefore \\boxed{\\textbf{(B)}}", "B"),
        ("Therefore \\boxed{\\text{(B) } 42}", "B"),
        ("Therefore \\boxed{(B)\\ 42}", "B"),
        ("The answer is (b).", "B"),
        ("The answer is **C**.", "C"),
        ("Answer: D", "D"),
        ("\\boxed{e}", "E"),
    ],
)
def test_choice_letters_as_models_write_them(answer, letter):
    assert extract_choice(answer) == letter
    assert verify_choice(answer, letter) == "correct"


# ------------------------------------------------------------------------------ math


@pytest.mark.parametrize(
    "answer, gold",
    [
        # GSM8K-style prose with dollar amounts: "$15 dollars, since she had $" is not math.
        ("She spends $10 + $5 = $15. So the answer is $15 dollars, since she had $20.", "15"),
        ("The answer is $1,200. She had $300 left.", "1200"),
        ("The answer is $18.50. That is $2 more than before.", "18.5"),
    ],
)
def test_a_dollar_amount_is_not_an_inline_math_answer(answer, gold):
    assert verify_math(answer, gold) == "correct"
    assert verify_math(answer, "7") == "wrong"
    assert math_answer_key(answer) == math_answer_key(f"\\boxed{{{gold}}}")


@pytest.mark.parametrize(
    "answer, gold, verdict",
    [
        # inline math after "the answer is" still reads as math
        ("The final answer is $\\frac{1}{2}$.", "0.5", "correct"),
        ("The final answer is $x = 5$ and we are done.", "5", "correct"),
        ("The answer is $5 \\text{ cm}$.", "5", "correct"),
        ("The answer is $ab + cd$.", "ab+cd", "correct"),
        ("The answer is $2$, so $x$ is even.", "2", "correct"),
    ],
)
def test_inline_math_statements_still_read(answer, gold, verdict):
    assert verify_math(answer, gold) == verdict


# ------------------------------------------------------------------------------ eval maj@k


def test_eval_maj_at_k_under_choice_votes_on_the_letter():
    """maj@k voted on math_answer_key, so "The answer is (B)." and "Answer: B" were two
    different votes and a single \\boxed{C} could be the majority."""
    recs = [
        {"prompt_id": "p", "id": str(i), "answer": a, "gold": "B"}
        for i, a in enumerate(["\\boxed{C}", "The answer is (B).", "Answer: B"])
    ]
    s = score(recs, "choice")
    assert s["pass@1"] == round(2 / 3, 4)
    assert s["maj@3"] == 1.0
    recs[2]["answer"] = "The answer is \\boxed{C}."
    assert score(recs, "choice")["maj@3"] == 0.0


@pytest.mark.parametrize(
    "answer",
    [
        "Final Answer: The final answer is $\\$15$. I hope it is correct.",
        "The answer is $\\$15$.",
        "The answer is $$\\$15$$",
    ],
)
def test_an_escaped_dollar_inside_inline_math(answer):
    """ "$\\$15$" (Minerva's format for money) ended the inline math at the escaped dollar."""
    assert verify_math(answer, "15") == "correct"
    assert verify_math(answer, "16") == "wrong"


# ------------------------------------------------------------------------------ near dedup


def test_a_near_copy_of_a_later_kept_text_in_a_shared_bucket_is_found():
    """near_duplicates checked only the first kept signature of each LSH bucket: a text 0.875
    similar to a kept one was kept when every band it shared with it had an earlier,
    dissimilar kept text first in that bucket (an LSH index returns them all)."""
    import numpy as np

    from distill.filter.dedup import lsh_bands, near_duplicates

    b, r = lsh_bands(64, 0.8)
    base = np.arange(64, dtype=np.uint32)
    earlier = []
    for k in range(b - 1):  # each shares band k with `kept` and nothing else
        x = base + 100000 * (k + 1)
        x[k * r : (k + 1) * r] = base[k * r : (k + 1) * r]
        earlier.append(x)
    kept, copy = base.copy(), base.copy()
    kept[(b - 1) * r :] += 5000
    copy[(b - 1) * r :] += 9000
    assert np.mean(kept == copy) >= 0.8
    flags = near_duplicates([x.tobytes() for x in [*earlier, kept, copy]], 0.8, 64)
    assert flags == [False] * b + [True]
