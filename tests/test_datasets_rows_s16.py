"""dolphin's rows in generate as in train, and --train-on last's checks of a chat.

    .venv/bin/python -m pytest tests/test_datasets_rows_s16.py -q

- cognitivecomputations/dolphin (instruction = one of Orca's system prompts, input = the
  request, output): train refuses it read as Alpaca's, naming the flags that read it right; but
  `distill generate` (and eval, on-policy: prompt_messages) sent the teacher the system prompt
  and the request as one user turn, and the traces trained that. It is the same refusal now, with
  the flags generate has; the flags that read it as asked send it so.
- --train-on last trains the last assistant turn alone, but a chat with an empty earlier user
  turn (ShareGPT's, whose scrapes hold empty human turns) was refused as if every turn trained.
  Under --train-on last only what the trained turn answers is checked: an empty earlier user
  turn, or an empty earlier reply, is context and trains nothing; an empty last request is still
  refused, and --train-on all refuses as before.
"""

from __future__ import annotations

import json

import pytest

from distill.errors import DistillError
from distill.examples import Layout, Renderer, from_row, load_examples, spans, tokenize_examples
from tests.test_datasets_s15 import DOLPHIN, DOLPHIN_SYSTEM
from tests.test_examples import real_template_tokenizer


def write(tmp_path, rows, name="data.jsonl"):
    p = tmp_path / name
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(p)


# ------------------------------------------------------------------ dolphin in generate


def sent(tmp_path, **flags):
    from distill.generate.stage import prompt_messages

    return [msgs for _, msgs in prompt_messages(write(tmp_path, [DOLPHIN]), **flags)]


def test_generate_refuses_a_dolphin_row_as_train_does(tmp_path):
    with pytest.raises(DistillError) as e:
        sent(tmp_path)
    message = str(e.value)
    assert "\n" not in message and message.startswith(f"{tmp_path}/data.jsonl row 1: ")
    # the same reading of the row as train's refusal, with generate's flags
    with pytest.raises(DistillError) as trained:
        from_row(DOLPHIN, "row 1")
    said = "holds a system prompt ('You are an AI assistant. User will you "
    assert said in message and said in str(trained.value)
    assert "(cognitivecomputations/dolphin's layout)" in message
    assert "--prompt-field input" in message and "--context-field input" in message
    # through an Alpaca template too: its Instruction would be the system prompt
    with pytest.raises(DistillError, match="dolphin's layout"):
        sent(tmp_path, template="alpaca")


def test_generate_sends_a_dolphin_row_as_the_flags_ask(tmp_path):
    # the request alone (a system prompt for all rows is --system-prompt's)
    assert sent(tmp_path, prompt_field="input", system_prompt=DOLPHIN_SYSTEM) == [
        [
            {"role": "system", "content": DOLPHIN_SYSTEM},
            {"role": "user", "content": DOLPHIN["input"]},
        ]
    ]
    # Alpaca's instruction and input, as train's --prompt-field instruction --context-field input
    [[turn]] = sent(tmp_path, context_field="input")
    ex = from_row(
        DOLPHIN,
        "row 1",
        Layout(prompt_field="instruction", context_field="input", answer_field="output"),
    )
    assert [turn] == ex.prompt
    # an Alpaca row whose instruction is a request is sent with its input as before
    from distill.generate.stage import prompt_messages

    row = {"instruction": "Translate to French.", "input": "Good morning", "output": "Bonjour"}
    [(_, msgs)] = prompt_messages(write(tmp_path, [row], "alpaca.jsonl"))
    assert msgs == [{"role": "user", "content": "Translate to French.\n\nGood morning"}]


# ------------------------------------------------------------------ --train-on last


def sharegpt(*turns):
    return {
        "id": "QWJhYvA_0",
        "conversations": [
            {"from": "human" if i % 2 == 0 else "gpt", "value": v} for i, v in enumerate(turns)
        ],
    }


EMPTY_EARLIER_REQUEST = sharegpt(
    "", "Hello! How can I help you today?", "Summarize Hamlet in one sentence.", "A prince dies."
)


def trained_last(tmp_path, rows, train_on="last"):
    tok = real_template_tokenizer("qwen2.5-instruct")
    exs = list(load_examples(write(tmp_path, rows), columns=Layout(train_on=train_on)))
    cols, st = tokenize_examples(exs, Renderer(tok, "r1", train_on=train_on), 8192)
    return [
        [tok.decode(ids[a:b]) for a, b in spans(mask)]
        for ids, mask in zip(cols["input_ids"], cols["completion_mask"], strict=True)
    ]


def test_train_on_last_trains_a_chat_whose_earlier_user_turn_is_empty(tmp_path):
    assert trained_last(tmp_path, [EMPTY_EARLIER_REQUEST]) == [["A prince dies.<|im_end|>\n"]]
    # an empty earlier reply is context too
    row = sharegpt("Hi", "", "Summarize Hamlet in one sentence.", "A prince dies.")
    assert trained_last(tmp_path, [row]) == [["A prince dies.<|im_end|>\n"]]


def test_train_on_last_still_refuses_what_the_trained_turn_answers(tmp_path):
    # the request before the trained turn empty: the reply answers nothing
    row = sharegpt("Summarize Hamlet.", "A prince dies.", "  ", "Anything else?")
    with pytest.raises(DistillError, match=r"row 1: its user turn 2 of 2 is empty"):
        trained_last(tmp_path, [row])
    # the trained reply itself empty
    row = sharegpt("Summarize Hamlet.", "A prince dies.", "Shorter?", "")
    with pytest.raises(DistillError, match=r"row 1: (its reply|assistant turn 2 of 2) is empty"):
        trained_last(tmp_path, [row])


def test_train_on_all_refuses_the_empty_earlier_turn_it_would_train_after(tmp_path):
    with pytest.raises(DistillError, match=r"row 1: its user turn 1 of 2 is empty"):
        trained_last(tmp_path, [EMPTY_EARLIER_REQUEST], train_on="all")
