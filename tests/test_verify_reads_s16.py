"""verify --math and eval's maj@k vote on replies the last review found judged wrongly.

1. "The answer is 2 \\pi." / "2\\pi" / "2π" / "2k, or 2000" had no value the statement patterns
   read, so math-verify read the whole reply and took the 2: right against a gold 2 (and "The
   answer is 2 + \\sqrt{3}." was read as its 2).
2. "The answer is B, and so is C." names two options: it was right against B.
3. maj@k voted "a = 3, b = 4" and "a = 4, b = 3" as one answer (the set {3, 4}).
4. "The answer is a = 3, b = 4, so a + b = 7." was the pair (3, 4): wrong against 7.
5. "x \\neq 2" was wrong against its set, (-\\infty,2)\\cup(2,\\infty).
6. "The answers are (a) 12 and (b) 13" was no statement (wrong against "12, 13").
7. "The answer is 4 (or 5 if n is odd)." and "The answer is 12, as well as 13." were read as 4 / 12
   alone: right against one of their values.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from distill.eval import score
from distill.filter.verify import math_answer_key, verify_choice, verify_math


@pytest.mark.parametrize(
    "reply",
    [
        "The answer is 2 \\pi.",
        "The answer is 2\\pi",
        "The final answer is 2 \\pi",
        "Final answer: 2π",
        "\\boxed{2}. On reflection, the answer is 2 \\pi.",
        "2 \\pi",
        "$2\\pi$",
    ],
)
def test_a_multiple_of_pi_is_not_its_coefficient(reply: str) -> None:
    assert verify_math(reply, "2") == "wrong"
    assert verify_math(reply, "2\\pi") == "correct"


def test_a_number_an_operation_goes_on_with_is_not_the_answer() -> None:
    # the same misreading: the number a sum or difference starts with was the value stated
    assert verify_math("The answer is 2 + \\sqrt{3}.", "2") == "wrong"
    assert verify_math("The answer is 2 + \\sqrt{3}.", "2+\\sqrt{3}") == "correct"
    assert verify_math("The answer is 61 + 48.", "61") != "correct"
    assert verify_math("The answer is 15 - 3 = 12.", "15") == "wrong"
    assert verify_math("The answer is 15 - 3 = 12.", "12") == "correct"


def test_thousands_written_2k_are_not_2() -> None:
    assert verify_math("The answer is 2k, or 2000.", "2") == "wrong"
    assert verify_math("The answer is 2k, or 2000.", "2000") == "correct"
    assert verify_math("Final answer: 2k, or 2000", "2") == "wrong"
    assert verify_math("The answer is 2k.", "2") == "wrong"
    assert verify_math("The answer is 2k.", "2k") == "correct"  # an algebra answer's 2k


def test_a_second_option_named_with_so_is_is_a_hedge() -> None:
    for reply in (
        "The answer is B, and so is C.",
        "Answer: B. So is C.",
        "\\boxed{B}, and so is C.",
    ):
        assert verify_math(reply, "B") == "wrong", reply
        assert verify_choice(reply, "B") == "wrong", reply
    # an option named to be dismissed is no second answer
    assert verify_math("The answer is B, and C is wrong.", "B") == "correct"
    assert verify_choice("The answer is B, and C is wrong.", "B") == "correct"


@pytest.mark.parametrize(
    ("first", "swapped", "reordered"),
    [
        ("a=3, b=4", "a=4, b=3", "b=4, a=3"),
        (
            "The answer is a = 3, b = 4.",
            "The answer is a = 4, b = 3.",
            "The answer is b = 4, a = 3.",
        ),
        (
            "a = \\boxed{3}, b = \\boxed{4}",
            "a = \\boxed{4}, b = \\boxed{3}",
            "b = \\boxed{4}, a = \\boxed{3}",
        ),
    ],
)
def test_the_vote_keeps_each_value_with_its_name(first: str, swapped: str, reordered: str) -> None:
    assert math_answer_key(first) != math_answer_key(swapped)
    assert math_answer_key(first) == math_answer_key(reordered)
    # stated, boxed or written bare, one answer is one vote
    assert math_answer_key(first) == math_answer_key("\\boxed{a=3, b=4}")


def rec(sample: int, answer: str, gold: str = "a=3, b=4") -> dict:
    return {"id": f"p-{sample}", "prompt_id": "p", "sample": sample, "answer": answer, "gold": gold}


def test_maj_at_k_counts_swapped_values_as_another_answer() -> None:
    records = [
        rec(0, "The answer is a = 3, b = 4."),
        rec(1, "The answer is a = 4, b = 3."),
        rec(2, "The answer is a = 4, b = 3."),
    ]
    s = score(records, "math")
    assert s["pass@1"] == round(1 / 3, 4)
    assert s["maj@3"] == 0.0  # the majority (a = 4, b = 3) is wrong; it was one vote with a = 3


def test_the_value_derived_last_is_the_answer() -> None:
    assert verify_math("The answer is a = 3, b = 4, so a + b = 7.", "7") == "correct"
    assert verify_math("The answer is $a = 3$, $b = 4$, so $a + b = 7$.", "7") == "correct"
    assert verify_math("The answer is a = 3, b = 4, so a + b = 7.", "8") == "wrong"
    assert verify_math("The answer is a = 3, b = 4, so a + b = 7 or 8.", "7") == "wrong"
    assert math_answer_key("The answer is a = 3, b = 4, so a + b = 7.") == "7"


def test_all_reals_but_one_is_the_union_either_way() -> None:
    union = "(-\\infty,2)\\cup(2,\\infty)"
    assert verify_math("\\boxed{x \\neq 2}", union) == "correct"
    assert verify_math("The answer is $x \\ne 2$.", union) == "correct"
    assert verify_math(f"\\boxed{{{union}}}", "x \\neq 2") == "correct"
    assert verify_math("\\boxed{x \\neq 3}", union) == "wrong"
    assert verify_math("\\boxed{x \\neq 2}", "(-\\infty,2)") == "wrong"


@pytest.mark.parametrize(
    "gold", ["12, 13", "(a) 12 (b) 13", "(a) 12, (b) 13", "$(a)\\ 12$; $(b)\\ 13$"]
)
def test_answers_to_labelled_parts_are_read_in_order(gold: str) -> None:
    assert verify_math("The answers are (a) 12 and (b) 13", gold) == "correct"
    assert verify_math("The answers are (a) $12$ and (b) $13$.", gold) == "correct"
    assert verify_math("The answers are (a) 13 and (b) 12", gold) == "wrong"
    assert verify_math("The answers are (a) 12 and (b) 14", gold) == "wrong"


def test_a_labelled_gold_against_one_value_or_unlabelled_boxes() -> None:
    assert verify_math("The answer is 12.", "(a) 12 (b) 13") == "wrong"
    assert verify_math("\\boxed{12}, \\boxed{13}", "(a) 12 (b) 13") == "correct"
    assert verify_math("\\boxed{13}, \\boxed{12}", "(a) 12 (b) 13") == "wrong"
    a = math_answer_key("The answers are (a) 12 and (b) 13")
    assert a != math_answer_key("The answers are (a) 13 and (b) 12")


@pytest.mark.parametrize(
    ("reply", "one"),
    [
        ("The answer is 4 (or 5 if n is odd).", "4"),
        ("The answer is 4 (or 5 if ...)", "4"),
        ("The answer is 4 (or 5 when n is odd).", "4"),
        ("The answer is 12, as well as 13.", "12"),
        ("The answer is 12 as well as 13.", "12"),
        ("The answer is 12, along with 13.", "12"),
        ("4 (or 5 if ...)", "4"),
        ("12, as well as 13", "12"),
    ],
)
def test_a_second_value_offered_is_not_right_against_one(reply: str, one: str) -> None:
    assert verify_math(reply, one) == "wrong"


def test_both_values_stated_are_right_against_both() -> None:
    assert verify_math("The answer is 12, as well as 13.", "12, 13") == "correct"
    assert verify_math("The answer is 4 (or 5 if n is odd).", "\\{4, 5\\}") == "correct"


N = 100_000  # a hang guard, 100 KB as tests/test_verdicts_s14b.py's (a linear reading: ~1 s)
LONG = {
    "spaces after a statement": "The answer is 2" + " " * N + "x",
    "spaces after a derived value": "The answer is a = 3, b = 4, so a + b = 7" + " " * N + "x",
    "spaces after a derived side": "The answer is a = 3, b = 4, so a + b" + " " * N + "x",
    "looping labelled parts": "The answers are " + " and ".join(f"(a) {i}" for i in range(N // 12)),
    "looping 'as well as'": "The answer is 1" + ", as well as 2" * (N // 14),
    "looping conditional offers": "The answer is 4" + " (or 5 if n is odd)" * (N // 19),
    "looping statements of pi": "The answer is 2 \\pi. " * (N // 20),
    "looping 'so is'": "The answer is B, and so is C" + ", and so is C" * (N // 14),
    "looping inequalities": "The answer is x \\neq 2 or " * (N // 25),
}


def read_in_seconds(long: dict[str, str]) -> None:
    """Judge each of `long` in a fresh process (verify_math, math_answer_key, verify_choice);
    fail naming the first one not done within the bound (a hang guard, not a timing)."""
    code = (
        "import json, sys, logging\n"
        "logging.disable(logging.CRITICAL)\n"
        "from distill.filter.verify import math_answer_key, verify_choice, verify_math\n"
        "for name, t in json.load(sys.stdin).items():\n"
        "    verify_math(t, '12'), math_answer_key(t), verify_choice(t, 'B')\n"
        "    print(name, flush=True)\n"
    )
    try:
        subprocess.run(
            [sys.executable, "-c", code],
            input=json.dumps(long),
            text=True,
            capture_output=True,
            check=True,
            timeout=120,  # each takes about a second here
        )
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        finished = out.splitlines()
        pytest.fail(f"hung on {list(long)[len(finished)]!r} (finished: {finished})")


def test_long_looping_replies_are_read_in_seconds() -> None:
    read_in_seconds(LONG)
