"""Second read of 4c744e0 (verify --math: a value offered after the stated answer is a hedge; a
stated list is read whole): what it missed.

1. Time. A looping reply hung filter: "or maybe or maybe ..." after an answer was read two ways
   at each "or maybe" (exponential: 20 of them took 5 s, 40 would take days); "2 also works, "
   or "13也可以，" repeated, a run of "1,1,1,...", "\\(1 " never closed, and a list of distinct
   values ("1 or 2 or 3 ...", "0 also works, 1 also works, ...") each took quadratic time
   (100 KB: minutes). Every one is read in well under a second now.
2. False hedges of a right answer (judged wrong, a good trace thrown away): the stated value
   written again as its decimal approximation ("$\\sqrt{2}$, or 1.414", "(or 6.28)", "or
   3.14159..."), as a factorial ("120, or 5!"), in other units ("45 degrees, or
   $\\frac{\\pi}{4}$", "$\\frac{\\pi}{4}$ (or $45^\\circ$)"), an interval restated as its
   inequalities ("$(-\\infty,-1)\\cup(2,\\infty)$, i.e. $x < -1$ or $x > 2$"), and roots
   listed with "or" and then one chosen ("so x = 4 or x = -4, but x must be positive").
3. A stated list of numbers with digit groups ("The answer is 1,000 and 2,000") was four
   numbers to math-verify: wrong against "1000, 2000". "The answer is 2 and 3, respectively."
   was read as 2 (the list ended at ", respectively" was not read at all).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from distill.filter.verify import math_answer_key, verify_math

N = 100_000
INTERVAL = "(-\\infty,-1)\\cup(2,\\infty)"
LONG = {
    "or maybe, looping": "\\boxed{5}. " + "or maybe " * (N // 9) + "x",
    "Or maybe, looping after a statement": "The answer is 5. " + "Or maybe " * (N // 9) + "hmm",
    "also works, repeated": "The answer is 5" + "2 also works, " * (N // 14),
    "也可以, repeated after a box": "\\boxed{5}" + "13也可以，" * (N // 6),
    "a run of 1,1,1": "\\boxed{5}. " + "1," * (N // 2),
    "unclosed \\(": "\\boxed{5}. " + "\\(1 " * (N // 4),
    "distinct values offered": "\\boxed{0}, but "
    + ", ".join(f"{i} also works" for i in range(1, 6000))
    + ".",
    "distinct values or'ed": "The answer is " + " or ".join(str(i) for i in range(1, 15000)) + ".",
}


def test_a_long_degenerate_reply_is_judged_in_seconds():
    # in one child process (a regex cannot be interrupted), every reply in turn; on a hang, the
    # names it finished say which one hung
    code = (
        "import json, sys\n"
        "from distill.filter.verify import verify_math\n"
        "for name, t in json.load(sys.stdin).items():\n"
        "    verify_math(t, '12')\n"
        "    print(name, flush=True)\n"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", code],
            input=json.dumps(LONG),
            text=True,
            capture_output=True,
            check=True,
            timeout=120,  # generous for a slow CI machine: all of them take ~3 s here
        ).stdout.splitlines()
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        finished = out.splitlines()
        pytest.fail(f"hung on {list(LONG)[len(finished)]!r} (finished: {finished})")
    assert done == list(LONG)


# (a right reply that writes its answer again, the gold)
SAME_VALUE_AGAIN = [
    # its decimals
    ("The answer is $\\sqrt{2}$, or 1.414.", "\\sqrt{2}"),
    ("\\boxed{\\sqrt{2}}, or 1.414.", "\\sqrt{2}"),
    ("\\boxed{\\frac{1}{3}} (or 0.333).", "\\frac{1}{3}"),
    ("The answer is $2\\pi$ (or 6.28).", "2\\pi"),
    ("The answer is $\\pi$, or 3.14159...", "\\pi"),
    # a factorial
    ("The answer is 120, or 5!.", "120"),
    ("The answer is \\boxed{24}, or 4! ways.", "24"),
    # other units
    ("The answer is 45 degrees, or $\\frac{\\pi}{4}$.", "45"),
    ("The answer is $\\frac{\\pi}{4}$ (or $45^\\circ$).", "\\frac{\\pi}{4}"),
    # an interval's inequalities
    (f"\\boxed{{{INTERVAL}}}, i.e. $x < -1$ or $x > 2$.", INTERVAL),
    (f"The answer is ${INTERVAL}$, i.e. $x<-1$ or $x>2$.", INTERVAL),
    (f"So the solution set is \\boxed{{{INTERVAL}}}. That is, $x<-1$ or $x>2$.", INTERVAL),
    # roots with "or", one of them chosen
    ("The answer is 4, so x = 4 or x = -4, but x must be positive.", "4"),
    ("The answer is 4, so x = 4 or x = -4, and since x > 0 we take 4.", "4"),
    ("The answer is 3, so x = 3 or x = 5, but x = 5 is extraneous.", "3"),
    ("The answer is 4. So x = 4 or x = -4; rejecting the negative root gives 4.", "4"),
    (
        "The answer is 3. So x = 3 or x = 5 would both satisfy the first equation, but only 3 "
        "satisfies the second.",
        "3",
    ),
]


@pytest.mark.parametrize(("reply", "gold"), SAME_VALUE_AGAIN)
def test_the_answer_written_again_is_no_hedge(reply: str, gold: str) -> None:
    assert verify_math(reply, gold) == "correct"  # it was a hedge of two values: wrong


@pytest.mark.parametrize(
    ("reply", "gold"),
    [
        # another value after all: hedges, as 4c744e0 meant
        ("The answer is $\\sqrt{2}$, or 1.5.", "\\sqrt{2}"),  # no rounding of sqrt(2)
        ("The answer is $\\frac{1}{20}$, or 0.1.", "\\frac{1}{20}"),  # one digit: no decimals
        ("The answer is $\\frac{\\pi}{4}$ (or $60^\\circ$).", "\\frac{\\pi}{4}"),
        ("The final answer is 3. So n = 3 or n = 5 both work.", "3"),
        ("The answer is 12, so 13 also works.", "12"),
        ("\\boxed{5}. Alternatively, 6.", "5"),
    ],
)
def test_another_value_is_still_a_hedge(reply: str, gold: str) -> None:
    assert verify_math(reply, gold) == "wrong"


def test_a_list_of_numbers_with_digit_groups() -> None:
    assert verify_math("The answer is 1,000 and 2,000.", "1000, 2000") == "correct"
    assert verify_math("The answer is $1,000$ and $2,000$.", "\\{1000, 2000\\}") == "correct"
    assert verify_math("\\boxed{1,000} and \\boxed{2,000}", "1000, 2000") == "correct"
    # a hedge against a set gold: its values, not "1, 0, 2, 0"
    assert verify_math("The answer is 1,000, but 2,000 also works.", "\\{1000, 2000\\}") == (
        "correct"
    )
    assert math_answer_key("The answer is 1,000 and 2,000.") == "{1000, 2000}"
    assert verify_math("The answer is 1,000 and 2,000.", "1000") == "wrong"


def test_a_list_stated_respectively() -> None:
    assert verify_math("The answer is 2 and 3, respectively.", "2, 3") == "correct"
    assert verify_math("The answer is 2 and 3, respectively.", "2") == "wrong"
