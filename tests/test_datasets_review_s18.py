"""A second read of e9f1f86 (AQuA-RAT, SciQ, SQuAD, BoolQ's yes/no text copy): what --reward
reads of these sets, beside generate, eval and train.

- train --method onpolicy --reward math on a SQuAD-layout set (--prompt-field question
  --answer-field answers): train trained the span's text, generate and eval judged against it,
  but the reward's references (reward._references) took a free-form row's gold from the
  columns data.ANSWER_FIELDS names: `answers` is none of them, so every sample was
  unverifiable (no reward, no policy gradient, silently). A free-form row of a set's layout now
  has its gold as load_rows reads it (Layout.free_answer: the span's text).
- `distill run`'s check of an on-policy prompt source under --reward math (pipeline
  _check_prompts) read each raw row's gold from data.ANSWER_FIELDS alone: a set whose gold its
  layout reads (AQuA-RAT's `correct`, SciQ's letter, SQuAD's span; ARC's answerKey and GPQA's
  'Correct Answer' before them) was refused as "no example has a gold answer to verify
  against" before the first stage, though train reads a gold in every row. It reads the gold
  as the references do now (generate's rows).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distill.data import load_rows
from distill.errors import DistillError
from distill.examples import Columns, load_examples

AQUA = {
    "question": "A grocery sells a bag of ice for $1.25, and makes 20% profit. If it sells 500 "
    "bags of ice, how much total profit does it make?",
    "options": ["A)125", "B)150", "C)225", "D)250", "E)275"],
    "rationale": "Profit per bag = 1.25 * 0.20 = 0.25\nTotal profit = 500 * 0.25 = 125\nAnswer is A.",
    "correct": "A",
}
SCIQ = {
    "question": "What type of organism is commonly used in preparation of foods such as cheese "
    "and yogurt?",
    "distractor3": "viruses",
    "distractor1": "protozoa",
    "distractor2": "gymnosperms",
    "correct_answer": "mesophilic organisms",
    "support": "Mesophilic organisms have important uses in food preparation, including cheese, "
    "yogurt, beer and wine.",
}
SQUAD = {
    "id": "5733be284776f41900661182",
    "title": "University_of_Notre_Dame",
    "context": "It is a replica of the grotto at Lourdes, France where the Virgin Mary reputedly "
    "appeared to Saint Bernadette Soubirous in 1858.",
    "question": "To whom did the Virgin Mary allegedly appear in 1858 in Lourdes France?",
    "answers": {"text": ["Saint Bernadette Soubirous"], "answer_start": [94]},
}
SQUAD_DEV = {
    "id": "56be4db0acb8001400a502ec",
    "title": "Super_Bowl_50",
    "context": "The American Football Conference (AFC) champion Denver Broncos defeated the "
    "National Football Conference (NFC) champion Carolina Panthers 24-10.",
    "question": "Which NFL team represented the AFC at Super Bowl 50?",
    "answers": {
        "text": ["Denver Broncos", "Denver Broncos", "Denver Broncos"],
        "answer_start": [49, 49, 49],
    },
}


def _write(tmp_path: Path, name: str, *rows: dict) -> str:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _cfg(data: str, tmp_path: Path, model: str, **kw):
    from distill.train.config import TrainConfig

    return TrainConfig(
        data=data, model=model, output_dir=str(tmp_path / "o"), method="onpolicy",
        teacher_model=model, max_length=512, reward="math", **kw,
    )  # fmt: skip


def test_the_reward_of_a_squad_row_is_judged_against_the_span_train_trains(tmp_path, tiny_qwen):
    from transformers import AutoTokenizer

    from distill.train.kd import reward

    data = _write(tmp_path, "squad.jsonl", SQUAD, SQUAD_DEV)
    fields = {"prompt_field": "question", "answer_field": "answers"}
    read = [(r.prompt, r.gold) for r in load_rows(data)]  # as generate and eval read the rows
    trained = [
        (ex.prompt[-1]["content"], ex.completion)
        for ex in load_examples(data, columns=Columns(**fields))
    ]
    assert (
        read
        == trained
        == [
            (SQUAD["context"] + "\n\n" + SQUAD["question"], "Saint Bernadette Soubirous"),
            (SQUAD_DEV["context"] + "\n\n" + SQUAD_DEV["question"], "Denver Broncos"),
        ]
    )
    tok = AutoTokenizer.from_pretrained(tiny_qwen)
    refs = reward._references(_cfg(data, tmp_path, str(tiny_qwen), **fields), tok, None)
    assert sorted((r["problem"], r["gold"]) for r in refs.values()) == sorted(read)
    (ref,) = (r for r in refs.values() if r["gold"] == "Denver Broncos")
    right = "The answer is $\\boxed{\\text{Denver Broncos}}$."
    assert reward.reward_of(right, ref["gold"], {}, "math", problem=ref["problem"]) == 1.0


@pytest.mark.parametrize(("name", "row"), [("aqua_rat", AQUA), ("sciq", SCIQ), ("squad", SQUAD)])
def test_a_run_checks_the_prompt_sources_gold_as_its_layout_reads_it(name, row, tmp_path):
    from distill.pipeline import _check_rows

    data = _write(tmp_path, f"{name}.jsonl", row)
    (read,) = load_rows(data)
    assert read.gold is not None  # the gold generate, eval and the reward read
    cfg = _cfg(data, tmp_path, "student", prompt_field="question", lmbda=1.0)
    _check_rows("train", cfg, {}, dry_run=True)  # (refused: "no example ... has a gold answer")
    # a set that has none is still refused before the first stage, in one line
    bare = _write(tmp_path, "bare.jsonl", {"question": "Why is the sky blue?"})
    with pytest.raises(DistillError, match=r"--reward math: no example of .*bare.jsonl has a"):
        _check_rows("train", _cfg(bare, tmp_path, "s", prompt_field="question"), {}, True)


def test_a_sciq_row_holding_a_lone_surrogate_is_asked_in_one_order_by_generate_and_train(
    tmp_path,
):
    # generate reads a lone surrogate ("\ud83d": half an emoji another tool cut) as U+FFFD,
    # train reads the row as it is: the row's shuffle was seeded by two texts, so eval asked
    # its answers in another order than train trained them (GPQA's rows too)
    path = tmp_path / "sciq.jsonl"
    lines = [
        json.dumps({**SCIQ, "question": f"Which organism {i} makes cheese? @"}).replace(
            "@",
            "\\ud83d",  # (the question's last character, a lone surrogate escape)
        )
        for i in range(8)
    ]
    path.write_text("\n".join(lines) + "\n")
    read = [(r.prompt, r.gold) for r in load_rows(str(path))]
    cols = Columns(prompt_field="question", answer_field="correct_answer")
    trained = [
        (ex.prompt[-1]["content"].replace("\ud83d", "\ufffd"), ex.completion)
        for ex in load_examples(str(path), columns=cols)
    ]
    assert trained == [(prompt, f"Answer: {gold}") for prompt, gold in read]
    assert len({gold for _, gold in read}) > 1  # (the rows' own orders)
