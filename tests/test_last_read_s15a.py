"""Last read of session 15's datasets / multiple-choice / reasoning changes (6551dac..HEAD), what
the per-commit reviews could not see:

- a multiple-choice row of more than 26 options (past Z) was refused by an IndexError traceback
  (choices.Layout.read named the letters A-? of the options it refuses): one line now, in
  generate/eval's load_rows and train's load_examples alike.
"""

from __future__ import annotations

import json

import pytest

from distill.data import load_rows
from distill.errors import DistillError
from distill.examples import Columns, load_examples


def _write(tmp_path, rows):
    path = tmp_path / "mc.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


ROWS = [
    {"question": "Which is 1?", "choices": ["1", "2"], "answer": 0},
    {"question": "Which is 3?", "choices": [str(i) for i in range(27)], "answer": 3},
]


def test_more_options_than_letters_is_one_line_in_generate_and_eval(tmp_path):
    path = _write(tmp_path, ROWS)
    with pytest.raises(DistillError, match=r"mc\.jsonl:2: 27 options in 'choices'.*A-J only"):
        list(load_rows(path))


def test_more_options_than_letters_is_one_line_in_train(tmp_path):
    path = _write(tmp_path, ROWS)
    columns = Columns(prompt_field="question", answer_field="answer")
    with pytest.raises(DistillError, match=r"row 2: 27 options in 'choices'.*A-J only"):
        list(load_examples(path, columns=columns))


def test_eleven_options_still_name_their_letters(tmp_path):
    rows = [ROWS[0], {**ROWS[1], "choices": [str(i) for i in range(11)]}]
    with pytest.raises(DistillError, match=r"11 options in 'choices' \(letters A-K\)"):
        list(load_rows(_write(tmp_path, rows)))
