"""Second read of s16's dataset-reading commits (5f3e9ba: how a multiple-choice answer names its
option; f4c6bba: glaive's arguments).

    .venv/bin/python -m pytest tests/test_datasets_read_s16.py -q

1. A CSV keeps no types: MMLU's integer `answer` is the text "2" there, its `choices` their JSON
   text. 5f3e9ba read a text answer of MMLU's layout as an option's own text first (MathVista's
   "97"), so MMLU's abstract_algebra row "Find the index of <p> in S_5" (["8", "2", "24",
   "120"], answer 2: C) was judged against B, the option "2", where it read C before. A row whose
   options are JSON text reads a digit answer as an index first again; a JSON row's text answer
   is still the option itself.
2. An answer that str.isdigit passes but int() cannot read ('²'), or a digit run past Python's
   int limit, stopped the run with a ValueError traceback: now the row's one-line refusal.
3. glaive: arguments (or a function spec in `system`) nested deeper than json's recursion limit
   stopped train with a RecursionError traceback: now the row's one-line refusal.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from distill.data import load_rows
from distill.errors import DistillError
from distill.examples import Columns, from_row, load_examples
from distill.generate import prompt_messages

# cais/mmlu, abstract_algebra test row 2 (its card's layout: answer an index, 2 = "24")
MMLU = {
    "question": "Let p = (1, 2, 5, 4)(2, 3) in S_5 . Find the index of <p> in S_5.",
    "subject": "abstract_algebra",
    "choices": ["8", "2", "24", "120"],
    "answer": 2,
}
OTHER = {**MMLU, "question": "Which is the order of the group?", "answer": 0}


def _csv(path: Path, rows: list[dict]) -> str:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({**r, "choices": json.dumps(r["choices"])})
    return str(path)


def _jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


# ------------------------------------------------------------------ 1. a CSV's MMLU


def test_a_csv_mmlu_reads_its_digit_answer_as_the_index_it_was(tmp_path):
    data = _csv(tmp_path / "mmlu.csv", [MMLU, OTHER])
    asked = [(r.gold, msgs[-1]["content"]) for r, msgs in prompt_messages(data)]
    assert [gold for gold, _ in asked] == ["C", "A"]
    assert asked[0][1].endswith("A) 8\nB) 2\nC) 24\nD) 120")
    # train reads the row as generate asks it: answered with the same letter
    columns = Columns(prompt_field="question", answer_field="answer")
    first, _ = load_examples(data, columns=columns)
    assert first.completion == "Answer: C" and first.prompt[-1]["content"] == asked[0][1]
    # the same set as JSON (its integer index kept) reads alike
    assert [r.gold for r in load_rows(_jsonl(tmp_path / "mmlu.jsonl", [MMLU, OTHER]))] == [
        "C",
        "A",
    ]


def test_a_json_text_answer_is_still_the_option_itself(tmp_path):
    # MathVista's layout: the answer is the option's text, "2" is B here, not the index 2
    (r,) = load_rows(_jsonl(tmp_path / "mv.jsonl", [{**MMLU, "answer": "2"}]))
    assert r.gold == "B"


# ------------------------------------------------------------------ 2. no traceback


@pytest.mark.parametrize("answer", ["²", "1" * 5000])
def test_an_answer_no_index_reads_is_refused_in_one_line(tmp_path, answer):
    data = _jsonl(tmp_path / "set.jsonl", [MMLU, {**MMLU, "answer": answer}])
    with pytest.raises(DistillError) as e:
        list(load_rows(data))
    message = str(e.value)
    assert "\n" not in message and message.startswith(f"{data}:2: field 'answer' is ")


# ------------------------------------------------------------------ 3. glaive, nested deep

WEATHER = {
    "name": "get_weather",
    "description": "Get the weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
LEAD = "SYSTEM: You are a helpful assistant with access to the following functions. Use them if "


def _glaive(args: str, spec: str | None = None) -> dict:
    return {
        "system": LEAD + "required -\n" + (spec or json.dumps(WEATHER, indent=4)) + "\n\n",
        "chat": "USER: Weather in Paris?\n\n\n"
        f'ASSISTANT: <functioncall> {{"name": "get_weather", "arguments": \'{args}\'}} '
        "<|endoftext|>\n\n\n"
        'FUNCTION RESPONSE: {"temp": 20}\n\n\n'
        "ASSISTANT: It is 20C in Paris. <|endoftext|>\n\n\n",
    }


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    "row, says",
    [
        (_glaive('{"city": ' + DEEP + "}"), "its <functioncall> is no call distill can read"),
        (
            _glaive('{"city": "Paris"}', '{"name": "f", "parameters": ' + DEEP + "}"),
            "column 'system' (glaive's layout) lists a function that is no JSON object",
        ),
    ],
    ids=["arguments", "function spec"],
)
def test_glaive_json_nested_past_the_recursion_limit_is_refused_in_one_line(row, says):
    with pytest.raises(DistillError) as e:
        from_row(row, "glaive.jsonl row 3")
    message = str(e.value)
    assert "\n" not in message and message.startswith("glaive.jsonl row 3") and says in message
