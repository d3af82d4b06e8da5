"""verify --math on replies that state an answer in prose and then offer another value, or state a
list: each was read as its first value and judged correct against it."""

from __future__ import annotations

import re

import pytest

from distill.filter.verify import math_answer_key, verify_math

# (a reply that offers a second value after its stated answer, the same reply without the offer;
# the gold is the stated value)
OFFERS = [
    # "or" in the statement's own sentence, or one that restates it
    ("The answer is 2, so x = 2 or x = 3.", "The answer is 2, so x = 2."),
    ("The answer is $2$, so $x = 2$ or $x = 3$.", "The answer is $2$, so $x = 2$."),
    ("The final answer is 2, i.e. x = 2 or x = 3.", "The final answer is 2, i.e. x = 2."),
    ("The answer is 2. So x = 2 or x = 3.", "The answer is 2. So x = 2 or x = 2.0."),
    ("The answer is 4 (or 5).", "The answer is 4 (or 4.0)."),
    ("The answer is 4, or possibly 5.", "The answer is 4, or more precisely 4.0."),
    ("The answer is 4, or 5.", "The answer is 4, or more precisely 4.0."),
    ("答案是2，所以x=2或x=3。", "答案是2，所以x=2。"),
    # another value asserted
    ("The answer is 12, so 13 also works.", "The answer is 12, so we are done."),
    ("The answer is 12. 13 also works.", "The answer is 12. Method 2 also works."),
    ("The answer is 12; 13 also works.", "The answer is 12; for part (b), 13 also works."),
    ("The answer is 12, though 13 works too.", "The answer is 12, though 12 works too."),
    ("The answer is 12, but 13 is also a solution.", "The answer is 12, but 13 is not a solution."),
    ("The answer is 12, but 13 is also correct.", "The answer is 12, since 3*4 = 12."),
    (
        "So the answer is 5; 6 would also work.",
        "So the answer is 5; 6 would also work if x were 1.",
    ),
    ("The answer is 12, but 13 could also be the answer.", "The answer is 12, not 13."),
    ("The answer is 12 (13 also works).", "The answer is 12 (0 also works trivially)."),
    ("The answer is 12. Another solution is 13.", "The answer is 12. Another check: 12 works."),
    ("The answer is 12. Alternatively, 13.", "The answer is 12. Alternatively, 12.0."),
    ("The answer is 12. Wait... 13.", "The answer is 12. Wait... 12."),
    (
        "The answer is 2, but x = -2 also satisfies it.",
        "The answer is 2, but x = -2 is extraneous.",
    ),
    ("答案是12，但13也可以。", "答案是12，但13不对。"),
    ("So \\boxed{12}, but 13 also works.", "So \\boxed{12}. Check: 12 also works."),
]


@pytest.mark.parametrize(("offered", "plain"), OFFERS)
def test_a_value_offered_after_the_stated_answer_is_a_hedge(offered: str, plain: str) -> None:
    gold = re.search(r"(?:answer is |答案是|boxed\{)\$?(\d+)", offered).group(1)
    assert verify_math(offered, gold) == "wrong"  # it was correct: the stated value alone
    assert verify_math(plain, gold) == "correct"  # a reason, a check, a value set aside


def test_the_values_offered_are_the_answer_against_a_set() -> None:
    assert verify_math("The answer is 2, so x = 2 or x = 3.", "\\{2, 3\\}") == "correct"
    # eval's maj@k: a hedge votes as its set, not for its first value
    assert math_answer_key("The answer is 12, so 13 also works.") == "{12, 13}"


def test_two_values_offered_with_no_statement_are_a_hedge() -> None:
    # math-verify reads the whole reply's last value: the one offered "also"
    assert verify_math("x=2, but x=3 also satisfies.", "3") == "wrong"
    assert verify_math("Checking: x = 3 also satisfies the second equation.", "3") == "correct"


@pytest.mark.parametrize(
    "reply",
    [
        "The answer is 2 and 3, since both satisfy the equation.",
        "The answer is 2 and 3.",
        "The answer is $2$ and $3$.",
        "The answer is 2, 3 and 5.",
        "答案是2和3。",
        "答案是2和3，因为两者都满足。",
    ],
)
def test_a_stated_list_is_read_whole(reply: str) -> None:
    gold_set = "\\{2, 3, 5\\}" if "5" in reply else "\\{2, 3\\}"
    assert verify_math(reply, gold_set) == "correct"
    assert verify_math(reply, "2") == "wrong"  # never its first value alone


def test_a_stated_list_against_a_pair_or_an_interval() -> None:
    problem = "Find the ordered pair $(a, b)$."
    assert verify_math("The answer is 2 and 3.", "(2, 3)", problem=problem) == "correct"
    # the set {2, 3} is not the interval (2, 3) math-verify also reads "(2, 3)" as
    assert verify_math("The answer is 2 and 3.", "(2, 3)") == "wrong"
    assert verify_math("The answer is 12 and 13 also works.", "12") == "wrong"


@pytest.mark.parametrize(
    ("reply", "gold"),
    [("The answer is $\\frac{1}{2}$ or $0.5$.", "\\frac{1}{2}"), ("The answer is 2 or 2.0.", "2")],
)
def test_one_value_written_two_ways_is_no_hedge(reply: str, gold: str) -> None:
    assert verify_math(reply, gold) == "correct"  # it was a hedge of two values: wrong
