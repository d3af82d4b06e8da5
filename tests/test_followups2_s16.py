"""Follow-ups of this session's reading fixes, on the train and kd side.

1. A student whose template reads the reasoning under a key (gpt-oss `thinking`, GLM's and
   Qwen3's `reasoning_content`, Ministral-reasoning's `thinking` chunks): an assistant message
   without reasoning whose answer merely names `</think>` (explains the tag) was split at the
   tag, by distill (examples.as_template_reads_reasoning) and by Qwen3's and GLM's templates
   themselves: the head of the answer trained as reasoning, the answer cut. Only a content that
   opens with `<think>` is a think block (as export reads it since 1f2a5e1).
"""

from __future__ import annotations

import pytest

from distill.examples import REASONING_CHUNKS, as_template_reads_reasoning
from tests.test_reasoning_templates_s15 import (
    USER,
    USER2,
    record,
    rendered,
    tokenizer,
    train_rows,
)

NO_REASONING = "A reply's thought ends with </think>, then the reply."


@pytest.mark.parametrize("name", ["gpt-oss", "glm-4.6", "qwen3", "ministral-3-reasoning"])
def test_a_reply_without_reasoning_that_names_the_tag_trains_whole(tmp_path, name):
    tok = tokenizer(name)
    [(_, text, trained)] = train_rows(tmp_path, tok, [record(None, NO_REASONING)])
    # what the template writes for a reply without reasoning, this answer in its place
    plain = rendered(tok, [USER, {"role": "assistant", "content": "PLAIN"}])
    prompt = rendered(tok, [USER], add_generation_prompt=True)
    want = plain.replace("PLAIN", NO_REASONING)
    assert text in (want, want + tok.eos_token)  # (EOS added where the template ends with none)
    assert text.startswith(prompt) and "".join(trained) == text[len(prompt) :]


@pytest.mark.parametrize("key", ["reasoning_content", "thinking", REASONING_CHUNKS])
def test_only_a_content_that_opens_with_a_think_block_is_split(key):
    m = {"role": "assistant", "content": NO_REASONING}
    assert as_template_reads_reasoning(m, key) == m
    opened = {"role": "assistant", "content": "\n<think>\nR\n</think>\n\nA names </think>."}
    moved = as_template_reads_reasoning(opened, key)
    if key == REASONING_CHUNKS:
        parts = [
            {"type": "thinking", "thinking": "R"},
            {"type": "text", "text": "A names </think>."},
        ]
        assert moved == {"role": "assistant", "content": parts}
    else:
        assert moved == {"role": "assistant", "content": "A names </think>.", key: "R"}


@pytest.mark.parametrize("name", ["glm-4.6", "qwen3"])
def test_a_history_turn_that_names_the_tag_is_read_whole(tmp_path, name):
    later = {"role": "assistant", "content": "<think>\nR\n</think>\n\n4"}
    chat = {"messages": [USER, {"role": "assistant", "content": NO_REASONING}, USER2, later]}
    rows = train_rows(tmp_path, tokenizer(name), [chat])
    assert NO_REASONING in rows[-1][1]
