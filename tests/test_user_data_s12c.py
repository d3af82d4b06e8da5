"""A user's data read as the user meant it: golds that pandas or a JSON writer turned into floats,
NaN or lists are the answer (or no answer), never a text no sample can match; a compressed file
that is not there is not looked up on the hub; built-in sets refuse options that make no set.

OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q tests/test_user_data_s12c.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distill.data import load_rows
from distill.errors import DistillError


def _rows(path: Path, **kw) -> list:
    return list(load_rows(str(path), **kw))


def test_a_float_gold_is_the_number_a_sample_states(tmp_path):
    """pandas makes an int answer column with one missing cell float (42 -> 42.0), and a JSON
    writer writes 1e-07: both were golds a right answer was judged "wrong" against."""
    import pandas as pd

    from distill.filter.verify import verify_exact, verify_math

    pq = tmp_path / "p.parquet"
    pd.DataFrame({"problem": ["a", "b"], "answer": [42, None]}).to_parquet(pq)
    assert [r.gold for r in _rows(pq)] == ["42", None]

    js = tmp_path / "p.jsonl"
    js.write_text(
        json.dumps({"problem": "tiny", "answer": 1e-07})
        + "\n"
        + json.dumps({"problem": "big", "answer": 1e16})
        + "\n"
    )
    tiny, big = _rows(js)
    assert verify_math("\\boxed{0.0000001}", tiny.gold) == "correct"
    assert verify_math("\\boxed{10000000000000000}", big.gold) == "correct"
    assert verify_exact("42", _rows(pq)[0].gold) == "correct"


def test_a_csv_gold_keeps_its_leading_zero(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('problem,answer\n"two\nlines",042\n', newline="")
    (row,) = _rows(path)
    assert (row.prompt, row.gold) == ("two\nlines", "042")


def test_nan_is_no_gold_and_no_id(tmp_path):
    """json.dumps of a pandas row writes NaN for a missing cell: the gold "nan" made every
    sample "wrong", and rows whose ids were all NaN were refused as one id given twice."""
    path = tmp_path / "nan.jsonl"
    path.write_text(
        '{"problem": "a", "answer": NaN, "id": NaN}\n{"problem": "b", "answer": "2", "id": NaN}\n'
    )
    rows = _rows(path)
    assert [(r.prompt, r.gold, r.row_id) for r in rows] == [("a", None, None), ("b", "2", None)]


def test_a_nan_prompt_is_refused_as_empty(tmp_path):
    """The teacher was asked "nan"."""
    path = tmp_path / "nan.jsonl"
    path.write_text('{"problem": "a"}\n{"problem": NaN}\n')
    with pytest.raises(DistillError, match=r"nan.jsonl:2: field 'problem' is empty"):
        _rows(path)


def test_a_list_gold(tmp_path, capsys):
    """One accepted answer in a list is that answer; several (NQ-open) are no one gold: the
    Python repr "['1', '2']" was the gold, every sample judged "wrong"."""
    import pandas as pd

    path = tmp_path / "l.parquet"
    pd.DataFrame({"problem": ["a", "b"], "answer": [["1", "2"], ["3"]]}).to_parquet(path)
    assert [r.gold for r in _rows(path)] == [None, "3"]
    out = capsys.readouterr().out
    assert "field 'answer' holds several answers (a list, or a dict) in 1 row" in out


@pytest.mark.parametrize("name", ["train.jsonl.gz", "data/train.json.zst"])
def test_a_compressed_file_that_is_not_there_is_not_found(tmp_path, monkeypatch, name):
    """It was asked of the hub as a dataset's name (online-less: 5 retries, ~24 s, then
    "could not load dataset")."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DistillError, match=f"data file not found: {name}"):
        _rows(Path(name))


def test_an_upper_case_suffix_is_read(tmp_path):
    path = tmp_path / "DATA.JSONL"
    path.write_text('{"problem": "a", "answer": "1"}\n')
    assert [r.gold for r in _rows(path)] == ["1"]


@pytest.mark.parametrize(
    "src",
    [
        "builtin:arithmetic?start=-5",  # gave n - 5 problems under ids from 000000
        "builtin:arithmetic?n=-1",
        "builtin:countdown?numbers=0",  # a traceback (IndexError)
        "builtin:countdown?max_number=0",  # a traceback (ValueError)
        "builtin:countdown?max_target=0",  # looped for ever
    ],
)
def test_builtin_options_that_make_no_set_are_refused(src):
    with pytest.raises(DistillError, match="must be >= "):
        list(load_rows(src, limit=3))


def test_an_empty_gold_cell_is_no_gold(tmp_path, capsys):
    """A CSV's empty answer cell was the gold "": eval took such a set as one with golds and
    scored every sample unverifiable instead of saying it has none."""
    path = tmp_path / "q.csv"
    path.write_text("problem,answer\na,\nb, \n", newline="")
    assert [r.gold for r in _rows(path)] == [None, None]
    assert "several answers" not in capsys.readouterr().out


def test_a_utf16_jsonl_is_named_as_such(tmp_path):
    """Windows PowerShell's `>` writes UTF-16: the error named line 2 "not UTF-8"."""
    path = tmp_path / "ps.jsonl"
    path.write_bytes('{"problem": "a"}\r\n{"problem": "b"}\r\n'.encode("utf-16"))
    with pytest.raises(
        DistillError, match=r"ps.jsonl:1: not valid JSON \(UTF-16.*save it as UTF-8"
    ):
        _rows(path)
