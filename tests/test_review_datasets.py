"""Second read of how `distill train` reads dataset layouts: what reaches the prompt and the loss.

.venv/bin/python -m pytest tests/test_review_datasets.py -q
"""

from __future__ import annotations

import json

import pytest

from distill.errors import DistillError
from distill.examples import Columns, Renderer, load_examples, tokenize_examples
from tests.test_examples import real_template_tokenizer

TEMPLATES = ["qwen2.5-instruct", "deepseek-r1-distill-qwen", "llama-3.1-instruct"]


def write_rows(tmp_path, rows):
    p = tmp_path / "data.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(p)


def rendered(tok, cols, row=0):
    """(prompt text, [each trained span]) of one tokenized row."""
    ids, mask = cols["input_ids"][row], cols["completion_mask"][row]
    spans, run = [], []
    for t, m in zip([*ids, None], [*mask, 0]):
        if m:
            run.append(t)
        elif run:
            spans.append(tok.decode(run))
            run = []
    return tok.decode([t for t, m in zip(ids, mask) if not m]), spans


@pytest.mark.parametrize(
    "row",
    [
        # LLaMA-Factory's alpaca layout: instruction/input/output + a system column
        {"instruction": "Translate.", "input": "Bonjour", "output": "Hello", "system": "SYSMSG"},
        # a distill trace record
        {
            "messages": [{"role": "user", "content": "Translate. Bonjour"}],
            "reasoning": "It is French.",
            "answer": "Hello",
            "system": "SYSMSG",
        },
        # TRL's conversational prompt/completion
        {
            "prompt": [{"role": "user", "content": "Translate. Bonjour"}],
            "completion": [{"role": "assistant", "content": "Hello"}],
            "system": "SYSMSG",
        },
    ],
    ids=["alpaca", "trace-record", "prompt-completion"],
)
@pytest.mark.parametrize("template", TEMPLATES)
def test_system_field_reaches_the_prompt_in_every_layout(tmp_path, row, template):
    # --system-field was applied to chats and mapped columns only: on these layouts the system
    # message was dropped without a word.
    tok = real_template_tokenizer(template)
    exs = list(load_examples(write_rows(tmp_path, [row]), columns=Columns(system_field="system")))
    cols, _ = tokenize_examples(exs, Renderer(tok, "r1"), 4096)
    prompt, spans = rendered(tok, cols)
    assert "SYSMSG" in prompt and not any("SYSMSG" in s for s in spans)
    assert "Hello" in spans[-1]


def test_system_field_on_a_raw_text_row_is_refused_unless_chat(tmp_path):
    # A text prompt/completion trains as a raw continuation, which has no place for a system
    # message: refused in one line naming --chat, never dropped; with --chat it is in the prompt.
    row = {"prompt": "Translate. Bonjour", "completion": " Hello", "system": "SYSMSG"}
    tok = real_template_tokenizer("qwen2.5-instruct")
    exs = list(load_examples(write_rows(tmp_path, [row]), columns=Columns(system_field="system")))
    with pytest.raises(DistillError, match=r"row 1: .*system message.*--chat") as e:
        tokenize_examples(exs, Renderer(tok, "r1"), 4096)
    assert "\n" not in str(e.value)
    cols, _ = tokenize_examples(exs, Renderer(tok, "r1", chat=True), 4096)
    prompt, spans = rendered(tok, cols)
    assert "SYSMSG" in prompt and spans == [" Hello<|im_end|>\n"]


def test_export_of_a_raw_text_row_with_a_system_field_is_refused(tmp_path):
    from distill.train import ExportConfig, export

    row = {"prompt": "Translate. Bonjour", "completion": " Hello", "system": "SYSMSG"}
    data = write_rows(tmp_path, [row])
    with pytest.raises(DistillError, match=r"system message.*--chat"):
        export(ExportConfig(data=data, out=str(tmp_path / "out.jsonl"), system_field="system"))


@pytest.mark.parametrize("template", TEMPLATES)
def test_an_opening_greeting_is_context_with_a_system_message_too(tmp_path, template):
    # A ShareGPT greeting before any request is context (tests/test_examples.py); with a
    # `system` column in front of it, it was trained as if it answered something.
    row = {
        "system": "Be brief.",
        "conversations": [
            {"from": "gpt", "value": "Hello! How can I help?"},
            {"from": "human", "value": "What is 1 + 1?"},
            {"from": "gpt", "value": "2"},
        ],
    }
    tok = real_template_tokenizer(template)
    exs = list(load_examples(write_rows(tmp_path, [row])))
    cols, st = tokenize_examples(exs, Renderer(tok, "r1"), 4096)
    assert st.turns == 1 and st.sequences == 1
    prompt, spans = rendered(tok, cols)
    assert "Hello! How can I help?" in prompt and "Be brief." in prompt
    assert len(spans) == 1 and "2" in spans[0] and "Hello" not in spans[0]


def test_an_alpaca_prompt_source_without_a_template_keeps_its_input(tmp_path):
    # `distill generate --data alpaca.jsonl` (no --template; the prompt field found is
    # `instruction`) sent the teacher the instruction alone: "Add the numbers." with no numbers.
    # The input now follows it as `distill train` renders the Alpaca row in a chat turn, so the
    # traces' prompts (and onpolicy's prompts alone) are what SFT on the same rows trains.
    from distill.examples import from_row
    from distill.generate import prompt_messages

    rows = [
        {"instruction": "Add the numbers.", "input": "12, 34", "output": "46"},
        {"instruction": "Say hi.", "input": "", "output": "Hi"},
    ]
    data = write_rows(tmp_path, rows)
    sent = [m for _, m in prompt_messages(data)]
    assert sent == [from_row(r, "row").prompt for r in rows]
    assert sent[0] == [{"role": "user", "content": "Add the numbers.\n\n12, 34"}]
    assert sent[1] == [{"role": "user", "content": "Say hi."}]
    # Another prompt field: an `input` column is not Alpaca's input then.
    other = write_rows(tmp_path, [{"question": "Q?", "input": "unrelated"}])
    assert [m for _, m in prompt_messages(other)] == [[{"role": "user", "content": "Q?"}]]


def test_system_field_reaches_a_trl_prompt_list_prompt_source():
    # train --method onpolicy on TRL's prompt-only layout (`prompt`: a list of messages) with
    # --system-field: the system message was dropped there, kept for `messages`/`conversations`.
    from distill.examples import chat_prompt

    user = [{"role": "user", "content": "Hi?"}]
    cols = Columns(system_field="sys")
    want = [{"role": "system", "content": "Be brief."}, *user]
    assert chat_prompt({"prompt": user, "sys": "Be brief."}, "row 1", cols) == want
    assert chat_prompt({"messages": user, "sys": "Be brief."}, "row 1", cols) == want


@pytest.mark.parametrize("template", [*TEMPLATES, "qwen3"])
def test_reasoning_beside_a_content_that_starts_with_the_separator_is_one_separator(
    tmp_path, template
):
    # vLLM's reasoning parser (and chats saved from it) keeps the "\n\n" that followed </think>
    # at the head of `content`: the think block was trained followed by four newlines, a format
    # the teacher never wrote.
    row = {
        "messages": [
            {"role": "user", "content": "What is 2 + 2?"},
            {"role": "assistant", "content": "\n\nThe answer is 4.", "reasoning_content": "2+2=4"},
        ]
    }
    tok = real_template_tokenizer(template)
    exs = list(load_examples(write_rows(tmp_path, [row])))
    cols, _ = tokenize_examples(exs, Renderer(tok, "r1"), 4096)
    _, spans = rendered(tok, cols)
    assert "2+2=4\n</think>\n\nThe answer is 4." in spans[-1], spans


@pytest.mark.parametrize(
    "row, which",
    [
        # ShareGPT dumps hold conversations whose last gpt value is empty
        (
            {"conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": ""}]},
            "its reply",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": "Q1"},
                    {"role": "assistant", "content": " \n"},
                    {"role": "user", "content": "Q2"},
                    {"role": "assistant", "content": "A2"},
                ]
            },
            "assistant turn 1 of 2",
        ),
        ({"instruction": "Say hi.", "input": "", "output": ""}, "its reply"),
        ({"prompt": "TL;DR:", "completion": ""}, "its reply"),
    ],
    ids=["sharegpt", "earlier-turn", "alpaca", "text"],
)
def test_an_empty_reply_is_refused_not_trained_as_stop_at_once(tmp_path, row, which):
    # Only the end of turn carried the loss: the student learned to answer with nothing.
    with pytest.raises(DistillError, match=rf"row 1: {which} is empty") as e:
        list(load_examples(write_rows(tmp_path, [row])))
    assert "\n" not in str(e.value)


def test_a_reply_of_reasoning_alone_is_not_empty(tmp_path):
    # cut off before its answer: the reasoning is the reply (the think block, then the end)
    row = {
        "messages": [
            {"role": "user", "content": "Q"},
            {"role": "assistant", "content": None, "reasoning_content": "Thinking."},
        ]
    }
    [ex] = load_examples(write_rows(tmp_path, [row]))
    assert ex.completion == "<think>\nThinking.\n</think>\n\n"
