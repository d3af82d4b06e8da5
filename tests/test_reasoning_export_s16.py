"""`distill export --format r1` without `--model` wrote every reply's reasoning into the assistant
content as `<think>...</think>`, with no other choice: a student whose chat template reads the
reasoning under a message key of its own (gpt-oss: `thinking`, its analysis channel; Mistral's
reasoning models: a thinking chunk) was trained on the tags as text in its final answer by a
trainer that renders `messages` with that template (TRL). Inline stays the default (open-r1's
layout, which templates that read the content train); --reasoning-key KEY writes the reasoning
where such a template reads it and the answer alone as content."""

from __future__ import annotations

import json

import pytest

from distill.errors import DistillError
from distill.examples import REASONING_CHUNKS
from distill.train import ExportConfig, export
from tests.test_reasoning_templates_s15 import USER, record, tokenizer

REASONING, ANSWER = "one and one", "2"


def exported(tmp_path, **kw) -> list[dict]:
    kept = tmp_path / "kept.jsonl"
    kept.write_text(json.dumps(record(REASONING, ANSWER)) + "\n")
    out = tmp_path / "data.jsonl"
    export(ExportConfig(data=str(kept), out=str(out), **kw))
    return [json.loads(line) for line in out.read_text().splitlines()]


@pytest.mark.parametrize(
    "name, key",
    [
        ("gpt-oss", "thinking"),
        ("ministral-3-reasoning", REASONING_CHUNKS),
        ("qwen3", "reasoning_content"),
        ("glm-4.6", "reasoning_content"),
    ],
)
def test_the_students_template_renders_the_exported_reasoning_where_it_reads_it(
    tmp_path, name, key
):
    tok = tokenizer(name)
    if key == REASONING_CHUNKS:
        reply = {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": REASONING},
                {"type": "text", "text": ANSWER},
            ],
        }
    else:
        reply = {"role": "assistant", "content": ANSWER, key: REASONING}
    want = tok.apply_chat_template([USER, reply], tokenize=False)
    [row] = exported(tmp_path, reasoning_key=key)
    assert tok.apply_chat_template(row["messages"], tokenize=False) == want
    assert "<think>" not in json.dumps(row)


def test_inline_stays_the_default(tmp_path, capsys):
    [row] = exported(tmp_path)
    assert row["messages"][-1] == {
        "role": "assistant",
        "content": f"<think>\n{REASONING}\n</think>\n\n{ANSWER}",
    }
    assert "--reasoning-key thinking" in capsys.readouterr().out  # the warning says the way out


def test_a_reasoning_key_with_a_model_or_alpaca_is_refused_in_one_line(tmp_path):
    for kw in ({"model": "some/student"}, {"format": "alpaca"}, {}):
        with pytest.raises(DistillError) as e:
            ExportConfig(
                data="kept.jsonl",
                out="d.jsonl",
                reasoning_key="thinking" if kw else "think",
                **kw,
            )
        assert "--reasoning-key" in str(e.value) and "\n" not in str(e.value)
