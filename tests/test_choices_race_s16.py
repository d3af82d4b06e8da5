"""RACE (ehovy/race: example_id, article, question, options: a list of 4, answer: a letter) was
asked its question and options without the article the question is about ("We can know from
the passage that..." of no passage). The article is shown before the question, in generate,
eval and train alike; a --template's {article} or a --context-field article, which would show it
a second time, is refused by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distill.errors import DistillError
from distill.examples import Columns, load_examples
from distill.generate import prompt_messages
from tests.inproc import distill

HEAD = (
    "Answer the following multiple choice question. The last line of your response should be "
    "of the following format: 'Answer: $LETTER' (without quotes) where LETTER is one of ABCD. "
    "Think step by step before answering.\n\n"
)
ARTICLE = (
    "Last week I talked with some of my students about what they wanted to do after they "
    "graduated, and what kind of job prospects they thought they had. Given that I teach "
    "students who are training to be doctors, I was surprised to find that most thought they "
    "would not be able to get the jobs they wanted without outside help."
)
RACE = {  # ehovy/race, config all: its columns
    "example_id": "high19432.txt",
    "article": ARTICLE,
    "answer": "C",
    "question": "We can know from the passage that the author works as a_.",
    "options": ["doctor", "model", "teacher", "reporter"],
}


def _write(tmp_path: Path, *rows: dict, name: str = "race.jsonl") -> str:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_race_is_asked_its_article_then_its_question_and_options(tmp_path):
    second = {**RACE, "question": "The author was surprised because _ .", "answer": "A",
              "options": ["most needed help", "few were doctors", "jobs were easy", "none"]}  # fmt: skip
    data = _write(tmp_path, RACE, second)
    (row, msgs), (row2, msgs2) = prompt_messages(data)
    assert msgs == [
        {
            "role": "user",
            "content": HEAD + ARTICLE + "\n\n" + RACE["question"]
            + "\n\nA) doctor\nB) model\nC) teacher\nD) reporter",
        }
    ]  # fmt: skip
    assert row.gold == "C" and row2.gold == "A"
    # two questions of one article (one example_id) are two prompts
    assert msgs2[-1]["content"].startswith(HEAD + ARTICLE + "\n\nThe author was surprised")
    assert row.row_id is None and row2.row_id is None
    # train asks it as eval does, answered with the letter
    columns = Columns(prompt_field="question", answer_field="answer")
    ex, _ = load_examples(data, columns=columns)
    assert ex.prompt == msgs and ex.completion == "Answer: C"


def test_a_template_of_the_question_asks_it_with_its_article(tmp_path):
    data = _write(tmp_path, RACE)
    mine = tmp_path / "mine.txt"
    mine.write_text("Read the passage.\n\n{question}")
    ((_, msgs),) = list(prompt_messages(data, template=str(mine)))
    assert msgs[-1]["content"].startswith("Read the passage.\n\n" + HEAD + ARTICLE + "\n\n")
    assert msgs[-1]["content"].count(ARTICLE) == 1


def test_the_article_shown_a_second_time_is_refused_by_name(tmp_path):
    data = _write(tmp_path, RACE)
    mine = tmp_path / "mine.txt"
    mine.write_text("{article}\n\n{question}")
    with pytest.raises(DistillError, match="shows column 'article' itself"):
        list(prompt_messages(data, template=str(mine)))
    with pytest.raises(DistillError, match="--context-field article adds column 'article'"):
        list(prompt_messages(data, context_field="article"))
    res = distill("generate", "--data", data, "--teacher", "openai", "--model", "m",
                  "--base-url", "http://127.0.0.1:9/v1", "--context-field", "article",
                  "--out", tmp_path / "t.jsonl")  # fmt: skip
    assert res.returncode == 1 and "Traceback" not in res.stderr
    (line,) = res.stderr.strip().splitlines()
    assert "drop --context-field" in line, line
    # train alike
    columns = Columns(prompt_field="question", answer_field="answer", context_field="article")
    with pytest.raises(DistillError, match="--context-field article adds column 'article'"):
        list(load_examples(data, columns=columns))
