"""The prompt eval sends a problem in is byte for byte the prompt train computed the loss after.

Alpaca's own recipe (tatsu-lab/stanford_alpaca, PROMPT_DICT) writes a row's `input` in an
`### Input:` section beside its `instruction` (prompt_input) and leaves the section out when
the input is empty (prompt_no_input). A source row with an `input` column but no `instruction`
(question + input + answer, generate --prompt-field question) is no Alpaca row: generate asked
the teacher the question alone and eval asks the student the question alone, yet train's
--format alpaca put the trace's meta.input in an Input section: the student was trained on a
prompt it was never asked. Each case renders train's prompt (the tokens before the first loss
token, decoded) and the prompt eval sent the fake server, under --format alpaca and r1.
"""

from __future__ import annotations

import json

import pytest

from distill.eval import EvalConfig
from distill.eval import run as run_eval
from distill.examples import Columns, Renderer, load_examples, tokenize_examples
from distill.generate import GenerateConfig
from distill.generate import run as run_generate
from tests.tiny import make_tokenizer

ALPACA = dict(instruction="Add the numbers.", input="2 and 3", output="5", answer="5")
CASES = {
    # (row, train on generate's traces?, prompt field, template, train's column mapping)
    "instruction+input": (ALPACA, True, None, None, None),
    "instruction+empty-input": ({**ALPACA, "input": ""}, True, None, None, None),
    "alpaca-row-trained-as-is": (ALPACA, False, None, None, None),
    "question+input": (
        dict(question="Add the numbers.", input="2 and 3", answer="5"),
        True,
        "question",
        None,
        None,
    ),
    "template": (
        dict(question="Add 2 and 3.", input="ignore me", answer="5"),
        True,
        "question",
        "Solve: {prompt}\n",
        None,
    ),
    # train's --context-field (an Alpaca Input section under --format alpaca, after a blank line
    # in a chat turn); eval asks with the same --context-field
    "context-field": (
        dict(question="Add the numbers.", passage="2 and 3", answer="5"),
        False,
        "question",
        None,
        Columns(prompt_field="question", context_field="passage", answer_field="answer"),
    ),
}
PARAMS = [(fmt, name) for fmt in ("alpaca", "r1") for name in CASES]


@pytest.fixture(scope="module")
def tok():
    return make_tokenizer("qwen2")  # no BOS: the decoded prompt is the text itself


@pytest.mark.parametrize("fmt,name", PARAMS)
def test_eval_sends_the_prompt_train_trained_on(fmt, name, tok, server, tmp_path):
    row, traced, field, template, columns = CASES[name]
    data = tmp_path / "data.jsonl"
    data.write_text(json.dumps(row) + "\n")
    if template is not None:
        (tmp_path / "mine.txt").write_text(template)
        template = str(tmp_path / "mine.txt")
    common = dict(data=str(data), prompt_field=field, template=template, model="fake-r1")
    if columns is not None and columns.context_field:
        common["context_field"] = columns.context_field
    train_data = data
    if traced:
        train_data = tmp_path / "traces.jsonl"
        run_generate(
            GenerateConfig(
                **common, teacher="openai", base_url=server.url, out=str(train_data), n=1
            ),
            progress=False,
        )
    (ex,) = load_examples(str(train_data), columns=columns)
    cols, _ = tokenize_examples([ex], Renderer(tok, fmt), 8192)
    ids, mask = cols["input_ids"][0], cols["completion_mask"][0]
    trained = tok.decode(ids[: mask.index(1)])

    server.log.clear()
    run_eval(
        EvalConfig(
            **common,
            backend="openai",
            base_url=server.url,
            format=fmt,
            out=str(tmp_path / "eval.json"),
        )
    )
    (sent,) = [e["messages"] for e in server.log]
    if fmt == "alpaca":  # the raw prompt, as the hf/vllm backends tokenize it
        (message,) = sent
        asked = message["content"]
    else:
        asked = tok.apply_chat_template(sent, tokenize=False, add_generation_prompt=True)
    assert trained == asked
