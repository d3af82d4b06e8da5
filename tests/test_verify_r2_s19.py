"""Session 19, second read of 5d39024 (a value given, then another set aside: "x = 4, not 6").

1. "4, not 6 nor 8": the "nor" was read as a unit word after the 6 ("6 nor", as "6 apples"), so
   the aside ended there and the reply was read as its last value, 8 (right against the value
   set aside, wrong against 4; 8's vote under maj@k).
2. "x = 4 (not 6) or 8": the "or 8" after the bracket closed was read as one more value set
   aside, so the hedge 4 or 8 was right against 4. The bracket ends the aside: read as before.
3. A percentage ("25%, not 20%", "25\\%, not 20\\%"), degrees Celsius ("-5°C, not 5°C") and a
   bold value ("**Answer: 4** (not 6)", "x = **4**, not 6") gave no value before the aside, so
   the reply was read as the value set aside; a dollar amount too ("She earns $18, not $20.":
   its "$" taken for inline math's).
4. A sentence with a long run of spaces took quadratic time in its length (each space tried as
   the start of an aside): seconds on a few thousand spaces.

    .venv/bin/python -m pytest tests/test_verify_r2_s19.py -q -p no:xdist
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from distill.filter.verify import math_answer_key, verify_math

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "reply, given, aside",
    [
        # 1. "nor"
        ("It is 4, not 6 nor 8.", "4", "8"),
        ("So x = 4, not 6 nor 8.", "4", "8"),
        # 3. a percentage, degrees Celsius, a bold value
        ("So the discount is 25%, not 20%.", "25", "20"),
        ("So the discount is 25\\%, not 20\\%.", "25", "20"),
        ("So 25%, not 20%, of the students passed.", "25", "20"),
        ("So the temperature is -5°C, not 5°C.", "-5", "5"),
        ("**Answer: 4** (not 6)", "4", "6"),
        ("**Answer: 4**, not 6.", "4", "6"),
        ("**The answer is 4**, not 6.", "4", "6"),
        ("So x = **4**, not 6.", "4", "6"),
        ("So x = **4** (not 6).", "4", "6"),
        # a dollar amount: its "$" was taken for inline math's, no value before the aside
        ("So she earns $18, not $20.", "18", "20"),
        ("So she earns $18 (not $20).", "18", "20"),
        ("So she earns $18 rather than $20.", "18", "20"),
        ("So the total is $18, not $20, because the discount applies.", "18", "20"),
    ],
)
def test_the_value_given_is_read_not_the_one_set_aside(reply, given, aside):
    assert verify_math(reply, given) == "correct"
    assert verify_math(reply, aside) == "wrong"
    assert math_answer_key(reply) != math_answer_key(f"\\boxed{{{aside}}}")


def test_a_value_offered_after_the_bracket_closes_is_no_aside():
    # "(not 9)" sets the 9 aside; "or 7" offers another value beside the 5: never the 5 alone
    for reply in ("So x = 5 (not 9) or 7.", "So x = 5 (not 9), or 7."):
        assert verify_math(reply, "5") != "correct"
        assert math_answer_key(reply) != math_answer_key("\\boxed{5}")
    # inside the bracket "or" still sets the next value aside too
    assert verify_math("So x = 5 (not 9 or 7).", "5") == "correct"
    assert verify_math("So x = 5 (not 9 or 7).", "7") == "wrong"


def test_aside_reading_as_before_where_nothing_changed():
    # (the reading 5d39024 gave, kept; inline math is no dollar amount)
    assert verify_math("So the speed is $18$ m/s, not $20$ m/s.", "18") == "correct"
    assert verify_math("So the speed is $18$ m/s, not $20$ m/s.", "20") == "wrong"
    assert verify_math("So $x = 18$, not $20$.", "18") == "correct"
    assert verify_math("So x = 4, not 6 or 8.", "4") == "correct"
    assert verify_math("So x = 4, not 6 or 8.", "8") == "wrong"
    assert verify_math("The speed is 5 m/s, not 7 m/s.", "5") == "correct"
    assert verify_math("So x = 4, not 6, and y = 3.", "3") == "correct"
    assert verify_math("The answer is not 6, but 4.", "4") == "correct"


def test_a_long_run_of_spaces_is_read_in_linear_time():
    # a hang guard, no timing: each of these took minutes at 100,000 spaces (quadratic)
    code = (
        "from distill.filter.verify import _set_aside_after, _not_but\n"
        "n = 100_000\n"
        "assert _set_aside_after('So x = 4' + ' ' * n + 'not 6.') is None\n"
        "assert _set_aside_after('So x = 4, not 6' + ' ' * n + '.') is not None\n"
        "assert _set_aside_after('So x = 4,' + ' \\t' * n + 'not 6.') is not None\n"
        "_not_but('So x is not 6' + ' ' * n + 'x.')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, timeout=120, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
