"""A last read of this session's select changes: a reasoning judge whose
thinking closes inside a line before a bare score (4d16655); the diversity draw by level
(2135f34) on prompts with many traces."""

from __future__ import annotations

import pytest

from distill.select.judge import parse_score


@pytest.mark.parametrize(
    "reply",
    [
        "The steps check out, so a high mark.</think>\n\n8",
        "The steps check out, so a high mark. </think> **8**",
    ],
)
def test_a_bare_score_after_thinking_closed_inside_a_line_is_read(reply):
    """A judge whose template opened <think> (R1) and closed it at the end of its last line of
    thinking, then replied with the number alone: 4d16655 read a bare reply, but not after
    such a close (the text after it was taken for the verdict only when it held a label), so
    the trace was dropped as judge_no_score."""
    assert parse_score(reply) == (8.0, "")


def test_a_tag_quoted_in_a_verdict_still_reads_the_verdict():
    reply = 'The trace leaks a stray </think> tag into its answer.\n\n{"score": 4}'
    assert parse_score(reply)[0] == 4.0
