"""Golds written as numbers (data.gold_text, 80a0276 second read): a float gold is the number its
writer wrote, however large, and one item that is no answer is no "several answers".

OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q tests/test_gold_numbers_s12d.py
"""

from __future__ import annotations

import json

import pytest

from distill.data import gold_text, load_rows


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1e23, "100000000000000000000000"),  # int(1e23) is 99999999999999991611392
        (6.02e23, "602000000000000000000000"),  # Avogadro, as a JSON writer writes it
        (-2.5e30, "-2500000000000000000000000000000"),
        (1e16, "10000000000000000"),
        (42.0, "42"),
        (-0.0, "0"),
        (1e-07, "0.0000001"),
    ],
)
def test_a_float_gold_is_the_number_written(value, text):
    """A whole float past 2**53 was written as int(value), its binary expansion: the gold 1e23
    became 99999999999999991611392, and a sample stating 10^{23} was judged wrong."""
    assert gold_text(value) == text


def test_a_large_float_gold_verifies_a_right_answer(tmp_path):
    from distill.filter.verify import verify_math

    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"problem": "10^23?", "answer": 1e23}) + "\n")
    (row,) = load_rows(str(path))
    assert verify_math("So \\boxed{10^{23}}", row.gold) == "correct"
    assert verify_math("So \\boxed{100000000000000000000000}", row.gold) == "correct"


def test_an_empty_answer_list_is_no_gold_and_not_several_answers(tmp_path, capsys):
    """[] or [null] hold no answer at all (a missing cell, as an empty CSV cell): no gold, and
    not the line telling the user the field holds several answers."""
    path = tmp_path / "p.jsonl"
    rows = [{"problem": "a", "answer": []}, {"problem": "b", "answer": [None]}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert [r.gold for r in load_rows(str(path))] == [None, None]
    assert "several answers" not in capsys.readouterr().out
