import pytest

from distill.filter.verify import (
    extract_choice,
    last_boxed,
    math_answer_key,
    verify_choice,
    verify_countdown,
    verify_exact,
    verify_math,
)


@pytest.mark.parametrize(
    "answer, gold, verdict",
    [
        ("So the answer is \\boxed{82}.", "82", "correct"),
        ("So the answer is \\boxed{83}.", "82", "wrong"),
        ("\\boxed{\\frac{1}{2}}", "0.5", "correct"),
        ("\\boxed{0.5}", "$\\frac{1}{2}$", "correct"),
        ("\\boxed{\\{2, 1\\}}", "$\\{1,2\\}$", "correct"),
        ("\\boxed{[1, 2)}", "$[1,2)$", "correct"),
        ("\\boxed{(1, 2)}", "$[1,2)$", "wrong"),
        ("\\boxed{50\\%}", "0.5", "correct"),
        ("The answer is \\boxed{1,000}.", "1000", "correct"),
        ("\\boxed{x^2 + 2x + 1}", "$(x+1)^2$", "correct"),
        # Several boxed answers: the last one is the final answer.
        ("First \\boxed{3}, no wait, \\boxed{4}.", "4", "correct"),
        ("First \\boxed{4}, no wait, \\boxed{3}.", "4", "wrong"),
        ("", "4", "no_answer"),
    ],
)
def test_math_verdicts(answer, gold, verdict):
    assert verify_math(answer, gold) == verdict


def test_unparseable_gold_is_unverifiable_never_correct():
    assert (
        verify_math("\\boxed{blah blah ??? not math}", "blah blah ??? not math") == "unverifiable"
    )
    assert verify_math("\\boxed{4}", None) == "unverifiable"
    assert verify_math("\\boxed{4}", "") == "unverifiable"


def test_answer_without_a_final_answer():
    # The generate stage puts the chain of thought in `reasoning`; only `answer` is judged
    # (see test_filter for a boxed answer that appears only in the reasoning).
    assert verify_math("I am not sure.", "4") == "no_answer"
    assert verify_math("", "4") == "no_answer"
    assert verify_math("The answer is 5", "4") == "wrong"


@pytest.mark.parametrize(
    "answer, gold",
    [
        # The question restated: math-verify alone scores these equal to the gold.
        ("To calculate 61 + 48, you simply add them together.", "109"),
        ("The sum is 61 + 48.", "109"),
        ("\\boxed{61+48}", "109"),
        ("\\boxed{(61+48)}", "109"),
        ("\\boxed{3 \\cdot 4}", "12"),
        ("\\boxed{2^{10}}", "1024"),
        ("\\boxed{\\frac{1}{4}+\\frac{1}{4}}", "$\\frac{1}{2}$"),
    ],
)
def test_arithmetic_still_to_compute_is_no_answer(answer, gold):
    assert verify_math(answer, gold) == "no_answer"
    assert math_answer_key(answer) is None


@pytest.mark.parametrize(
    "answer, gold",
    [
        ("To add 59 + 63: 59 + 63 = 122.", "122"),  # the computation, then its result
        ("It is 1/2", "0.5"),  # a fraction is a number
        ("\\boxed{\\dfrac{6}{4}}", "1.5"),
        ("\\boxed{-\\frac{3}{4}}", "-0.75"),
        ("\\boxed{2^{10}}", "$2^{10}$"),  # the gold itself is written as a power
        ("\\boxed{2+\\sqrt{3}}", "$\\sqrt{3}+2$"),  # irrational: nothing left to compute
        ("The answer is 3/4.", "0.75"),
        ("\\boxed{1.5 \\times 10^{3}}", "1500"),  # scientific notation is a number
        ("\\boxed{1.2 \\cdot 10^{-3}}", "0.0012"),
        ("\\boxed{10^{3}}", "1000"),
        ("\\boxed{\\frac{1}{2^{3}}}", "0.125"),
        ("\\boxed{3^{-1}}", "$\\frac13$"),
        ("\\boxed{1\\frac{1}{2}}", "1.5"),
    ],
)
def test_numbers_and_closed_forms_stay_correct(answer, gold):
    assert verify_math(answer, gold) == "correct"


def test_gold_and_prediction_are_not_swapped():
    # An interval gold vs a number prediction: correct only one way round.
    assert verify_math("\\boxed{1}", "$[0, 2]$") == "wrong"


def test_nested_braces_in_boxed():
    assert last_boxed("x \\boxed{\\frac{a}{b}} y") == "\\frac{a}{b}"
    assert last_boxed("no box") is None


def test_pathological_expression_times_out_instead_of_hanging():
    import time

    t0 = time.monotonic()
    verdict = verify_math("\\boxed{" + "9^" * 60 + "9}", "$" + "9^" * 60 + "9$", timeout=2)
    assert verdict in ("correct", "wrong", "unverifiable") and time.monotonic() - t0 < 30


def test_choice_and_exact():
    assert extract_choice("The answer is (C).") == "C"
    assert verify_choice("Therefore the answer is \\boxed{B}", "B") == "correct"
    assert verify_choice("Answer: D", "B") == "wrong"
    assert verify_choice("I don't know", "B") == "no_answer"
    assert verify_exact("  Paris. ", "paris") == "correct"
    assert verify_exact("\\boxed{Lyon}", "Paris") == "wrong"


@pytest.mark.parametrize(
    "answer, verdict",
    [
        ("<answer> (44 + 19) + 35 - 1 </answer>", "wrong"),  # wrong value
        ("<answer>44 + 19 + 35</answer>", "wrong"),  # misses a number
        ("<answer>(44 + 19 + 35) * 1</answer>", "correct"),
        ("<answer>(44 + 19 + 35) / 1 = 98</answer>", "correct"),
        ("<answer>(44 + 44 + 10) * 1</answer>", "wrong"),  # a number not given
        ("<answer>__import__('os').system('x')</answer>", "wrong"),  # refused, never run
        ("<answer>2 ** 10</answer>", "wrong"),
        ("no answer here", "no_answer"),
    ],
)
def test_countdown(answer, verdict):
    assert verify_countdown(answer, [44, 19, 35, 1], 98) == verdict


def test_countdown_division_is_exact():
    assert verify_countdown("<answer>(7 / 2) * 4</answer>", [7, 2, 4], 14) == "correct"
    assert verify_countdown("<answer>7 / (2 - 2)</answer>", [7, 2, 2], 1) == "wrong"


def test_majority_keys_agree_across_forms():
    assert math_answer_key("\\boxed{0.5}") == math_answer_key("\\boxed{0.50}")
    assert math_answer_key("nothing boxed") is not None
