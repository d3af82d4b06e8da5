"""Mixed sets and numeric options (distill/choices.py), s16:

6. MathVista (AI4Math/MathVista testmini: pid, question, image, choices: a list or None, unit,
   precision, answer: the option's text, question_type 'free_form' / 'multi_choice',
   answer_type, metadata, query) opens with a free-form row: the first row decided and the whole
   set was read as plain prompts, its multiple-choice rows asked without their options, the
   reply judged against "97". Each row decides now: options -> lettered, the letter the gold;
   none -> the question, its answer the gold.
4. A set whose options are numbers and whose answer is an option's text: "3" of ["3", "5", "7",
   "9"] was read as the index 3 (D), and MathVista's "97" of ["97", ...] refused as no option.
   The known layout decides (choices._index): an integer is an index (MMLU), a text answer of
   MMLU's layout is the option itself first, a letter column's (RACE, MMLU-Pro) a letter first.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distill.data import load_rows
from distill.examples import Columns, load_examples
from distill.generate import prompt_messages

HEAD = (
    "Answer the following multiple choice question. The last line of your response should be "
    "of the following format: 'Answer: $LETTER' (without quotes) where LETTER is one of ABCD. "
    "Think step by step before answering.\n\n"
)
FREE = {  # MathVista testmini, pid 1: free-form
    "pid": "1",
    "question": "When a spring does work on an object, we cannot find the work by simply "
    "multiplying the spring force by the object's displacement. By what distance $d$ is the "
    "spring compressed?",
    "image": "images/1.jpg",
    "choices": None,
    "unit": None,
    "precision": 1.0,
    "answer": "1.2",
    "question_type": "free_form",
    "answer_type": "float",
    "metadata": {"category": "math-targeted-vqa", "language": "english"},
    "query": "Hint: Please answer the question requiring a floating-point number with one "
    "decimal place and provide the final value, e.g., 1.2, 1.3, 1.4, at the end.\nQuestion: ...",
}
CHOICE = {  # MathVista testmini, pid 5: multiple choice, numeric options, the answer the text
    "pid": "5",
    "question": "Find $m\\angle H$",
    "image": "images/5.jpg",
    "choices": ["97", "102", "107", "122"],
    "unit": None,
    "precision": None,
    "answer": "97",
    "question_type": "multi_choice",
    "answer_type": "text",
    "metadata": {"category": "math-targeted-vqa", "language": "english"},
    "query": "Hint: Please answer the question and provide the correct option letter, e.g., A, "
    "B, C, D, at the end.\nQuestion: Find $m\\angle H$\nChoices:\n(A) 97\n(B) 102\n(C) 107\n(D) 122",
}


def _write(tmp_path: Path, *rows: dict, name: str = "set.jsonl") -> str:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _lettered(question: str, options: list[str]) -> str:
    return HEAD + question + "\n\n" + "\n".join(f"{x}) {o}" for x, o in zip("ABCD", options))


# --------------------------------------------------------------- 6. a free-form first row


def test_mathvista_asks_each_row_as_it_is_the_first_free_form(tmp_path):
    later = {**CHOICE, "pid": "6", "question": "Find $x$.", "answer": "107"}
    data = _write(tmp_path, FREE, CHOICE, later)
    asked = [(r.gold, msgs[-1]["content"]) for r, msgs in prompt_messages(data)]
    assert asked == [
        ("1.2", FREE["question"]),
        ("A", _lettered("Find $m\\angle H$", CHOICE["choices"])),
        ("C", _lettered("Find $x$.", CHOICE["choices"])),
    ]
    assert [r.row_id for r in load_rows(data)] == [None] * 3  # (`pid` is no id field, as before)
    # train reads each row as generate asks it
    columns = Columns(prompt_field="question", answer_field="answer")
    free, choice, _ = load_examples(data, columns=columns)
    assert (free.prompt[-1]["content"], free.completion) == (FREE["question"], "1.2")
    assert choice.prompt[-1]["content"] == asked[1][1] and choice.completion == "Answer: A"


def test_a_set_of_free_form_rows_only_reads_as_before(tmp_path):
    (r,) = load_rows(_write(tmp_path, FREE))
    assert (r.prompt, r.gold) == (FREE["question"], "1.2")


# --------------------------------------------------------------- 4. numeric options


@pytest.mark.parametrize(
    "answer,gold",
    [
        ("3", "A"),  # an option's own text, not the index 3
        ("9", "D"),
        ("C", "C"),  # a letter no option is
        (0, "A"),  # an integer: MMLU's index
        (3, "D"),
    ],
)
def test_a_numeric_option_named_by_its_text_is_that_option(answer, gold, tmp_path):
    row = {"question": "Which is the smallest odd prime?", "choices": ["3", "5", "7", "9"],
           "answer": answer}  # fmt: skip
    (r,) = load_rows(_write(tmp_path, row))
    assert r.gold == gold and r.prompt.endswith("A) 3\nB) 5\nC) 7\nD) 9")


def test_mmlus_integer_answer_over_numeric_options_is_its_index(tmp_path):
    mmlu = {"question": "Find the degree of Q(sqrt(2)) over Q.", "subject": "abstract_algebra",
            "choices": ["0", "2", "1", "3"], "answer": 1}  # fmt: skip
    (r,) = load_rows(_write(tmp_path, mmlu))
    assert r.gold == "B"
    # a digit text that no option is: an index (a CSV's)
    (r,) = load_rows(_write(tmp_path, {**mmlu, "choices": ["x", "y", "z", "w"], "answer": "2"}))
    assert r.gold == "C"


def test_a_letter_column_reads_a_letter_first(tmp_path):
    """RACE's and MMLU-Pro's `answer` is a letter, whatever the options' texts are."""
    row = {"question": "Which letter comes first in the alphabet?",
           "options": ["B", "A", "D", "C"], "answer": "B"}  # fmt: skip
    (r,) = load_rows(_write(tmp_path, row))
    assert r.gold == "B"  # option B ("A"), not the option whose text is "B"
    super_gpqa = {**row, "answer": "A", "answer_letter": "B"}
    (r,) = load_rows(_write(tmp_path, super_gpqa))
    assert r.gold == "B"
