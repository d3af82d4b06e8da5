"""filter's think_tags check saw only R1's <think> tags left in a trace: a Mistral reasoning
model's [THINK] block or gpt-oss's harmony header left in the answer (a teacher whose reply the
split could not read) was kept, and train would learn the markers as text."""

from __future__ import annotations

import pytest

from distill.filter.checks import think_tags


@pytest.mark.parametrize(
    "answer",
    [
        "[THINK]Let me add.[/THINK]The answer is 4.",
        "The answer is 4.[/THINK] 4",
        "analysis<|channel|>final<|message|>The answer is 4.",
        "<think>again</think> 4",
    ],
)
def test_reasoning_markers_left_in_a_trace_are_rejected(answer):
    rec = {"reasoning": "2 + 2", "answer": answer, "think": "closed"}
    assert think_tags(rec, None) == "duplicated_think"


def test_a_trace_without_markers_is_kept():
    rec = {"reasoning": "2 + 2 is 4 [see above]", "answer": "The answer is 4.", "think": "closed"}
    assert think_tags(rec, None) is None
