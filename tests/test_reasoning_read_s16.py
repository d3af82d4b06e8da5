"""Where a reply's reasoning ends, read again after ca55806 (Gemma 4's thought channel) and
59829df (export --reasoning-key).

1. A sample whose prompt opened `<think>` (R1-Distill's template: in_think) closes its block with
   `</think>`; since Gemma 4's `<channel|>` became a close tag, a reasoning that named it (or
   Mistral's `[/THINK]`) before its `</think>` was cut there: the rest of the reasoning was
   recorded as the answer, and verified.
2. export --reasoning-key moved the text before the first `</think>` of any assistant content
   under the key: a reply without reasoning whose answer names the tag was exported as a
   reasoning (the head of its answer) and an answer (the tail).
"""

from __future__ import annotations

import json

import pytest

from distill.reasoning import split
from distill.train import ExportConfig, export
from tests.test_reasoning_templates_s15 import USER, record

R = "The user asks how Gemma 4 ends its thought: with {tag}. So 2 + 2 = 4."
A = "\\boxed{4}"


@pytest.mark.parametrize("tag", ["<channel|>", "[/THINK]"])
def test_a_prefilled_reasoning_that_names_another_familys_close_tag_is_reasoning(tag):
    reasoning = R.format(tag=tag)
    assert split(f"{reasoning}\n</think>\n\n{A}", in_think=True) == (reasoning, A, "prefilled")


def test_gemma4_and_think_blocks_read_as_before():
    assert split(f"<|channel>thought\nR<channel|>{A}") == ("R", A, "closed")
    assert split("no tag, cut off", in_think=True) == ("no tag, cut off", "", "unclosed")
    assert split(f"<think>R</think>{A}", in_think=True) == ("R", A, "closed")


NO_REASONING = "Its thought ends with </think>, then the reply."


@pytest.mark.parametrize("key", ["reasoning_content", "thinking", "chunks"])
def test_a_reply_without_reasoning_that_names_the_tag_is_exported_whole(tmp_path, key):
    kept = tmp_path / "kept.jsonl"
    rows = [record(None, NO_REASONING), record("one and one", "2")]
    kept.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "data.jsonl"
    export(ExportConfig(data=str(kept), out=str(out), reasoning_key=key))
    plain, reasoned = [json.loads(line)["messages"] for line in out.read_text().splitlines()]
    assert plain == [USER, {"role": "assistant", "content": NO_REASONING}]
    if key == "chunks":
        want = [{"type": "thinking", "thinking": "one and one"}, {"type": "text", "text": "2"}]
        assert reasoned[-1] == {"role": "assistant", "content": want}
    else:
        assert reasoned[-1] == {"role": "assistant", "content": "2", key: "one and one"}
