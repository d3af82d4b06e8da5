"""MedQA was read as a free-text prompt: its question asked without its options, the reply judged
against the option's text. Its layouts are multiple choice now, the gold the letter:
GBaker/MedQA-USMLE-4-options (question, answer: the option's text, options: {"A": ...},
meta_info, answer_idx: the letter, metamap_phrases), bigbio/med_qa's source schema (options:
[{"key", "value"}], answer_idx) and its bigbio_qa schema (choices: the texts, answer: [the
option's text], context "")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distill.data import load_rows
from distill.eval import score
from distill.examples import Columns, load_examples
from distill.generate import prompt_messages

QUESTION = (
    "A 23-year-old pregnant woman at 22 weeks gestation presents with burning upon urination. "
    "She states it started 1 day ago and has been worsening despite drinking more water and "
    "taking cranberry extract. Which of the following is the best treatment for this patient?"
)
TEXTS = ["Ampicillin", "Ceftriaxone", "Doxycycline", "Nitrofurantoin"]
GBAKER = {  # GBaker/MedQA-USMLE-4-options: its train split's first row
    "question": QUESTION,
    "answer": "Nitrofurantoin",
    "options": dict(zip("ABCD", TEXTS)),
    "meta_info": "step2&3",
    "answer_idx": "D",
    "metamap_phrases": ["23 year old pregnant woman", "weeks presents", "burning", "urination"],
}
BIGBIO_SOURCE = {  # bigbio/med_qa, med_qa_en_4options_source
    "meta_info": "step2&3",
    "question": QUESTION,
    "answer_idx": "D",
    "answer": "Nitrofurantoin",
    "options": [{"key": k, "value": v} for k, v in zip("ABCD", TEXTS)],
    "metamap_phrases": ["23 year old pregnant woman"],
}
BIGBIO_QA = {  # bigbio/med_qa, med_qa_en_4options_bigbio_qa
    "id": "0",
    "question_id": "0",
    "document_id": "0",
    "question": QUESTION,
    "type": "multiple_choice",
    "choices": TEXTS,
    "context": "",
    "answer": ["Nitrofurantoin"],
}
LETTERED = (
    "Answer the following multiple choice question. The last line of your response should be "
    "of the following format: 'Answer: $LETTER' (without quotes) where LETTER is one of ABCD. "
    "Think step by step before answering.\n\n" + QUESTION + "\n\nA) Ampicillin\nB) Ceftriaxone\n"
    "C) Doxycycline\nD) Nitrofurantoin"
)


def _write(tmp_path: Path, *rows: dict, name: str = "medqa.jsonl") -> str:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.mark.parametrize("row", [GBAKER, BIGBIO_SOURCE, BIGBIO_QA], ids=["gbaker", "source", "qa"])
def test_medqa_is_asked_as_multiple_choice_its_letter_the_gold(row, tmp_path):
    data = _write(tmp_path, row)
    ((r, msgs),) = list(prompt_messages(data))
    assert msgs == [{"role": "user", "content": LETTERED}]
    assert r.gold == "D"
    # the right letter passes, the option's text alone or another letter does not
    for reply, want in [("Answer: D", 1.0), ("Answer: A", 0.0), ("Nitrofurantoin", 0.0)]:
        rec = {"id": "x", "prompt_id": "p", "sample": 0, "answer": reply, "gold": r.gold,
               "messages": msgs, "finish_reason": "stop", "usage": {"completion_tokens": 5}}  # fmt: skip
        assert score([rec], "choice")["pass@1"] == want, reply


def test_medqa_trains_the_prompt_eval_asks_answered_with_the_letter(tmp_path):
    data = _write(tmp_path, GBAKER)
    columns = Columns(prompt_field="question", answer_field="answer_idx")
    (ex,) = list(load_examples(data, columns=columns))
    assert ex.prompt == [{"role": "user", "content": LETTERED}] and ex.completion == "Answer: D"


def test_the_answer_text_column_names_its_option_too(tmp_path):
    """--answer-field answer (the option's text) reads the same letter."""
    (r,) = load_rows(_write(tmp_path, GBAKER), answer_field="answer")
    assert (r.prompt, r.gold) == (LETTERED, "D")


def test_a_five_option_struct_with_a_null_fifth_asks_the_four(tmp_path):
    """A Parquet struct of a set mixing 4 and 5 options writes the missing one as null."""
    row = {**GBAKER, "options": {**GBAKER["options"], "E": None}}
    (r,) = load_rows(_write(tmp_path, row))
    assert (r.prompt, r.gold) == (LETTERED, "D")
