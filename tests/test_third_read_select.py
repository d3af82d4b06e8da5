"""A third read of `distill select`: a --by column read per prompt instead of per trace, judge
replies whose score was misread (a reasoning judge's thinking before a lone </think>, the
rubric's '1-10' read as a score of 1)."""

from __future__ import annotations

import pytest

from distill.select.judge import parse_score


@pytest.mark.parametrize(
    "reply",
    [
        # DeepSeek-R1 served without a reasoning parser: the template opened <think>, the reply
        # holds the thinking, a lone </think>, then the verdict
        'Draft: {"score": 3, "reason": "hmm"}. No, better than that.\n</think>\n\n'
        '{"score": 8, "reason": "clear"}',
        "Maybe Score: 3? Let me check again.\n</think>\n\nClear.\nScore: 8",
    ],
)
def test_a_reasoning_judges_thinking_before_a_lone_close_tag_is_not_its_verdict(reply):
    score, reason = parse_score(reply)
    assert score == 8.0
    assert "Let me check" not in reason and "Draft" not in reason


@pytest.mark.parametrize(
    "reply,score",
    [
        ("Score 1-10: 8", 8.0),  # the scale named after the label, then the score
        ("Score: 8\n(on a rating 1-10 scale, 10 exemplary)", 8.0),
        ("Score: 8. A rating 1 to 10 fits this rubric.", 8.0),
        ("Score: 7 - clear but long", 7.0),  # a dash after the score is no range
    ],
)
def test_the_rubrics_range_is_not_read_as_a_score(reply, score):
    assert parse_score(reply)[0] == score
