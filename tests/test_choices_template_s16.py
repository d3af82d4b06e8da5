"""A --template with both {question} and {prompt} asked a multiple-choice row twice (s16): on
such a set each is the question with its lettered options (distill/choices.py). It is refused in
one line naming the template (keep one of them); either alone asks the row once, as before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distill.errors import DistillError
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


def _write(tmp_path: Path, *rows: dict, name: str = "set.jsonl") -> str:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.mark.parametrize("row,question", [(MMLU, "question"), (GPQA, "Question")])
def test_a_template_showing_question_and_prompt_is_refused_naming_it(row, question, tmp_path):
    data = _write(tmp_path, row)
    both = tmp_path / "both.txt"
    both.write_text(f"Read carefully.\n\n{{prompt}}\n\nAgain: {{{question}}}\n")
    with pytest.raises(DistillError) as err:
        list(prompt_messages(data, template=str(both)))
    says = f"--template {both} shows both {{{question}}} and {{prompt}}"
    assert says in str(err.value) and "keep one of them" in str(err.value), str(err.value)
    res = distill("generate", "--data", data, "--teacher", "openai", "--model", "m",
                  "--base-url", "http://127.0.0.1:9/v1", "--template", both,
                  "--out", tmp_path / "t.jsonl")  # fmt: skip
    assert res.returncode == 1 and "Traceback" not in res.stderr
    (line,) = res.stderr.strip().splitlines()
    assert says in line, line


@pytest.mark.parametrize("placeholder", ["prompt", "question"])
def test_either_placeholder_alone_asks_the_question_and_its_options_once(placeholder, tmp_path):
    data = _write(tmp_path, MMLU)
    mine = tmp_path / "mine.txt"
    mine.write_text(f"Read carefully.\n\n{{{placeholder}}}\n")
    ((_, msgs),) = list(prompt_messages(data, template=str(mine)))
    asked = msgs[-1]["content"]
    assert asked.startswith("Read carefully.\n\n" + HEAD + MMLU["question"])
    assert asked.count("A) 0") == 1 and asked.count(MMLU["question"]) == 1
