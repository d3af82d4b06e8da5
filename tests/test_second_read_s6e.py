"""Second read s6e of the filter's verifier and checks fixes (b484eb2 .. 508a76d): each case
here was a wrong answer or a degenerate trace the fix let through (a false accept: the student
trains on it)."""

from __future__ import annotations

import pytest

from distill.filter.checks import CheckContext, language_mix, repetition
from distill.filter.verify import (
    math_answer_key,
    verify_countdown,
    verify_exact,
    verify_math,
)

# ----------------------------------------------------------------------------- hedged answers


@pytest.mark.parametrize(
    "answer, gold",
    [
        # b484eb2 read boxes offered as alternatives as the set {2, 3}; math-verify equates a
        # two-element set with an interval, and several boxes were joined as a tuple's parts:
        # the hedge was correct against the interval (2, 3) and the point (1, 2, 3).
        ("So x is \\boxed{2} or \\boxed{3}.", "(2, 3)"),
        ("So x is \\boxed{2} or \\boxed{3}.", "[2, 3]"),
        ("\\boxed{1} or \\boxed{2} or \\boxed{3}", "(1, 2, 3)"),
        # A stated answer that hedges: the first value was judged.
        ("The answer is 2 or 3.", "2"),
        ("The answer is $2$ or $3$.", "2"),
        ("The final answer is \\(2\\) or \\(3\\).", "2"),
        ("The final answer is $2$, or maybe $3$.", "2"),
    ],
)
def test_a_hedge_between_values_is_wrong_against_one_value_or_an_ordered_gold(answer, gold):
    assert verify_math(answer, gold) == "wrong"


@pytest.mark.parametrize(
    "answer, gold",
    [
        ("So x is \\boxed{2} or \\boxed{3}.", "\\{2, 3\\}"),
        ("So x is \\boxed{2} or \\boxed{3}.", "2 \\text{ or } 3"),
        ("So x is \\boxed{2} or \\boxed{3}.", "x = 2 \\text{ or } x = 3"),
        ("The answer is $2$ or $3$.", "2, 3"),
        ("The answer is 2 or 3.", "2 \\text{ or } 3"),
        ("\\boxed{1} and \\boxed{2} and \\boxed{3}", "(1, 2, 3)"),  # parts, not a hedge
        ("The answer is 2. Or, to check: 2 + 0 = 2.", "2"),
        ("The answer is $2$.", "2"),
    ],
)
def test_the_set_a_hedge_names_and_plain_statements_stay_correct(answer, gold):
    assert verify_math(answer, gold) == "correct"


def test_a_stated_hedge_is_not_a_vote_for_its_first_value():
    assert math_answer_key("The answer is 2 or 3.") != math_answer_key("\\boxed{2}")
    assert math_answer_key("The answer is 2 or 3.") == math_answer_key("\\boxed{2} or \\boxed{3}")


# ----------------------------------------------------------------------------- choice labels


@pytest.mark.parametrize(
    "answer, gold",
    [
        # Several letters, not all in parentheses: the first letter was read as the choice
        # (57c1ff6 caught only "(B) and (D)").
        ("\\boxed{(B) and D}", "B"),
        ("\\boxed{(B)\\text{ and }D}", "B"),
        ("\\boxed{(B), D}", "(B) 12"),
        ("\\boxed{(B) 12 or D}", "(B) 12"),
        ("\\boxed{\\text{(B) or E}}", "\\textbf{(B)}\\ 12"),
    ],
)
def test_an_answer_naming_several_letters_is_no_one_choice(answer, gold):
    assert verify_math(answer, gold) != "correct"
    assert math_answer_key(answer) != "B"


@pytest.mark.parametrize(
    "answer, gold",
    [
        ("\\boxed{(B)\\ 12}", "B"),
        ("\\boxed{B}", "\\textbf{(B)}\\ 12"),
        ("\\boxed{(B) \\text{ Tuesday}}", "(B) Tuesday"),
        ("\\boxed{(D) 2 \\text{ and } 3}", "(D) 2 and 3"),
    ],
)
def test_one_letter_with_its_option_text_is_still_that_choice(answer, gold):
    assert verify_math(answer, gold) == "correct"


# ----------------------------------------------------------------------------- majority keys


def test_two_solutions_of_a_system_are_two_votes():
    # 508a76d's vote form took each equation's right side: {x = 2, y = 3} and {x = 3, y = 2}
    # were the one vote {2, 3}, which verify_math judges wrong against each other.
    a, b = "\\boxed{x=2, y=3}", "\\boxed{x=3, y=2}"
    assert verify_math(a, "x=3, y=2") == "wrong"
    assert math_answer_key(a) != math_answer_key(b)
    # The roots of one variable are still one vote with the bare values.
    assert math_answer_key("\\boxed{x = 1, x = 2}") == math_answer_key("\\boxed{1, 2}")
    assert math_answer_key("\\boxed{x = 2}") == math_answer_key("\\boxed{2}")


# ----------------------------------------------------------------------------- exact


@pytest.mark.parametrize("answer", [".", "**", "\\boxed{\\text{}}", "$$", "\\boxed{\\text{ }}"])
def test_exact_against_an_empty_gold_is_unverifiable(answer):
    # A gold of "" (a merged set's missing answer) counts as a gold; an answer that the
    # markup stripping (da88bb0) reduces to nothing matched it.
    assert verify_exact(answer, "") == "unverifiable"
    assert verify_exact(answer, "Paris") != "correct"


def test_exact_still_compares_markup_free():
    assert verify_exact("\\boxed{\\text{Paris}}", "Paris") == "correct"
    assert verify_exact("\\boxed{\\text{Paris}}", "Paris, France") == "wrong"


# ----------------------------------------------------------------------------- countdown


def test_countdown_numbers_or_target_that_are_not_integers_are_unverifiable():
    # int() truncated them: 2 + 3 used the numbers [2.5, 3] and made the target 5.5.
    assert verify_countdown("<answer>2 + 3</answer>", [2.5, 3], 5) == "unverifiable"
    assert verify_countdown("<answer>2 + 3</answer>", [2, 3], 5.5) == "unverifiable"
    assert verify_countdown("<answer>2 + 3</answer>", ["a", 3], 5) == "unverifiable"
    assert verify_countdown("<answer>2 + 3</answer>", [2, 3], "5") == "correct"
    assert verify_countdown("<answer>2 + 3</answer>", [2.0, "3"], 5.0) == "correct"


# ----------------------------------------------------------------------------- language_mix


def _rec(prompt, reasoning, answer="4"):
    return {
        "messages": [{"role": "user", "content": prompt}],
        "reasoning": reasoning,
        "answer": answer,
    }


def test_one_foreign_word_in_an_english_prompt_allows_no_chain_in_that_script():
    # f1667c9 weighed the prompt's scripts against its non-Latin letters only: one Chinese
    # word in a long English prompt made Han 100% of them, and a chain that switched to
    # Chinese halfway passed.
    prompt = (
        "A shop called 小米 sells phones. Each phone costs 300 dollars and the shop sells "
        "12 phones on Monday and 15 on Tuesday. How much money does it take in over both days?"
    )
    chain = (
        "Okay, so the shop sells 12 + 15 = 27 phones. 好的，我们来计算一下总收入：每部手机三百美元，"
        "一共二十七部，所以总收入是八千一百美元。"
    )
    assert language_mix(_rec(prompt, chain), CheckContext()) == "language_mix"
    # A question written in Chinese over a page of code still allows Chinese (f1667c9's case).
    code = "def f(xs):\n    return sorted(set(xs))[::-1]\n" * 20
    zh = "这段代码有什么问题？\n```python\n" + code + "```"
    assert (
        language_mix(_rec(zh, "嗯，用户问这段代码有什么问题，我先看一下逻辑。"), CheckContext())
        is None
    )


def test_greek_letters_of_the_prompt_written_as_unicode_are_allowed():
    prompt = "In triangle ABC the angle θ at A satisfies sin θ = 3/5. Find cos θ for acute θ."
    chain = "Since θ is acute, cos θ = sqrt(1 - sin²θ) = 4/5, so cos θ = 4/5 and θ < π/2."
    assert language_mix(_rec(prompt, chain), CheckContext()) is None


# ----------------------------------------------------------------------------- repetition

_BLOCK = "```python\nfor i in range(10):\n    print(i * i, i + 1, i - 1)\n```"


def test_one_code_block_looped_many_times_is_repetition():
    # 95609a5 dropped every copy of a block after the first: a trace that loops on one block
    # (the same program written out 12 times) had nothing left to repeat.
    chain = "Let me write the program." + "".join(f"\n\nTry {i}:\n\n{_BLOCK}" for i in range(12))
    assert repetition({"reasoning": chain, "answer": _BLOCK}, CheckContext()) == "repetition"


def test_the_program_restated_in_the_chain_and_the_answer_is_still_no_repetition():
    chain = (
        "I print squares and neighbours of each number below ten.\n\n"
        + _BLOCK
        + "\n\nChecking: 0 1 -1, then 1 2 0, fine. So the final code is:\n\n"
        + _BLOCK
    )
    assert (
        repetition({"reasoning": chain, "answer": "Here it is.\n\n" + _BLOCK}, CheckContext())
        is None
    )
