"""Multiple-choice prompts (distill/choices.py), s16:

5. OpenBookQA (allenai/openbookqa: id, question_stem, choices {text, label}, answerKey) was
   refused ("no prompt field found"): it is asked as multiple choice, its answerKey the gold.
7. A row whose question is empty but whose options are there was refused with "the model would
   be asked nothing" (it would be asked the options): the line says the question is empty,
   naming the row and the field, in generate, eval and train alike.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distill.data import load_rows
from distill.errors import DistillError
from distill.examples import Columns, load_examples
from distill.generate import prompt_messages
from tests.inproc import distill

HEAD = (
    "Answer the following multiple choice question. The last line of your response should be "
    "of the following format: 'Answer: $LETTER' (without quotes) where LETTER is one of ABCD. "
    "Think step by step before answering.\n\n"
)
MMLU = {  # cais/mmlu
    "question": "Find the degree for the given field extension Q(sqrt(2)) over Q.",
    "subject": "abstract_algebra",
    "choices": ["0", "2", "1", "3"],
    "answer": 1,
}
GPQA = {  # Idavidrein/gpqa
    "Record ID": "recV5pAQIv0iLo0Ma",
    "Question": "Which energy difference lets the two states be clearly resolved?",
    "Correct Answer": "10^-4 eV",
    "Incorrect Answer 1": "10^-11 eV",
    "Incorrect Answer 2": "10^-8 eV",
    "Incorrect Answer 3": "10^-9 eV",
}
OPENBOOKQA = {  # allenai/openbookqa, config main (its columns, as the loader writes them)
    "id": "8-376",
    "question_stem": "Frilled sharks and angler fish live far beneath the surface of the ocean, "
    "which is why they are known as",
    "choices": {
        "text": ["Deep sea animals", "fish", "Long Sea Fish", "Far Sea Animals"],
        "label": ["A", "B", "C", "D"],
    },
    "answerKey": "A",
}


def _write(tmp_path: Path, *rows: dict, name: str = "set.jsonl") -> str:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _generate(tmp_path: Path, data: str, *args) -> tuple[int, str]:
    res = distill("generate", "--data", data, "--teacher", "openai", "--model", "m",
                  "--base-url", "http://127.0.0.1:9/v1", "--out", tmp_path / "t.jsonl",
                  *args)  # fmt: skip
    assert "Traceback" not in res.stderr
    return res.returncode, res.stderr.strip()


# --------------------------------------------------------------- 5. OpenBookQA


def test_openbookqa_is_asked_as_multiple_choice_its_answer_key_the_gold(tmp_path):
    data = _write(tmp_path, OPENBOOKQA, {**OPENBOOKQA, "id": "7-980", "answerKey": "C"})
    first, second = prompt_messages(data)
    (row, msgs) = first
    assert msgs == [
        {
            "role": "user",
            "content": HEAD + OPENBOOKQA["question_stem"] + "\n\nA) Deep sea animals\nB) fish\n"
            "C) Long Sea Fish\nD) Far Sea Animals",
        }
    ]
    assert (row.gold, row.row_id) == ("A", "8-376")
    assert (second[0].gold, second[0].row_id) == ("C", "7-980")
    # trained as eval asks it: the lettered question, answered "Answer: A"
    columns = Columns(prompt_field="question_stem", answer_field="answerKey")
    ex, _ = load_examples(data, columns=columns)
    assert ex.prompt == msgs and ex.completion == "Answer: A"


# --------------------------------------------------------------- 7. an empty question


@pytest.mark.parametrize("empty", ["", "   "])
def test_an_empty_question_with_options_says_the_question_is_empty(empty, tmp_path):
    data = _write(tmp_path, MMLU, {**MMLU, "question": empty})
    says = "field 'question' (the question) is empty, but the row offers options in 'choices'"
    with pytest.raises(DistillError) as err:
        list(load_rows(data))
    assert str(err.value).startswith(f"{data}:2: ") and says in str(err.value), str(err.value)
    rc, stderr = _generate(tmp_path, data)
    (line,) = stderr.splitlines()
    assert rc == 1 and f"{data}:2: " in line and says in line and "nothing" not in line, line
    # train names it alike
    columns = Columns(prompt_field="question", answer_field="answer")
    with pytest.raises(DistillError, match="is empty, but the row offers options"):
        list(load_examples(data, columns=columns))


def test_an_empty_free_form_question_is_still_one_asking_nothing(tmp_path):
    """A row with no options and no question does ask nothing: refused as before."""
    free = {"question": "", "subject": "math", "choices": None, "answer": "1.2"}
    data = _write(tmp_path, MMLU, free)
    with pytest.raises(DistillError, match=r":2: field 'question' is empty: the model would be"):
        list(load_rows(data))
