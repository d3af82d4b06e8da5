"""`distill export` writes what `distill train` trains of a chat whose turns carry a `weight`
(ShareGPT's OpenHermes-2.5 / SlimOrca, OpenAI's fine-tuning format): a turn of weight 0 is context,
so such a chat is TRL's conversational prompt/completion (as a trace record with earlier turns
is), and a row with no trained turn is left out and counted.

    .venv/bin/python -m pytest tests/test_sharegpt_export_s11.py -q
"""

from __future__ import annotations

import json

import pytest

from distill.examples import Renderer, load_examples, spans, tokenize_examples
from tests.test_datasets import template_tokenizer

Q1, A1, Q2, A2 = "What is 2 + 2?", "It is 4.", "And 3 + 3?", "It is 6."


def sharegpt(w1=None, w2=None):
    return {
        "conversations": [
            {"from": "human", "value": Q1, "weight": 0.0},
            {"from": "gpt", "value": A1, "weight": w1},
            {"from": "human", "value": Q2, "weight": 0.0},
            {"from": "gpt", "value": A2, "weight": w2},
        ]
    }


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def losses(path, template="qwen2.5-instruct"):
    """Each text distill train puts a loss on, reading the file (a chat's turns may be one
    sequence or a row each), sorted."""
    tok = template_tokenizer(template)
    cols, _ = tokenize_examples(list(load_examples(path)), Renderer(tok, "r1"), 8192)
    return sorted(
        tok.decode(ids[a:b])
        for ids, mask in zip(cols["input_ids"], cols["completion_mask"], strict=True)
        for a, b in spans(mask)
    )


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_an_exported_chat_with_a_turn_of_weight_0_trains_what_train_trains(
    tmp_path, suffix, capsys
):
    # Written as plain `messages` (the weight dropped): TRL, LLaMA-Factory and axolotl trained
    # the turn the dataset marks as context, and distill train reading the export did too; the
    # row with no trained turn was exported as a chat to train.
    from distill.train import ExportConfig, export

    data = write(tmp_path / "data.jsonl", [sharegpt(w1=0, w2=1), sharegpt(0, 0), sharegpt()])
    out = tmp_path / f"out{suffix}"
    export(ExportConfig(data=data, out=str(out)))
    # A1 of the first chat is context in both; the chat of weight null trains A1 and A2
    end = "<|im_end|>\n"
    assert losses(str(out)) == losses(data) == sorted([A2 + end, A1 + end, A2 + end])
    printed = capsys.readouterr().out
    assert (
        "3 r1 examples" in printed
        and "1 row left out: every assistant turn has weight 0" in printed
    )
    if suffix == ".jsonl":
        rows = [json.loads(x) for x in out.read_text().splitlines()]
        assert [sorted(r) for r in rows] == [["completion", "prompt"]] * 3
        # the context turn is the prompt (no loss in TRL), the trained one the completion
        assert [m["content"] for m in rows[0]["prompt"]] == [Q1, A1, Q2]
        assert rows[0]["completion"] == [{"role": "assistant", "content": A2}]
        assert [r["completion"][0]["content"] for r in rows[1:]] == [A1, A2]


def test_a_last_turn_of_weight_0_is_not_exported_as_a_turn_to_train(tmp_path):
    # the chat ends at its last trained turn: `messages` is left for a file with no context turn
    from distill.train import ExportConfig, export

    data = write(tmp_path / "data.jsonl", [sharegpt(w1=1, w2=0)])
    out = tmp_path / "out.jsonl"
    export(ExportConfig(data=data, out=str(out)))
    (row,) = [json.loads(x) for x in out.read_text().splitlines()]
    assert [m["content"] for m in row["messages"]] == [Q1, A1]


def test_export_with_model_leaves_out_a_row_with_nothing_to_train(tmp_path, capsys):
    # --model refused the whole export on the row (the kd refusal "nothing to train: drop the
    # row"), though train reads the same file and counts it
    from distill.train import ExportConfig, export

    student = tmp_path / "student"
    template_tokenizer("qwen2.5-instruct").save_pretrained(student)
    data = write(tmp_path / "data.jsonl", [sharegpt(0, 0), sharegpt(w1=0, w2=1)])
    out = tmp_path / "pairs.jsonl"
    export(ExportConfig(data=data, out=str(out), model=str(student)))
    (pair,) = [json.loads(x) for x in out.read_text().splitlines()]
    assert A1 in pair["prompt"] and pair["completion"] == A2 + "<|im_end|>\n"
    assert "1 row left out: every assistant turn has weight 0" in capsys.readouterr().out
