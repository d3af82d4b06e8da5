"""reasoning.split did not read Gemma 4's thought channel: a Gemma 4 reply
`<|channel>thought\\nR<channel|>A` (Google's "Gemma 4 prompt formatting": `<|think|>` in the
system turn turns thinking on, `<|channel>` / `<channel|>` frame the model's internal process;
the tokenizer's response_schema takes `thinking` from `<|channel>thought\\n(.*?)<channel|>`) was
all answer (think 'none'): generate recorded the chain of thought as the answer, and eval
verified the drafts in it. It is a think block now, as `<think>` and Mistral's `[THINK]` are."""

from __future__ import annotations

from distill.reasoning import split

R = "59 + 63: maybe \\boxed{121}? Check: 59 + 63 = 122."
A = "59 + 63 = \\boxed{122}."


def test_gemma4_thought_channel_is_the_reasoning():
    assert split(f"<|channel>thought\n{R}<channel|>{A}") == (R, A, "closed")
    # thinking off, a larger model: the block written empty before the answer
    assert split(f"<|channel>thought\n<channel|>{A}") == ("", A, "closed")


def test_gemma4_cut_off_in_its_thought_has_no_answer():
    assert split(f"<|channel>thought\n{R}") == (R, "", "unclosed")


def test_gemma4_reasoning_returned_apart_and_echoed_in_the_content():
    assert split(f"<|channel>thought\n{R}<channel|>{A}", R) == (R, A, "api")


def test_other_blocks_that_name_the_gemma_markers_stay_whole():
    assert split("<think>Gemma writes <|channel>thought there</think>4") == (
        "Gemma writes <|channel>thought there",
        "4",
        "closed",
    )
