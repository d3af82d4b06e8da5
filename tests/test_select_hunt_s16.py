"""select, hunted for wrong numbers (session 16)."""

import pytest

from distill.select.judge import parse_score


@pytest.mark.parametrize(
    "reply, score",
    [("8", 8.0), ("**8**", 8.0), ("10", 10.0), ("1", 1.0), ("10.", 10.0), (" **7** \n", 7.0)],
)
def test_a_judge_that_replies_with_the_score_alone_is_scored_not_dropped(reply, score):
    """A judge asked for the number only writes "8" or "**8**": it was judge_no_score (the trace
    rejected, judge.malformed counted); "10" is ten, never one."""
    assert parse_score(reply)[0] == score


@pytest.mark.parametrize("reply", ["0", "11", "100", "-3"])
def test_a_bare_number_outside_one_to_ten_is_still_no_score(reply):
    assert parse_score(reply)[0] is None
