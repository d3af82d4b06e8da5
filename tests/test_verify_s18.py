"""verify --math and select's judge parser: wrong verdicts a review found (session 18).

1. A reply with no box and no answer statement was judged on math-verify's read of the whole
   reply, its last value, also where the reply says that value is not the answer, supposes it
   or gives it under a condition: "2 is not the answer." was right against 2, "Suppose 2 is
   the answer. Then ... contradiction." right against 2, "If n is even, 2 is the answer;
   otherwise 3." right against 3.
2. A check of a stated value with no confirming word ("Substituting x = 2 into the equation:
   the result is 4 - 4 = 0.") was read as going on to another value, the 0: right against 0,
   wrong against the 2 stated.
3. Units: "The speed is 3\\sqrt{2} m/s.", "3\\sqrt{2}~\\mathrm{m/s}", "\\boxed{4m/s}" were wrong
   against the value, "4 g/L" was no value with a unit (wrong against 4).
4. select's judge: "The trace makes 3 errors.\\n3" reads 3 (the last line alone is the score;
   the count in the reasons is never read as one).
"""

from __future__ import annotations

import pytest

from distill.filter.verify import judge, math_answer_key, verify_math
from distill.select.judge import parse_score


def judged(answer: str, gold: str) -> str | None:
    # the record-level entry point `distill filter --verify math` calls for each trace
    rec = {"answer": answer, "gold": gold, "messages": [{"role": "user", "content": "Solve."}]}
    return judge(rec, "math")[0]


# --- 1. a value negated, supposed or given under a condition is no answer --------------------

NOT_ASSERTED = [
    ("2 is not the answer.", "2"),
    ("2 isn't the answer.", "2"),
    ("The answer is not 2.", "2"),
    ("x = 2 is not a solution.", "2"),
    ("We tried everything. Clearly $2$ cannot be the answer.", "2"),
    ("Suppose 2 is the answer. Then ... contradiction.", "2"),
    ("Suppose 2 is the answer. Then 2 + 2 = 5, a contradiction.", "5"),
    ("Assume x = 2 is the answer. This leads to a contradiction.", "2"),
    ("Suppose the answer is 2. Then we get a contradiction.", "2"),
    ("If the answer is 2, then the sum is odd, which is impossible.", "2"),
]


@pytest.mark.parametrize(("answer", "gold"), NOT_ASSERTED)
def test_a_value_negated_or_supposed_is_no_answer(answer: str, gold: str) -> None:
    assert verify_math(answer, gold) == "no_answer"
    assert judged(answer, gold) == "no_answer"
    assert math_answer_key(answer) is None  # maj@k gives it no vote


@pytest.mark.parametrize(
    "answer",
    [
        "If n is even, 2 is the answer; otherwise 3.",
        "If n is even, 2 is the answer, otherwise 3.",
        "If n is even, the answer is 2; otherwise 3.",
        "If n is even, the answer is 2; otherwise it is 3.",
        "The answer is 2 if n is even and 3 otherwise.",
        "If n is even, x = 2; otherwise x = 3.",
        "If n is even, 2 is the answer. Otherwise, the answer is 3.",
        "The answer is 2 if n is even, and 3 if n is odd.",
        "If n is even, the answer is 2, and 3 if n is odd.",
    ],
)
@pytest.mark.parametrize("gold", ["2", "3"])
def test_a_value_given_under_a_condition_is_no_answer_of_its_own(answer: str, gold: str) -> None:
    assert verify_math(answer, gold) in ("wrong", "no_answer")


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        # the value stated is the answer, whatever was set aside or supposed before it
        ("3 is not the answer, so x = 2.", "2"),
        ("Suppose 2 is the answer. Then 2 + 2 = 5, a contradiction. So the answer is 3.", "3"),
        ("The answer is 3. Suppose the answer were 2; then 2 + 2 = 5, a contradiction.", "3"),
        ("If we add them, 2 is the answer.", "2"),
        ("If we add them, the answer is 2.", "2"),
        ("Suppose x = 2. Then y = 5.", "5"),
        ("If x = 2, then y = 5.", "5"),
        # math-verify's own cases: the value negated is not the last one
        ("the number is not 10 which is 1,000.99€", "1000.99"),
        ("not it's not 10 it's 1,000.99m²", "1000.99"),
        ("The answer is 2, otherwise written as 2.0.", "2"),
        ("The answer is 12; otherwise 13 would be too big.", "12"),
        ("The answer is 0.5, and 50 when written as a percentage.", "0.5"),
        ("2 is not the answer, 3 is.", "3"),
        ("If 2 is a root of p, then (x-2) divides p, so the other root is -3.", "-3"),
    ],
)
def test_a_value_asserted_after_or_before_one_set_aside_is_read(answer: str, gold: str) -> None:
    assert verify_math(answer, gold) == "correct"


# --- 2. a check that shows the equation holds is a check -------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        "x = 2 is the only solution. Substituting x = 2 into the equation: the result is 4 - 4 = 0.",
        "x = 2 is the only solution. Substituting x = 2 into the equation gives 4 - 4 = 0.",
        "x = 2 is the only solution. Plugging x = 2 back into the equation, the result is 0.",
        "The solution is x = 2. Substituting x = 2 into the equation: the result is 4 - 4 = 0.",
        "The solution is x = 2. Substituting into the original equation, we get 4 = 4.",
        "So x = 2, since x^2 = 4 and x > 0. Substituting x = 2 into the equation yields 4 - 4 = 0.",
        "So x = 2. Substituting x = 2 into the equation: the result is 4 - 4 = 0.",
        "So x = 2. Checking: substituting x = 2 gives 4 - 4 = 0, which checks out.",
    ],
)
def test_a_check_that_the_equation_holds_keeps_the_value_stated(answer: str) -> None:
    assert verify_math(answer, "2") == "correct"
    assert verify_math(answer, "0") == "wrong"
    assert math_answer_key(answer) == "2"


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        # another quantity after the value: it moves on, as before
        (
            "x = 2 is the only solution. Substituting x = 2 into the expression, the result is 5.",
            "5",
        ),
        ("x = 2 is the only solution. Substituting, y = 2x + 1 = 5.", "5"),
        ("x = 2 is the only solution. Substituting x = 2 into the equation gives y = 5.", "5"),
        ("x = 2 is the only solution. Substituting x = 2, the area is 5.", "5"),
        ("x = 2 is the only solution. Note that x = 2 gives the area 5, as expected.", "5"),
        ("So x = 2. Note that x = 2 gives the area 5, as expected.", "5"),
    ],
)
def test_a_sentence_that_goes_on_to_another_value_still_moves_on(answer: str, gold: str) -> None:
    assert verify_math(answer, gold) == "correct"
    assert verify_math(answer, "2") == "wrong"


def test_a_check_alone_is_no_answer() -> None:
    # a check states no value of its own: the residual 0 it comes to is no answer
    answer = "Substituting x = 2 into the equation: the result is 4 - 4 = 0."
    assert verify_math(answer, "0") == "no_answer"


# --- 3. units ----------------------------------------------------------------------------------

R = "3\\sqrt{2}"


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        ("The speed is 3\\sqrt{2} m/s.", R),
        ("So the speed is 3\\sqrt{2} m/s.", R),
        ("Thus v = 3\\sqrt{2} m/s.", R),
        ("3\\sqrt{2}~\\mathrm{m/s}", R),
        ("$3\\sqrt{2}~\\mathrm{m/s}$", R),
        ("3\\sqrt{2}\\,\\mathrm{m/s}", R),
        ("\\boxed{3\\sqrt{2}~\\mathrm{m/s}}", R),
        ("The answer is 3\\sqrt{2}~\\mathrm{m/s}.", R),
        ("The answer is $3\\sqrt{2}\\ \\mathrm{m/s}$.", R),
        ("\\boxed{4m/s}", "4"),
        ("\\boxed{4km/h}", "4"),
        ("\\boxed{3\\sqrt{2}m/s}", R),
        ("The answer is 4m/s.", "4"),
        ("4 g/L", "4"),
        ("\\boxed{4 g/L}", "4"),
        ("The concentration is 2.5 g/L.", "2.5"),
        # a unit kept, against the gold with it
        ("\\boxed{4m/s}", "4 m/s"),
        ("\\boxed{4 g/L}", "4 g/L"),
        ("3\\sqrt{2}~\\mathrm{m/s}", "3\\sqrt{2} m/s"),
    ],
)
def test_a_value_with_its_unit_is_the_value(answer: str, gold: str) -> None:
    assert verify_math(answer, gold) == "correct"
    assert judged(answer, gold) == "correct"


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        ("The speed is 3\\sqrt{2} m/s.", "3"),
        ("3\\sqrt{2}~\\mathrm{m/s}", "3"),
        ("\\boxed{4m/s}", "5"),
        ("4 g/L", "5"),
        # variables divided, no unit: not dropped (the pendulum's L/g; g/L unspaced a formula)
        ("\\boxed{4\\pi^2 L/g}", "4\\pi^2"),
        ("\\boxed{4g/L}", "4"),
        ("The answer is 2\\pi rh.", "2\\pi"),
    ],
)
def test_a_unit_never_makes_another_value_right(answer: str, gold: str) -> None:
    assert verify_math(answer, gold) == "wrong"


def test_variables_divided_stay_variables() -> None:
    assert verify_math("\\boxed{4g/L}", "\\frac{4g}{L}") == "correct"
    assert verify_math("\\boxed{\\frac{4\\pi^2 L}{g}}", "4\\pi^2 L/g") == "correct"


# --- 4. select's judge: a count in the reasons and the score on the last line ---------------


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ("The trace makes 3 errors.\n3", 3.0),  # the last line alone is the score
        ("The trace makes 3 errors.\n7", 7.0),  # the count is never read as it
        ("The trace makes 3 errors. Rating: 7", 7.0),
        ("The trace makes 3 errors.", None),
        ("Errors: 3.\n3", None),  # the sentence's own number said again: a quote
        ("1. The setup is right.\n2. The algebra slips.\n\n3", None),  # a list's next item
        ("1. The setup is right.\n2. The algebra slips.\n3", None),
    ],
)
def test_the_judges_last_line_and_a_count_in_its_reasons(reply: str, score: float | None) -> None:
    assert parse_score(reply)[0] == score
