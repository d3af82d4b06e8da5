"""Public SFT sets train what their authors meant: the request each reply answers, the columns
that are the prompt and the reply, the chat template's turns. Rows copy each dataset card's
public shape; they go through what `distill train` reads (load_examples / from_row) and are
rendered on the real chat templates of tests/fixtures/chat_templates.

    .venv/bin/python -m pytest tests/test_datasets_s15.py -q

Fixed here: nvidia/OpenCodeReasoning's split_1 rows hold '-' for `input` (the question is in the
source set, TACO/APPS/CodeContests/open-r1 codeforces, by its `dataset`/`split`/`index`): mapped
with --prompt-field input, the student was trained to answer '-'; generate sent the teacher '-'.
A prompt column that is empty (or blank, or '-') trained a reply to no request in every layout
(--prompt-field, Alpaca's instruction, a text prompt/completion row, a chat's user turn, a chat
of one assistant message): each is refused in one line naming the row and the way out.
"""

from __future__ import annotations

import functools
import json

import pytest

from distill.errors import DistillError
from distill.examples import Columns, Renderer, from_row, load_examples, tokenize_examples
from tests.test_examples import real_template_tokenizer


@functools.cache
def tok_of(name: str):
    return real_template_tokenizer(name)


def trained(row, template="qwen2.5-instruct", **columns):
    """(whole text, [each trained span]) of a row's first sequence, as train renders it."""
    tok = tok_of(template)
    ex = from_row(row, "row 1", Columns(**columns))
    cols, stats = tokenize_examples([ex], Renderer(tok, "r1"), 8192)
    assert stats.kept == 1
    ids, mask = cols["input_ids"][0], cols["completion_mask"][0]
    out, run = [], []
    for t, m in zip([*ids, None], [*mask, 0]):
        if m:
            run.append(t)
        elif run:
            out.append(tok.decode(run))
            run = []
    return tok.decode(ids), out


def refusal(row, **columns) -> str:
    with pytest.raises(DistillError) as e:
        from_row(row, "row 1", Columns(**columns))
    assert "\n" not in str(e.value)
    return str(e.value)


def write(tmp_path, rows, name="data.jsonl"):
    p = tmp_path / name
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(p)


# ------------------------------------------------------- a prompt that asks nothing: refused

OCR_OUTPUT = (
    "<think>\nRead n, print the sum of 1..n.\n</think>\n\n"
    "```python\nn = int(input())\nprint(n * (n + 1) // 2)\n```"
)
# nvidia/OpenCodeReasoning split_1: `input` is "-", the question is row `index` of the source set
OCR_SPLIT_1 = {
    "id": "0a1b2c3d",
    "input": "-",
    "output": OCR_OUTPUT,
    "source": "codechef",
    "license": "apache-2.0",
    "dataset": "taco",
    "split": "train",
    "difficulty": "EASY",
    "solution": "n = int(input())\nprint(n * (n + 1) // 2)",
    "index": "11240",
}
OCR_SPLIT_0 = {k: v for k, v in OCR_SPLIT_1.items() if k != "index"} | {
    "input": "Given n, print the sum of the integers from 1 to n.",
    "dataset": "code_contests",
}
OCR = {"prompt_field": "input", "answer_field": "output"}


def test_open_code_reasoning_split_1_is_refused_naming_the_row_and_where_its_question_is(tmp_path):
    # Before, it trained R1's reply as the answer to the prompt "-".
    src = write(tmp_path, [OCR_SPLIT_0, OCR_SPLIT_1])
    with pytest.raises(DistillError) as e:
        list(load_examples(src, columns=Columns(**OCR)))
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith(f"{src} row 2: column 'input' (--prompt-field) is '-'")
    assert "dataset 'taco', split 'train', index '11240'" in message
    assert "fill the column with the question first" in message
    # split_0 (its question in `input`) trains as before
    full, spans = trained(OCR_SPLIT_0, **OCR)
    assert spans == [OCR_OUTPUT + "<|im_end|>\n"] and OCR_SPLIT_0["input"] in full


def test_generate_refuses_to_send_the_teacher_a_prompt_of_dash(tmp_path):
    # generate / eval / on-policy read prompt sources through load_rows: the teacher was asked "-"
    from distill.data import load_rows

    src = write(tmp_path, [OCR_SPLIT_0, OCR_SPLIT_1])
    with pytest.raises(DistillError) as e:
        list(load_rows(src, prompt_field="input"))
    message = str(e.value)
    assert "\n" not in message and message.startswith(f"{src}:2: field 'input' is '-'")
    assert "index '11240'" in message
    with pytest.raises(DistillError, match=r":1: field 'problem' is empty: the model would be"):
        list(load_rows(write(tmp_path, [{"problem": "  \n"}], "p.jsonl")))
    # the rows that ask something are read as before
    assert [r.prompt for r in load_rows(write(tmp_path, [OCR_SPLIT_0]), prompt_field="input")] == [
        OCR_SPLIT_0["input"]
    ]


@pytest.mark.parametrize(
    "row, columns, words",
    [
        (
            {"question": " ", "answer": "It is 4."},
            {"prompt_field": "question", "answer_field": "answer"},
            "column 'question' (--prompt-field) is empty",
        ),
        (
            {"instruction": "", "input": "", "output": "Paris."},
            {},
            "column 'instruction' (Alpaca layout) is empty",
        ),
        (
            {"instruction": "-", "input": "", "output": "Paris."},
            {},
            "column 'instruction' (Alpaca layout) is '-'",
        ),
        (
            {"prompt": "", "completion": " a continuation."},
            {},
            "column 'prompt' (prompt/completion layout) is empty",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello!"},
                    {"role": "user", "content": "\n"},
                    {"role": "assistant", "content": "Anything else?"},
                ]
            },
            {},
            "its user turn 2 of 2 is empty, so the reply after it answers no request",
        ),
        (
            {"conversations": [{"from": "human", "value": "-"}, {"from": "gpt", "value": "Ok."}]},
            {},
            "its user turn 1 of 1 is '-'",
        ),
        (
            {"messages": [{"role": "assistant", "content": "Once upon a time..."}]},
            {},
            "its chat is one assistant message with no request before it",
        ),
    ],
)
def test_a_reply_to_no_request_is_refused_in_one_line(row, columns, words):
    # each trained before: the reply learned as the answer to nothing (or to "-")
    assert words in refusal(row, **columns)


def test_alpaca_rows_with_the_request_in_input_alone_are_told_the_mapping():
    row = {"instruction": "", "input": "What is the capital of France?", "output": "Paris."}
    message = refusal(row)
    assert "--prompt-field input --answer-field output" in message
    full, spans = trained(row, prompt_field="input", answer_field="output")
    assert spans == ["Paris.<|im_end|>\n"]
    assert "<|im_start|>user\nWhat is the capital of France?<|im_end|>" in full


def test_replies_that_answer_something_still_train():
    # a system message alone before the reply (a story set's instruction), a tool's result
    row = {
        "messages": [
            {"role": "system", "content": "Write a two-word story."},
            {"role": "assistant", "content": "It ended."},
        ]
    }
    assert trained(row)[1] == ["It ended.<|im_end|>\n"]
    # an opening greeting (context, no loss) before the user's turn
    row = {
        "conversations": [
            {"from": "gpt", "value": "Hi! How can I help?"},
            {"from": "human", "value": "Say yes."},
            {"from": "gpt", "value": "Yes."},
        ]
    }
    assert trained(row)[1] == ["Yes.<|im_end|>\n"]
