import json
from fractions import Fraction

import pytest

from distill.data import countdown, load_rows
from distill.errors import DistillError


def test_builtin_arithmetic_is_deterministic_with_a_difficulty_knob():
    a = list(load_rows("builtin:arithmetic?n=5&digits=3&ops=+-"))
    b = list(load_rows("builtin:arithmetic?n=5&digits=3&ops=+-"))
    assert [r.prompt for r in a] == [r.prompt for r in b]
    for r in a:
        expr = r.fields["expression"]
        assert all(100 <= int(x) <= 999 for x in expr.replace("+", " ").replace("-", " ").split())
        assert r.gold == str(eval(expr))  # test-only check of the gold
        assert r.row_id and r.prompt.startswith("What is ")


def test_builtin_unknown_option_is_named():
    with pytest.raises(DistillError, match="unknown option 'digts'"):
        list(load_rows("builtin:arithmetic?digts=3"))


def test_builtin_option_of_the_wrong_type_is_named():
    with pytest.raises(DistillError, match="option 'n' must be an integer, got 'abc'"):
        list(load_rows("builtin:arithmetic?n=abc"))
    with pytest.raises(DistillError, match="option 'numbers' must be an integer, got '3.5'"):
        list(load_rows("builtin:countdown?numbers=3.5"))
    rows = list(load_rows("builtin:arithmetic?n=3&ops=*&seed=-1"))  # text and negative ints
    assert len(rows) == 3 and all("*" in r.prompt for r in rows)


def _safe_value(expr):
    # Fractions keep "/" exact, as the countdown rule does.
    import ast

    def ev(node):
        if isinstance(node, ast.Constant):
            return Fraction(node.value)
        ops = {
            ast.Add: lambda a, b: a + b,
            ast.Sub: lambda a, b: a - b,
            ast.Mult: lambda a, b: a * b,
            ast.Div: lambda a, b: a / b,
        }
        return ops[type(node.op)](ev(node.left), ev(node.right))

    return ev(ast.parse(expr, mode="eval").body)


def test_countdown_instances_are_solvable_by_their_reference():
    for row in countdown(n=50, seed=3):
        used = sorted(
            int(t)
            for t in row["solution"].replace("(", " ").replace(")", " ").split()
            if t.isdigit()
        )
        assert used == sorted(row["numbers"])
        assert _safe_value(row["solution"]) == row["target"]


@pytest.mark.parametrize("suffix", ["jsonl", "json", "csv", "parquet"])
def test_local_files_with_field_mapping(tmp_path, suffix):
    rows = [
        {"qid": f"q{i}", "question": f"What is {i} + 1?", "final": str(i + 1)} for i in range(3)
    ]
    p = tmp_path / f"d.{suffix}"
    if suffix == "jsonl":
        p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif suffix == "json":
        p.write_text(json.dumps(rows))
    elif suffix == "csv":
        p.write_text(
            "qid,question,final\n"
            + "".join(f"{r['qid']},{r['question']},{r['final']}\n" for r in rows)
        )
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), p)
    got = list(
        load_rows(str(p), prompt_field="question", answer_field="final", id_field="qid", limit=2)
    )
    assert [(r.row_id, r.prompt, r.gold) for r in got] == [
        ("q0", "What is 0 + 1?", "1"),
        ("q1", "What is 1 + 1?", "2"),
    ]


def test_missing_prompt_field_lists_the_fields(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text('{"text": "hi", "label": 1}\n')
    with pytest.raises(
        DistillError, match=r"no prompt field found \(fields: text, label\); pass --prompt-field"
    ):
        list(load_rows(str(p)))
    with pytest.raises(DistillError, match=r"no field 'body' \(fields: text, label\)"):
        list(load_rows(str(p), prompt_field="body"))


def test_broken_jsonl_line_and_missing_file(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text('{"prompt": "a"}\n{"prompt": \n{"prompt": "c"}\n')
    with pytest.raises(DistillError, match=r"d\.jsonl:2: not valid JSON"):
        list(load_rows(str(p)))
    with pytest.raises(DistillError, match="data file not found: nope.jsonl"):
        list(load_rows("nope.jsonl"))


def test_hub_dataset_offline_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(
        DistillError, match="could not load dataset 'nobody/no-such-set'.*local HF cache"
    ):
        list(load_rows("nobody/no-such-set"))
