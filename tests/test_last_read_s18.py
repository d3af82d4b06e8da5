"""Last read of 15fefdd (verify --math: suppositions, negations, "otherwise", checks, units) and of
39534af + 08f3d61 (--reward's gold of a set's layout, distill run's check of it, the per-row
shuffle's seed).

verify, against its reading before df5ba4d and at 15fefdd:

1. "Otherwise, x = 2." after a case that sets itself aside with numbers of its own ("If a = 0,
   the equation becomes $0 = 5$, which is impossible.", "... the product $ab$ is zero, which is
   not allowed.") was no_answer (right before df5ba4d): the case gives no value.
2. A case named by "for" ("The answer is 2 for even $n$, otherwise 3.") and a case's value after
   a box ("$\\boxed{5}$, and 6 when $n$ is even") were read as the first value alone at 15fefdd
   (a hedge at df5ba4d): right against 2 / 5.
3. "x = 3, which is not a valid solution." / "..., so it is not a solution." were the answer 3
   (right) at 15fefdd: a value negated through "which"/"it".
4. A value set aside with its reason ("Note that x = 9 cannot be a solution since 9 is odd.",
   "Thus n = 6 (note that n = 0 is not a solution since n > 0).") was read on the reason's
   numbers: the answer given before it was wrong, the value set aside right.
5. The sentence 15fefdd read before a value set aside was taken whatever it was: a condition
   ("When n = 1, there are no real roots.") or a dismissal ("It cannot be 9 since 9 is odd.") was
   the answer (right against 1 / 9).
6. A supposition the reply's check confirms ("Assume the answer is 4. Then we get $16 = 16$,
   consistent.") stated nothing since df5ba4d: judged on the check's 16 (right before df5ba4d).

bench_verify's 306 verdicts are unchanged (298/306).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distill.errors import DistillError
from distill.filter import verify as V

# --- 1. "Otherwise" after a case that sets itself aside -----------------------------------------


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        ("If $a = 0$, the equation becomes $0 = 5$, which is impossible. Otherwise, $x = 2$.", "2"),
        ("If $x < 0$, then $|x| = -x$ and the equation has no solution. Otherwise, $x = 4$.", "4"),
        (
            "If $k = 0$, the product $ab$ is zero, which is not allowed. Otherwise, the answer is 12.",
            "12",
        ),
        ("If $k = 0$, then $0 = 3$, a contradiction. Otherwise, $k = 3$.", "3"),
        (
            "If $d = 0$, all terms equal $a_1 = 3$, contradicting $a_2 = 5$. Otherwise, $d = 2$.",
            "2",
        ),
    ],
)
def test_otherwise_after_a_case_that_fails_is_the_answer(answer: str, gold: str) -> None:
    assert V.verify_math(answer, gold) == "correct"


@pytest.mark.parametrize(
    "answer",
    [
        "If $n$ is even, $x = 2$; otherwise $x = 3$.",
        "If $n$ is even we get $x = 2$; otherwise $x = 3$.",
        "If $m = 1$, we get $3 = 3$, which always holds. Otherwise, $m = 2$.",
    ],
)
def test_a_case_that_holds_still_makes_otherwise_no_answer(answer: str) -> None:
    for gold in ("2", "3"):
        assert V.verify_math(answer, gold) == "no_answer"


def test_choice_replies_read_otherwise_alike() -> None:
    reply = "If x = 0, the equation becomes 0 = 5, which is impossible. Otherwise, the answer is B."
    assert V.verify_choice(reply, "B") == "correct"
    assert V.verify_choice(reply, "A") == "wrong"


# --- 2. the other case's value is a hedge --------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        ("The answer is 2 for even $n$, otherwise 3.", "2"),
        ("The answer is 2 for even $n$; otherwise 3.", "2"),
        ("The answer is 2 for even n, and 3 when n is odd.", "2"),
        ("The answer is 2 for even n. Otherwise, the answer is 3.", "3"),
        ("The answer is $\\boxed{5}$, and 6 when $n$ is even.", "5"),
        ("\\boxed{5}, and 6 when $n$ is even.", "5"),
    ],
)
def test_a_value_for_another_case_is_a_hedge(answer: str, gold: str) -> None:
    assert V.verify_math(answer, gold) == "wrong"


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        ("So the answer is 2 for all $n$.", "2"),
        ("The answer is $\\boxed{5}$, and this is the product of 5 and 1 when n = 1.", "5"),
        ("The answer is 5, since otherwise the sum would be 0.", "5"),
    ],
)
def test_no_other_case_offered_reads_the_answer(answer: str, gold: str) -> None:
    assert V.verify_math(answer, gold) == "correct"


# --- 3. a value negated through "which" / "it" ---------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        ("But then $x = 3$, which is not a valid solution.", "3"),
        ("This gives $x = 1$, which is not a solution since the denominator vanishes.", "1"),
        ("Then $x = 1$, which is not in the domain, so it is not a solution.", "1"),
        ("So $x = 2$, which is not a solution of the original equation.", "2"),
    ],
)
def test_a_value_negated_by_which_or_it_is_no_answer(answer: str, gold: str) -> None:
    assert V.verify_math(answer, gold) == "no_answer"
    assert V.math_answer_key(answer) is None


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        ("Thus $x = 2$, which is not a root of the denominator.", "2"),
        (
            "Thus the value is 2, which isn't a solution of the original quadratic but of the derived one.",
            "2",
        ),
        ("Hence $x = 7$, which is not a result I expected, but it checks out.", "7"),
        ("Thus $x = 5$, which is not the only solution, but the only positive one.", "5"),
    ],
)
def test_which_is_not_said_of_something_else_keeps_the_value(answer: str, gold: str) -> None:
    assert V.verify_math(answer, gold) == "correct"


def test_a_value_negated_after_the_answer_reads_the_answer() -> None:
    answer = "Thus $x = 2$. Then $x = 3$, which is not a valid solution."
    assert (V.verify_math(answer, "2"), V.verify_math(answer, "3")) == ("correct", "wrong")


# --- 4. a value set aside with its reason --------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "gold", "aside"),
    [
        ("Thus $x = 10$. Note that $x = 9$ cannot be a solution since 9 is odd.", "10", "9"),
        (
            "Hence $n = 6$. Note that $n = 0$ is not a valid answer because $n$ must be positive.",
            "6",
            "0",
        ),
        (
            "Thus $x = 4$. Note that $x = -4$ is not a solution since the logarithm requires $x > 0$.",
            "4",
            "0",
        ),
        ("Thus $n = 6$ (note that $n = 0$ is not a solution since $n > 0$).", "6", "0"),
        ("So $x = 4$, and $x = -4$ is not a solution since $\\log(-4)$ is undefined.", "4", "-4"),
    ],
)
def test_a_value_set_aside_with_a_reason_reads_the_answer(
    answer: str, gold: str, aside: str
) -> None:
    assert V.verify_math(answer, gold) == "correct"
    assert V.verify_math(answer, aside) == "wrong"


@pytest.mark.parametrize(
    ("answer", "gold", "verdict"),
    [
        ("$x = 8$ is not the answer because $8 > 7$.", "8", "no_answer"),
        ("x = 2 or x = 3, but x = 3 is not a solution since 3 > 2.", "3", "no_answer"),
        # a reason that goes on to the answer is none
        (
            "The value $-3$ cannot be the answer because lengths are positive, so the length is $5$.",
            "5",
            "correct",
        ),
    ],
)
def test_a_reason_after_a_negation(answer: str, gold: str, verdict: str) -> None:
    assert V.verify_math(answer, gold) == verdict


# --- 5. what comes before a value set aside must give an answer ----------------------------------


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        ("When $n = 1$, there are no real roots. Note that $x = 8$ is not the answer.", "1"),
        ("It cannot be 9 since 9 is odd. Note that $x = 3$ is not a solution.", "9"),
        ("If $k = 0$, there is no solution. Note that $x = 3$ is not a solution.", "0"),
    ],
)
def test_a_condition_or_a_dismissal_before_a_value_set_aside_is_no_answer(
    answer: str, gold: str
) -> None:
    assert V.verify_math(answer, gold) == "no_answer"


# --- 6. a supposition the reply's check confirms ------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        ("Assume the answer is 4. Then we get $16 = 16$, consistent.", "4"),
        ("Suppose the answer is 3. Then $3 + 3 = 6$, which doesn't contradict anything.", "3"),
        ("Assume the answer is 4. Checking: 4 satisfies the equation.", "4"),
    ],
)
def test_a_supposition_its_check_confirms_is_the_answer(answer: str, gold: str) -> None:
    # right before df5ba4d; at 15fefdd judged on the check's last number (wrong)
    assert V.verify_math(answer, gold) == "correct"


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        ("Suppose the answer is 3. Then 3 + 3 = 7, which contradicts 3 + 3 = 6.", "3"),
        ("If the answer were 3, it would satisfy the equation, but it doesn't.", "3"),
        (
            "Assume the answer is 4. Then $4 \\cdot 4 = 16$, which doesn't satisfy the equation.",
            "4",
        ),
        ("Suppose the answer is 3. Then $3 + 3 = 6$, which is not consistent with 7.", "3"),
        ("Suppose the answer is 3. So it is not the answer. The total is 12, as expected.", "3"),
        ("Suppose the answer is 2.", "2"),
    ],
)
def test_a_supposition_refuted_or_unchecked_is_no_answer(answer: str, gold: str) -> None:
    assert V.verify_math(answer, gold) != "correct"


def test_bench_verify_verdicts_hold() -> None:
    import logging
    import sys

    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root / "benchmarks"))
    try:
        from bench_verify import distill_verify, load_cases
    finally:
        sys.path.pop(0)
    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    cases = load_cases()
    agree = sum(distill_verify(c["prediction"], c["gold"]) == c["expected"] for c in cases)
    assert (agree, len(cases)) == (298, 306)


# --- distill run's check of an on-policy prompt source's gold (39534af) -------------------------


def _write(tmp_path: Path, name: str, rows) -> str:
    path = tmp_path / name
    with path.open("w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return str(path)


def _cfg(data: str, tmp_path: Path, **kw):
    from distill.train.config import TrainConfig

    kw.setdefault("lmbda", 1.0)
    return TrainConfig(
        data=data, model="s", output_dir=str(tmp_path / "o"), method="onpolicy",
        teacher_model="s", max_length=512, reward="math", **kw,
    )  # fmt: skip


def test_the_gold_check_reads_the_rows_lazily(tmp_path, monkeypatch) -> None:
    # the prompts are read once (as train reads them); the gold is looked for up to the first
    # row that has one, not over a second copy of the whole set
    from distill.pipeline import _check_rows

    n = 3000
    rows = ({"question": f"What is {i} + 1?", "answer": str(i + 1)} for i in range(n))
    data = _write(tmp_path, "big.jsonl", rows)
    parsed = {"n": 0}
    loads = json.loads

    def counting(s, *a, **k):
        parsed["n"] += 1
        return loads(s, *a, **k)

    monkeypatch.setattr(json, "loads", counting)
    _check_rows("train", _cfg(data, tmp_path, prompt_field="question"), {}, True)
    assert n <= parsed["n"] <= n + 10


@pytest.mark.parametrize(
    "rows",
    [
        [{"question": "Why is the sky blue?"}, {"question": "Name a colour."}],
        [{"messages": [{"role": "user", "content": "Why is the sky blue?"}]}],
        # a layout's row with no answer marked (AQuA-RAT's `correct` null)
        [{"question": "Pick one.", "options": ["A)1", "B)2"], "correct": None}],
    ],
)
def test_a_source_with_no_gold_is_still_refused(rows, tmp_path) -> None:
    from distill.pipeline import _check_rows

    data = _write(tmp_path, "bare.jsonl", rows)
    kw = {"prompt_field": "question"} if "question" in rows[0] else {}
    with pytest.raises(DistillError, match=r"--reward math: no example of .*bare.jsonl has a"):
        _check_rows("train", _cfg(data, tmp_path, **kw), {}, True)


@pytest.mark.parametrize(
    "rows",
    [
        [{"question": "What is 2 + 2?", "answer": "4"}],
        [{"messages": [{"role": "user", "content": "What is 2 + 2?"}], "answer": "4"}],
        # MathVista's layout, a free-form row: its `answer` column is the gold
        [{"question": "What is 2 + 2?", "choices": None, "answer": "4"}],
    ],
)
def test_a_users_answer_column_is_the_gold(rows, tmp_path) -> None:
    from distill.pipeline import _check_rows
    from distill.train.kd.data import source_prompts
    from distill.train.kd.reward import gold_of

    data = _write(tmp_path, "own.jsonl", rows)
    kw = {"prompt_field": "question"} if "question" in rows[0] else {}
    cfg = _cfg(data, tmp_path, **kw)
    _check_rows("train", cfg, {}, True)
    golds = [gold_of(f) if row is None else row.gold for _, f, row in source_prompts(cfg)]
    assert golds == ["4"]
