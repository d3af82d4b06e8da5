"""Second read of the verdicts (s12): a dollar hedge judged right, an APPS output in its grader's
tolerance judged wrong, and judge replies whose score was not read. Each case below was judged
otherwise before its fix."""

import pytest

from distill.filter.sandbox import MODES, probe
from distill.filter.verify import judge, verify_math
from distill.select.judge import parse_score

ISOLATED = [m for m in MODES if probe(m) is None]
BEST = ISOLATED[0] if ISOLATED else "none"
F = "```"

# ---------------------------------------------------------------- math: a hedge in dollars


@pytest.mark.parametrize(
    "answer, verdict",
    [
        # "$18 or $" was read as one inline-math span, cut to its amount: 18, the hedge lost
        ("She pays 3 times $6.\n\nThe answer is $18 or $20.", "wrong"),
        ("The answer is $18, or maybe $20.", "wrong"),
        ("The answer is $20 or $18.", "wrong"),
        # as before
        ("The answer is $18.", "correct"),
        ("The answer is $18 dollars, since she had $20 before.", "correct"),
        ("The answer is $18$.", "correct"),
    ],
)
def test_a_dollar_hedge_is_wrong(answer, verdict):
    assert verify_math(answer, "18") == verdict


# ---------------------------------------------------------------- code: APPS's tolerance


def apps_verdict(program: str, inputs: list, outputs: list) -> str:
    answer = f"{F}python\n{program}\n{F}"
    rec = {"answer": answer, "meta": {"input_output": {"inputs": inputs, "outputs": outputs}}}
    return judge(rec, "code", timeout=5, sandbox=BEST)[0]


@pytest.mark.parametrize(
    "printed, expected, verdict",
    [
        # APPS's testing_util accepts these (np.allclose on the numbers, or equal at 3
        # decimals); compared as exact tokens they were wrong
        ("4.0", "4\n", "correct"),
        ("0.333333", "0.3333333333\n", "correct"),
        ("1.5 0.333333", "1.5 0.3333333333\n", "correct"),
        # as before
        ("0.34", "0.3333333333\n", "wrong"),
        ("5", "4\n", "wrong"),
        ("1000000001", "1000000000\n", "wrong"),  # integers exactly
        ("2 1", "1 2\n", "wrong"),  # in order
    ],
)
def test_apps_outputs_within_its_graders_tolerance(printed, expected, verdict):
    program = f"input()\nprint({printed!r})"
    assert apps_verdict(program, ["1\n"], [expected]) == verdict


# ---------------------------------------------------------------- judge: more score layouts


@pytest.mark.parametrize(
    "reply, score",
    [
        ("Clear and right.\n\nThe trace gets a score of 8.", 8),
        ("Score (out of 10): 8", 8),
        ("Score: [8]", 8),
        ("Score: (8)", 8),
        ("**Score:** [7]\n\nOne step is terse.", 7),
        ("Good work overall; I'd give it a score of 6.", 6),
        # a remark naming another score never wins over the rubric's line, nor a labelled one
        ("Score: (8)\n\nIt is not a score of 10: one step is terse.", 8),
        ("Rating: 7\n\nIt lacks the rigor a score of 10 needs.", 7),
        ("The trace gets a score of 8. It is not a score of 10 because a step is missing.", 8),
        ("7/10. It falls short of a score of 10.", 7),
        # as before
        ("Score (1-10): 8", 8),
        ("Score (out of 100): 80", None),
        ("It deserves a score of 80 out of 100.", None),
    ],
)
def test_score_layouts(reply, score):
    assert parse_score(reply)[0] == score


# ---------------------------------------------------------------- code: the last block runs


@pytest.mark.parametrize("close", [F, f"\n{F} Done.", f"\n{F}."])
def test_the_last_block_runs_when_its_fence_closes_inside_a_line(close):
    # a first draft, then the program, its closing fence with text after it on the line: the
    # line reader found no close, stopped, and ran the draft (d7c5ab5)
    answer = f"{F}python\nprint(3)\n{F}\nFixed:\n{F}python\nprint(2 * int(input())){close}"
    rec = {"answer": answer, "meta": {"tests": {"inputs": ["2\n"], "outputs": ["4\n"]}}}
    assert judge(rec, "code", timeout=5, sandbox=BEST)[0] == "correct"
