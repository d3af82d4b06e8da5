"""ShareGPT data trains what its authors meant: a turn's `weight` (OpenHermes-2.5, SlimOrca; OpenAI's
fine-tuning format in `messages`) of 0 keeps an assistant turn as context without a loss, as
axolotl's chat_template strategy (message_field_training) does; the raw ShareGPT dump's
bing/chatgpt speakers are the assistant; LLaMA-Factory's `observation` is a tool result, rendered
as the student's template renders a `tool` message (or refused where it leaves it out), and its
`function_call` is the assistant's tool call, as OpenAI's `tool_calls` are (tests/test_tools_s14.py).

    .venv/bin/python -m pytest tests/test_sharegpt_s11.py -q

Templates: the real checkpoints' strings of tests/fixtures/chat_templates on a tiny tokenizer.
"""

from __future__ import annotations

import json

import pytest

from distill.errors import DistillError
from distill.examples import Renderer, load_examples, spans, tokenize_examples
from tests.test_datasets import END, template_tokenizer

Q1, A1, Q2, A2 = "What is 2 + 2?", "It is 4.", "And 3 + 3?", "It is 6."


def write(tmp_path, rows):
    p = tmp_path / "data.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(p)


def sharegpt(w1=None, w2=None, first="gpt"):
    turns = [
        {"from": "human", "value": Q1, "weight": 0.0},
        {"from": first, "value": A1, "weight": w1},
        {"from": "human", "value": Q2, "weight": 0.0},
        {"from": "gpt", "value": A2, "weight": w2},
    ]
    return {"conversations": turns}


def trained(tmp_path, rows, template, train_on="all"):
    """(token ids of each run under the loss, row by row; the stats; the tokenizer)"""
    tok = template_tokenizer(template)
    exs = list(load_examples(write(tmp_path, rows)))
    cols, st = tokenize_examples(exs, Renderer(tok, "r1", train_on=train_on), 8192)
    runs = [
        [ids[a:b] for a, b in spans(mask)]
        for ids, mask in zip(cols["input_ids"], cols["completion_mask"], strict=True)
    ]
    return runs, st, tok, cols


def ids(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("template", ["qwen2.5-instruct", "llama-3.1-instruct"])
def test_a_gpt_turn_of_weight_0_is_context_and_weight_1_trains(tmp_path, template):
    # distill trained every gpt turn, its weight unread: OpenHermes/SlimOrca-style rows that
    # mark a turn 0 (context, as axolotl trains it) put a loss on it all the same.
    tok, end = template_tokenizer(template), END[template]
    zero, _, _, cols = trained(tmp_path, [sharegpt(w1=0, w2=1)], template)
    assert zero == [[ids(tok, A2 + end)]]
    assert A1 in tok.decode(cols["input_ids"][0])  # still the history the reply answers
    for w1 in (1, 1.0, True, None):
        one, _, _, _ = trained(tmp_path, [sharegpt(w1=w1, w2=1)], template)
        assert one == [[ids(tok, A1 + end), ids(tok, A2 + end)]]


def test_openai_messages_with_weight_0_are_context_too(tmp_path):
    # OpenAI's fine-tuning format writes `weight` 0/1 on assistant messages, as axolotl reads it
    rows = [
        {
            "messages": [
                {"role": "user", "content": Q1},
                {"role": "assistant", "content": A1, "weight": 0},
                {"role": "user", "content": Q2},
                {"role": "assistant", "content": A2, "weight": 1},
            ]
        }
    ]
    runs, _, tok, _ = trained(tmp_path, rows, "llama-3.1-instruct")
    assert runs == [[ids(tok, A2 + "<|eot_id|>")]]


@pytest.mark.parametrize("train_on", ["all", "last"])
def test_a_last_turn_of_weight_0_leaves_the_turn_before_it_trained(tmp_path, train_on):
    # What follows the last trained turn changes no loss: the chat ends there, and --train-on
    # last trains the last turn the dataset trains, not a turn it marked as context.
    runs, st, tok, cols = trained(tmp_path, [sharegpt(w1=1, w2=0)], "qwen2.5-instruct", train_on)
    assert runs == [[ids(tok, A1 + "<|im_end|>\n")]]
    assert Q2 not in tok.decode(cols["input_ids"][0]) and st.kept == 1


def test_a_row_whose_every_assistant_turn_has_weight_0_is_counted_not_trained(tmp_path):
    # Nothing to train: counted with the all-masked rows (the train line says how many), never a
    # row with no loss, nor one trained on a turn the dataset marked as context.
    rows = [sharegpt(w1=0, w2=0), sharegpt()]
    for overlong in ("drop", "truncate"):
        tok = template_tokenizer("qwen2.5-instruct")
        exs = list(load_examples(write(tmp_path, rows)))
        cols, st = tokenize_examples(exs, Renderer(tok, "r1"), 8192, overlong)
        assert (st.examples, st.kept, st.dropped_all_masked, st.dropped_overlong) == (2, 1, 1, 0)
        assert len(cols["input_ids"]) == 1 and all(any(m) for m in cols["completion_mask"])
        # kd's last-turn rendering of the example refuses it in one line
        with pytest.raises(DistillError, match=r"row 1: every assistant turn has weight 0") as e:
            Renderer(tok, "r1").encode(exs[0])
        assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    "turn, message",
    [
        (
            {"from": "gpt", "value": A1, "weight": 0.5},
            r"row 1: conversations\[1\] \(assistant\) has weight 0\.5: distill trains a turn \(1\) "
            r"or keeps it as context \(0\), it cannot scale a turn's loss",
        ),
        (
            {"from": "gpt", "value": A1, "weight": "0"},
            r"row 1: conversations\[1\] \(assistant\) has weight '0'",
        ),
        (
            {"from": "human", "value": Q1, "weight": 1},
            r"row 1: conversations\[1\] \(user\) has weight 1: distill trains assistant turns only",
        ),
    ],
)
def test_a_weight_distill_cannot_give_is_refused_in_one_line(tmp_path, turn, message):
    row = sharegpt()
    row["conversations"][1] = turn
    with pytest.raises(DistillError, match=message) as e:
        list(load_examples(write(tmp_path, [row])))
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("speaker", ["bing", "chatgpt"])
def test_the_raw_sharegpt_dumps_speakers_are_the_assistant(tmp_path, speaker):
    # ShareGPT's raw dump names the model bing/chatgpt (FastChat's cleaning maps them to gpt):
    # refused as unknown speakers, though their turns are the assistant's
    runs, _, tok, _ = trained(tmp_path, [sharegpt(first=speaker)], "qwen2.5-instruct")
    assert runs == [[ids(tok, A1 + "<|im_end|>\n"), ids(tok, A2 + "<|im_end|>\n")]]


RESULT = "TOOLRESULT 18C and sunny"


def tool_chat(speaker):
    return {
        "conversations": [
            {"from": "human", "value": "Weather in Paris? Call the tool."},
            {"from": "gpt", "value": "<tool_call>weather Paris</tool_call>"},
            {"from": speaker, "value": RESULT},
            {"from": "gpt", "value": "It is 18C in Paris."},
        ]
    }


@pytest.mark.parametrize("speaker", ["observation", "tool", "function"])
def test_a_tool_result_renders_as_the_templates_tool_message(tmp_path, speaker):
    # LLaMA-Factory's `observation` (others write tool/function): refused as an unknown speaker.
    # Now the `tool` message of a `messages` chat: Qwen2.5 writes it in <tool_response>, context.
    runs, _, tok, cols = trained(tmp_path, [tool_chat(speaker)], "qwen2.5-instruct")
    text = tok.decode(cols["input_ids"][0])
    assert f"<tool_response>\n{RESULT}\n</tool_response>" in text
    assert runs[0][-1] == ids(tok, "It is 18C in Paris.<|im_end|>\n")
    assert all(RESULT not in tok.decode(run) for run in runs[0])


def test_a_tool_result_the_template_leaves_out_is_refused(tmp_path):
    # Phi-3's template renders system/user/assistant alone: the reply would be trained without
    # the result it reads, so the existing check refuses the row, naming the message
    tok = template_tokenizer("phi-3")
    exs = list(load_examples(write(tmp_path, [tool_chat("observation")])))
    with pytest.raises(DistillError, match=r"leaves message 3 \(tool\) out") as e:
        tokenize_examples(exs, Renderer(tok, "r1"), 8192)
    assert "\n" not in str(e.value)


def test_a_function_call_turn_trains_as_the_templates_tool_call(tmp_path):
    # LLaMA-Factory's `function_call` turn (the call's JSON): refused as a tool call distill could
    # not train. Now the assistant's tool call, written in the template's syntax and trained.
    row = tool_chat("observation")
    row["conversations"][1] = {
        "from": "function_call",
        "value": '{"name": "weather", "arguments": {"city": "Paris"}}',
    }
    runs, _, tok, _ = trained(tmp_path, [row], "qwen2.5-instruct")
    call = '<tool_call>\n{"name": "weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    assert runs[0] == [ids(tok, call + "<|im_end|>\n"), ids(tok, "It is 18C in Paris.<|im_end|>\n")]
    # a value that is no call is refused in one line, naming the turn
    row["conversations"][1]["value"] = "{}"
    with pytest.raises(DistillError, match=r"row 1: conversations\[1\] \(from 'function_call'\)"):
        list(load_examples(write(tmp_path, [row])))
