"""A served teacher that hands its reasoning back beside the content (reasoning_content): a
content that merely names a think tag was cut at it ('Use </think> to close.' recorded as the
answer 'to close.'), as train's with_markers_split did before 9d26b95. Only a block the content
opens with, or the reasoning (or nothing) echoed before a close tag, is stripped."""

from __future__ import annotations

import pytest

from distill.reasoning import split


@pytest.mark.parametrize(
    "content",
    [
        "Use </think> to close the block.",
        "Write <think> first, then </think>, then the answer.",
        "Mistral closes with [/THINK] and Gemma 4 with <channel|>.",
    ],
)
def test_a_content_that_names_a_tag_is_the_answer_whole(content):
    assert split(content, api_reasoning="R") == ("R", content, "api")


@pytest.mark.parametrize(
    "content",
    [
        "<think>R</think>\n\n12",
        "<think></think>12",
        "R</think>12",
        "</think>\n\n12",
        "  <think>\nsome echo\n</think> 12",
    ],
)
def test_an_echoed_block_is_stripped(content):
    assert split(content, api_reasoning="R") == ("R", "12", "api")
