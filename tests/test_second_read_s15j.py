"""Second read of ab8cf97 (train --format r1 passes an assistant message's reasoning under the key
its chat template reads, and trains the template's finished turn after the generation prompt).
Rows go through `distill train`'s path (build_dataset, then its pre-flight) with the real
templates of tests/fixtures (Qwen3, Qwen3-Thinking-2507, gpt-oss):

- the reasoning was cut at its last '<think>' and the answer at its last '</think>' (the split
  Qwen3's template does on a content it is given whole): a trace whose reasoning mentions
  '<think>', or whose answer mentions '</think>', trained its tail alone, where before ab8cf97
  Qwen3 students trained it whole;
- gpt-oss drops a tool-calling turn's analysis from the history once a final answer follows it,
  so the finished turn after a tool result was not written after the prompt: the answer fell back
  to an inline '<think>' block in no channel."""

from __future__ import annotations

import json

import pytest

from tests.test_examples import real_template_tokenizer
from tests.test_reasoning_templates_s15 import USER, record, rendered, tokenizer, train_rows


def trained(tmp_path, tok, row) -> tuple[str, list[str]]:
    """`distill train`'s tokenized row of `row` (build_dataset; a row past the first few, which
    its pre-flight does not look at)."""
    from distill.examples import spans
    from distill.train import TrainConfig, build_dataset

    data = tmp_path / "data.jsonl"
    data.write_text(json.dumps(row) + "\n")
    cfg = TrainConfig(
        data=str(data), model=str(tmp_path / "s"), output_dir=str(tmp_path / "o"), max_length=512
    )
    ds, _ = build_dataset(cfg, tok)
    [(ids, mask)] = zip(ds["input_ids"], ds["completion_mask"])
    return tok.decode(ids), [tok.decode(ids[a:b]) for a, b in spans(mask)]


@pytest.mark.parametrize(
    "name, opened",
    [("qwen3", "<think>\n"), ("qwen3-thinking-2507", "")],  # (2507 pre-fills '<think>\n')
)
def test_qwen3_trains_a_reasoning_that_mentions_think_whole(tmp_path, name, opened):
    tok = real_template_tokenizer(name)
    reasoning = "The tags are <think> and its close; I write 2."
    text, spans_ = trained(tmp_path, tok, record(reasoning, "2"))
    assert spans_ == [f"{opened}{reasoning}\n</think>\n\n2<|im_end|>\n"]
    assert text.count(reasoning) == 1


def test_qwen3_trains_an_answer_that_mentions_the_closing_tag_whole(tmp_path):
    tok = real_template_tokenizer("qwen3")
    answer = "Close the block with </think> and then answer."
    reply = {"role": "assistant", "content": f"<think>\nhow to close\n</think>\n\n{answer}"}
    [(_, _, spans_)] = train_rows(tmp_path, tok, [{"messages": [USER, reply]}])
    assert spans_ == [f"<think>\nhow to close\n</think>\n\n{answer}<|im_end|>\n"]


CALL = [{"type": "function", "function": {"name": "add", "arguments": {"a": 1}}}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "add",
            "description": "add",
            "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}},
        },
    }
]


@pytest.mark.parametrize("train_on", ["all", "last"])
def test_gpt_oss_answer_after_a_tool_call_that_thought_trains_its_channels(tmp_path, train_on):
    from distill.examples import Renderer, load_examples

    tok = tokenizer("gpt-oss")
    calling = {"role": "assistant", "content": "", "thinking": "call add", "tool_calls": CALL}
    result = {"role": "tool", "content": "2"}
    row = {
        "messages": [
            USER,
            {**calling, "reasoning_content": "call add"},
            result,
            {"role": "assistant", "content": "It is 2.", "reasoning_content": "got it"},
        ],
        "tools": TOOLS,
    }
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps(row) + "\n")
    [ex] = list(load_examples(str(data)))
    r = Renderer(tok, "r1", train_on=train_on)
    prompt = r.prompt_text(ex)
    # the prompt is what the student is served in the tool loop: its call's analysis kept
    asked = rendered(tok, [USER, calling, result], tools=TOOLS, add_generation_prompt=True)
    assert prompt == asked
    assert "<|channel|>analysis<|message|>call add<|end|>" in prompt
    answer = (
        "<|channel|>analysis<|message|>got it<|end|>"
        "<|start|>assistant<|channel|>final<|message|>It is 2.<|return|>"
    )
    assert r.completion_text(ex, prompt) == answer
    [(ids, mask)] = r.sequences(ex)
    assert tok.decode(ids).endswith(prompt + answer)
    assert "<think>" not in tok.decode(ids)
