"""Train --format alpaca and eval --format alpaca ask the prompt the teacher answered.

A source row with an `instruction` and another prompt column (a question) asked by the other
one (--prompt-field question; `question` is also picked before `instruction` without it): the
teacher was asked the question, yet train's Alpaca prompt held meta.instruction and eval asked
the `alpaca` template around the row's instruction, so the student trained on (and was scored
on) an instruction no answer was given to. Each case runs generate -> train's rendering ->
eval on the fake server of test_alpaca_parity_s14 and compares the three prompts.
"""

from __future__ import annotations

import json

import pytest

from distill.eval import EvalConfig
from distill.eval import run as run_eval
from distill.examples import Renderer, load_examples, tokenize_examples
from distill.generate import GenerateConfig
from distill.generate import run as run_generate
from distill.templates import load_template
from tests.test_alpaca_parity_s14 import ALPACA, tok  # noqa: F401 (tok: a fixture)

QUESTION = "What is 7 times 6?"
BOTH = dict(instruction="Answer in one word.", question=QUESTION, answer="42")


def _three_prompts(row, field, tokenizer, server, tmp_path):
    """(what the teacher was sent, train's Alpaca prompt before the first loss token, what eval
    sent the student), the row generated, trained and evaluated under --format alpaca."""
    data = tmp_path / "data.jsonl"
    data.write_text(json.dumps(row) + "\n")
    common = dict(data=str(data), prompt_field=field, model="fake-r1")
    traces = tmp_path / "traces.jsonl"
    server.log.clear()
    run_generate(
        GenerateConfig(**common, teacher="openai", base_url=server.url, out=str(traces), n=1),
        progress=False,
    )
    ((teacher,),) = [[m["content"] for m in e["messages"]] for e in server.log]
    (ex,) = load_examples(str(traces))
    cols, _ = tokenize_examples([ex], Renderer(tokenizer, "alpaca"), 8192)
    ids, mask = cols["input_ids"][0], cols["completion_mask"][0]
    trained = tokenizer.decode(ids[: mask.index(1)])
    server.log.clear()
    run_eval(
        EvalConfig(
            **common,
            backend="openai",
            base_url=server.url,
            format="alpaca",
            out=str(tmp_path / "eval.json"),
        )
    )
    ((asked,),) = [[m["content"] for m in e["messages"]] for e in server.log]
    return teacher, trained, asked


@pytest.mark.parametrize("field", ["question", None])  # None: `question` is picked first
def test_instruction_beside_the_question_asked_trains_and_evals_the_question(
    field,
    tok,  # noqa: F811 (the imported fixture)
    server,
    tmp_path,
):
    teacher, trained, asked = _three_prompts(BOTH, field, tok, server, tmp_path)
    assert teacher == QUESTION
    alpaca = load_template("alpaca-no-input").render({"instruction": QUESTION})
    assert trained == asked == alpaca
    assert BOTH["instruction"] not in trained


@pytest.mark.parametrize("field", ["instruction", None])
def test_an_alpaca_row_still_trains_and_evals_its_instruction_and_input(
    field,
    tok,  # noqa: F811 (the imported fixture)
    server,
    tmp_path,
):
    teacher, trained, asked = _three_prompts(ALPACA, field, tok, server, tmp_path)
    assert teacher == f"{ALPACA['instruction']}\n\n{ALPACA['input']}"
    alpaca = load_template("alpaca").render(ALPACA)
    assert trained == asked == alpaca


def test_asked_the_instruction_of_a_row_with_a_question_too(
    tok,  # noqa: F811 (the imported fixture)
    server,
    tmp_path,
):
    """--prompt-field instruction on the same row: the instruction is what was asked."""
    teacher, trained, asked = _three_prompts(BOTH, "instruction", tok, server, tmp_path)
    assert teacher == BOTH["instruction"]
    alpaca = load_template("alpaca-no-input").render(BOTH)
    assert trained == asked == alpaca


@pytest.mark.parametrize(
    "row,field,want",
    [
        (BOTH, "question", {"instruction": QUESTION}),  # the question asked, not the instruction
        (BOTH, None, {"instruction": QUESTION}),
        # no instruction column: the input is no Alpaca input (train and eval ask without it)
        (dict(question=QUESTION, input="ctx", answer="42"), "question", {"instruction": QUESTION}),
        (ALPACA, None, ALPACA),  # an Alpaca row: its instruction and input
    ],
)
def test_onpolicy_alpaca_prompts_are_the_prompt_train_and_eval_ask(
    row,
    field,
    want,
    tok,  # noqa: F811 (the imported fixture)
    tmp_path,
):
    # on-policy's prompt source (and its reward's prompts) built the Alpaca prompt from the
    # row's instruction and input whatever the prompt field asked
    from distill.train.config import TrainConfig
    from distill.train.kd.data import prompt_dataset

    data = tmp_path / "data.jsonl"
    data.write_text(json.dumps(row) + "\n")
    cfg = TrainConfig(
        data=str(data),
        model="m",
        output_dir=str(tmp_path / "o"),
        method="onpolicy",
        teacher_model="t",
        format="alpaca",
        prompt_field=field,
        max_length=512,
    )
    ds, _ = prompt_dataset(cfg, tok, None)
    name = "alpaca" if want.get("input") else "alpaca-no-input"
    assert tok.decode(ds[0]["input_ids"]) == load_template(name).render(want)
    # the reward finds each sample's gold by its prompt's tokens: rendered the same way
    from distill.train.kd.reward import _references

    assert tuple(ds[0]["input_ids"]) in _references(cfg, tok, None)
