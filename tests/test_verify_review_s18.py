"""verify --math: a second read of df5ba4d (a value negated, supposed or one case of a condition
is no answer; checks with no confirming word; units written close or upright).

Replies a reasoning model writes that those rules misjudged:

1. A supposition of a variable ("Suppose the solution is x. ... so x = 2."), a contradiction
   the reply concludes from ("But this is impossible, so x = 2.") or one it denies ("No
   contradiction", "does not contradict") made the answer no_answer.
2. "x = 2, which is not a root of the denominator." was no_answer (the 2 stated is no value
   negated); "Thus x = 2. Note that 3 is not a solution." now reads the 2.
3. "Otherwise, x = 2." after a case that gives no value ("If a = 0, there is no solution.") was
   no_answer, "Otherwise, the answer is 12" no statement.
4. "and 2 when", "and 5 if" between operands ("the product of 2 and 2 when n = 1") and an
   "otherwise" in a reason ("since otherwise we get 0") were read as another case's value: a
   hedge, wrong.
5. A check with nothing before it that gives its value ("We need p(1). Substituting x = 1 in the
   given equation, 1 - 1 = 0.") or that concludes a value ("..., so the remainder is 0.") was
   cut: no_answer, or judged on another value.
6. "\\boxed{4m/s}" against "\\frac{4m}{s}", "\\boxed{4 g/L}" against "\\frac{4g}{L}": the unit
   dropped, the gold's own expression was wrong.
"""

from __future__ import annotations

import threading

import pytest

from distill.filter import verify as V


def key(answer: str) -> str | None:
    return V.math_answer_key(answer)


# --- 1. suppositions and contradictions -------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        (
            "Suppose the solution is x. Then 2x = 4, so x = 2. This does not contradict anything.",
            "2",
        ),
        (
            "Assume the root is negative. Then x^2 = 4 gives x = -2. But this is impossible, so x = 2.",
            "2",
        ),
        ("If the answer is x, then x + x = 10. This gives x = 5. No contradiction, so x = 5.", "5"),
        ("Suppose the answer is x. Solving, x = 2, and 2 is positive, not a contradiction.", "2"),
    ],
)
def test_a_supposition_the_reply_resolves_reads_its_answer(answer: str, gold: str) -> None:
    assert V.verify_math(answer, gold) == "correct"
    assert key(answer) == gold


@pytest.mark.parametrize(
    "answer",
    [
        "Suppose 2 is the answer. Then 2 + 2 = 5, a contradiction.",
        "Suppose 2 is the answer.",
        "Suppose the answer is 2. Then we have a contradiction since 2 + 2 = 5.",
    ],
)
def test_a_value_supposed_and_refuted_stays_no_answer(answer: str) -> None:
    for gold in ("2", "5"):
        assert V.verify_math(answer, gold) == "no_answer"
    assert key(answer) is None


# --- 2. a value said not to be the answer ------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        "Thus x = 2, which is not a root of the denominator.",
        "So x = 2, which is not a root of g, so it is valid.",
        "Thus the value is 2, which isn't a solution of the original quadratic but of the derived one.",
    ],
)
def test_which_is_not_a_root_says_nothing_of_another_value(answer: str) -> None:
    assert V.verify_math(answer, "2") == "correct"
    assert key(answer) == "2"


@pytest.mark.parametrize(
    "answer",
    [
        "Thus x = 2. Note that 3 is not a solution.",
        "We find x = 2; x = 3 is not a valid solution because the log is undefined.",
    ],
)
def test_a_value_set_aside_after_the_answer_reads_the_answer(answer: str) -> None:
    assert V.verify_math(answer, "2") == "correct"
    assert V.verify_math(answer, "3") == "wrong"
    assert key(answer) == "2"


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        ("So x = 2 or x = 3. But 3 is not a solution.", "3"),  # one of the values given
        ("x = 3. Hmm, 3 is not the answer.", "3"),
        ("2 is not the answer.", "2"),
    ],
)
def test_a_value_set_aside_is_never_read_as_the_answer(answer: str, gold: str) -> None:
    assert V.verify_math(answer, gold) == "no_answer"
    assert key(answer) is None


# --- 3. "Otherwise" after a case that gives no value -------------------------------------------


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        ("If a = 0, there is no solution. Otherwise, x = 2.", "2"),
        ("If x = 3, the denominator vanishes, so we exclude it. Otherwise x = 2 works.", "2"),
        ("When n is 1, nothing changes. Otherwise the count is 12.", "12"),
        (
            "If k = 0, the product is zero, which is not allowed. Otherwise, the answer is 12 (with k = 3).",
            "12",
        ),
        ("If a = 0 there is nothing to do, otherwise x = 2.", "2"),
    ],
)
def test_otherwise_after_a_case_without_a_value_is_the_answer(answer: str, gold: str) -> None:
    assert V.verify_math(answer, gold) == "correct"
    assert key(answer) == gold


@pytest.mark.parametrize(
    ("answer", "verdicts"),
    [
        ("If n is even, x = 2; otherwise x = 3.", ("no_answer", "no_answer")),
        ("If n is even, x = 2. Otherwise x = 3.", ("no_answer", "no_answer")),
        ("If n is even, the answer is 2. Otherwise, the answer is 3.", ("wrong", "wrong")),
        ("If n is even, the answer is 2; otherwise 3.", ("wrong", "wrong")),
        ("x = 2 if n is even, otherwise x = 3.", ("wrong", "wrong")),
    ],
)
def test_two_cases_with_a_value_each_are_still_no_single_answer(
    answer: str, verdicts: tuple[str, str]
) -> None:
    assert (V.verify_math(answer, "2"), V.verify_math(answer, "3")) == verdicts


# --- 4. operands joined by "and", an "otherwise" in a reason -----------------------------------


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        ("The answer is 4, which is the product of 2 and 2 when n = 1.", "4"),
        ("The answer is 6: choose between 1 and 3 when ordering matters.", "6"),
        ("The answer is 10. This counts 5 and 5 if we split evenly.", "10"),
        ("The answer is 10, the sum of 3 and 7 when combined.", "10"),
        ("Adding 3 and 7 when combined gives 10.", "10"),
        ("Taking 2 and 3 when n = 1, the product is 6.", "6"),
        ("The answer is 2, since otherwise we get 0.", "2"),
        ("\\boxed{12}, since otherwise we get 0.", "12"),
        ("So the answer is 2 (k must be positive, otherwise we get 0).", "2"),
        ("The answer is 2; otherwise, we get 0.", "2"),
    ],
)
def test_operands_and_reasons_offer_no_other_case(answer: str, gold: str) -> None:
    assert V.verify_math(answer, gold) == "correct"
    assert key(answer) == gold


@pytest.mark.parametrize(
    ("answer", "stated"),
    [
        ("The answer is 2 if n is even, and 3 if n is odd.", "2"),
        ("If n is even, the answer is 2, and 3 if n is odd.", "2"),
        ("\\boxed{2}, and 3 if n is odd.", "2"),
        ("The answer is 2 if n is even and 3 otherwise.", "2"),
        ("The answer is 12, or else 24.", "12"),
    ],
)
def test_another_case_value_is_still_a_hedge(answer: str, stated: str) -> None:
    assert V.verify_math(answer, stated) == "wrong"


# --- 5. checks ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        "Substituting x = 3 into the original equation gives 9 - 9 = 0, so the remainder is 0.",
        "We need p(1). Substituting x = 1 in the given equation, 1 - 1 = 0.",
        "The remainder when p(x) is divided by x - 1 is p(1). Substituting x = 1 into the "
        "equation gives 1 - 1 = 0.",
        "The answer is 0. Substituting gives 0 = 0.",
        "So x = 0. Substituting x = 0 into the equation gives 0 = 0.",
        "Thus x = 0. Substituting back into the equation, we get 0 = 0, which checks out.",
    ],
)
def test_a_computation_that_comes_to_0_is_read_when_0_is_the_answer(answer: str) -> None:
    assert V.verify_math(answer, "0") == "correct"
    assert key(answer) == "0"


@pytest.mark.parametrize(
    "answer",
    [
        "So x = 2. Substituting x = 2 into the equation gives 4 - 4 = 0.",
        "So x = 2. Substituting x = 2 into the equation gives 4 = 4.",
        "Thus x = 2. Substituting x = 2 into the equation gives 4 - 4 = 0. Note that 3 is not a "
        "solution.",
    ],
)
def test_a_check_of_the_value_given_still_reads_that_value(answer: str) -> None:
    assert V.verify_math(answer, "2") == "correct"
    assert V.verify_math(answer, "0") == "wrong"


# --- 6. a unit written close is the gold's variable ---------------------------------------------


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        ("\\boxed{4m/s}", "\\frac{4m}{s}"),
        ("\\boxed{4 g/L}", "\\frac{4g}{L}"),
        ("\\boxed{4 m/s}", "\\frac{4m}{s}"),
        ("\\boxed{4m/s}", "4"),  # the unit dropped, as before
        ("\\boxed{4 g/L}", "4"),
        ("\\boxed{3\\sqrt{2}~\\mathrm{m/s}}", "3\\sqrt{2}"),
    ],
)
def test_a_box_with_letters_is_right_against_its_own_expression(answer: str, gold: str) -> None:
    assert V.verify_math(answer, gold) == "correct"


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        ("\\boxed{5m/s}", "\\frac{4m}{s}"),
        ("\\boxed{4m/s}", "\\frac{4m}{s^2}"),
        ("\\boxed{4 g/L}", "\\frac{4L}{g}"),
        ("\\boxed{3\\sqrt{2}~\\mathrm{m/s}}", "3"),
    ],
)
def test_the_box_as_written_makes_no_other_value_right(answer: str, gold: str) -> None:
    assert V.verify_math(answer, gold) == "wrong"


# --- multiple choice and a long reply -----------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        "Option A fails, since otherwise 3 divides n. So the answer is (B).",
        "If x = 0, nothing works. Otherwise, the answer is B.",
        "Suppose the answer is A. Then 2 + 2 = 5, a contradiction. So the answer is B.",
        "\\boxed{B}",
    ],
)
def test_choice_replies_read_as_before(answer: str) -> None:
    assert V.verify_choice(answer, "B") == "correct"
    assert V.verify_choice(answer, "A") == "wrong"


def test_a_long_reply_of_cases_and_checks_ends() -> None:
    # a hang guard (30k characters of thought: the new patterns must stay linear), no timing
    chunks = [
        "Suppose the answer is 3, then 3 + 3 = 7, a contradiction",
        "If n is even, x = 2; otherwise x = 3",
        "and 5 if n is odd",
        "otherwise",
        "Substituting x = 2 into the equation gives 4 - 4 = 0",
        "2 is not a solution",
        "the speed is 3\\sqrt{2}~\\mathrm{m/s}",
        "if",
        "12 and",
        "\\(x = 2",
        "~ ~ ~ \\, \\quad",
    ]
    text = ". ".join(chunks[i * 7 % len(chunks)] for i in range(700))
    text += " " + "otherwise if 3 " * 400 + "and 3 when " * 400
    done: list[str] = []

    def run() -> None:
        for reply in (text, text + ".", "\\boxed{2}" + text, text.replace(". ", " ")):
            V._final_answer(reply, "E")
            V._unasserted(reply)
            V._before_checks(reply)
        done.append("yes")

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(120)
    assert done == ["yes"]
