"""A second read of 238127d (a chat column kept as JSON text; the refusal's mapping hint): TRL's
conversational rows written where a column holds text (a CSV, a string column) and TRL's
conversational preference rows.

    .venv/bin/python -m pytest tests/test_datasets_s14b.py -q

Fixed here: a prompt/completion row whose `prompt` and `completion` are the JSON text of their
messages trained that JSON as plain text, with no chat template (a `messages` column of JSON text
was read as its chat); on-policy sent a JSON-text `prompt` chat to the student as one text; a
conversational preference row (`prompt`, `chosen` holding the reply alone, `rejected`) was hinted
`--messages-field prompt`, which fails, and no flag trains it: refused saying how TRL converts it.
"""

from __future__ import annotations

import csv
import json

import pytest

from distill.errors import DistillError
from distill.examples import Columns, Renderer, from_row, load_examples, tokenize_examples
from tests.test_examples import real_template_tokenizer

USER = [{"role": "user", "content": "What is 2 + 2?"}]
REPLY = [{"role": "assistant", "content": "It is 4."}]


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return str(path)


def test_trl_conversational_prompt_completion_kept_as_json_text_trains_as_its_chat(tmp_path):
    # TRL's conversational prompt/completion written to a CSV with json.dumps: the student was
    # trained on the JSON text as a raw (template-less) prompt and reply.
    data = write_csv(
        tmp_path / "d.csv", [{"prompt": json.dumps(USER), "completion": json.dumps(REPLY)}]
    )
    tok = real_template_tokenizer("qwen2.5-instruct")
    cols, stats = tokenize_examples(list(load_examples(data)), Renderer(tok, "r1"), 4096)
    assert stats.kept == 1
    ids, mask = cols["input_ids"][0], cols["completion_mask"][0]
    text = tok.decode(ids)
    assert '"role"' not in text
    assert "<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n" in text
    assert tok.decode([t for t, m in zip(ids, mask) if m]).startswith("It is 4.")


def test_a_text_prompts_reply_that_is_json_of_messages_stays_the_text_it_trains():
    # a task whose answer is a chat as JSON (synthetic dialogues): the reply to train is that text
    asked = "Write a two-turn chat as JSON."
    reply = json.dumps([*USER, *REPLY])
    ex = from_row({"prompt": asked, "completion": reply}, "row 1")
    assert ex.prompt == [{"role": "user", "content": asked}] and ex.completion == reply


def test_onpolicy_prompt_source_reads_a_json_text_prompt_chat_as_the_chat(tmp_path):
    from distill.train import TrainConfig
    from distill.train.kd.data import prompt_chats, prompt_source

    system = {"role": "system", "content": "Be brief."}
    data = write_csv(tmp_path / "p.csv", [{"prompt": json.dumps([system, *USER])}])
    cfg = TrainConfig(
        data=data,
        model="m",
        output_dir=str(tmp_path / "o"),
        method="onpolicy",
        teacher_model="t",
        max_length=512,
    )
    assert prompt_source(cfg)
    assert [m for m, _ in prompt_chats(cfg)] == [[system, *USER]]


@pytest.mark.parametrize("prompt", [USER, json.dumps(USER), "What is 2 + 2?"])
def test_trl_conversational_preference_row_is_refused_saying_how_to_train_its_chosen_side(prompt):
    # Its hint was --messages-field prompt (a chat ending with the user's turn: refused), and
    # --messages-field chosen trains the reply with no prompt: no flag trains it.
    row = {"prompt": prompt, "chosen": REPLY, "rejected": [{"role": "assistant", "content": "5"}]}
    with pytest.raises(DistillError) as e:
        from_row(row, "row 1")
    msg = str(e.value)
    assert "\n" not in msg and "--messages-field" not in msg
    assert "rename column 'chosen' to 'completion'" in msg and "drop 'rejected'" in msg
    # followed, it trains the prompt and the chosen reply
    done = {"prompt": prompt, "completion": REPLY}
    ex = from_row(done, "row 1")
    assert ex.prompt == USER and ex.completion == "It is 4."


def test_hint_names_the_chat_that_ends_with_the_reply_not_the_prompts_chat():
    # prompt (the user's turn) and chosen (the whole chat) as chats, no messages column
    row = {"prompt": USER, "chosen": [*USER, *REPLY], "rejected": [*USER, *REPLY]}
    with pytest.raises(DistillError) as e:
        from_row(row, "row 1")
    assert str(e.value).endswith("try: --messages-field chosen")
    ex = from_row(row, "row 1", Columns(messages_field="chosen"))
    assert ex.prompt == USER and ex.completion == "It is 4."


def test_a_chat_column_pandas_wrote_to_csv_is_refused_saying_it_is_no_json(tmp_path):
    # df.to_csv writes a column of lists as Python's repr (single quotes): "text that is no JSON
    # list" left the user to find out why their chat is not one
    data = write_csv(tmp_path / "d.csv", [{"messages": str([*USER, *REPLY])}])
    with pytest.raises(DistillError) as e:
        list(load_examples(data))
    msg = str(e.value)
    assert "\n" not in msg and "row 1: 'messages'" in msg
    assert "Python repr" in msg and "json.dumps" in msg
