"""A data file holding a value nested past Python's recursion limit ('[[[[...', a broken
export) is one line naming the file (and line), exit 1, never a RecursionError traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from distill.cli import app
from distill.data import chat_json

DEEP = "[" * 100_000 + "]" * 100_000


def _generate(data: Path, tmp_path: Path) -> tuple[int, str]:
    res = CliRunner().invoke(
        app,
        ["generate", "--teacher", "openai", "--model", "m", "--base-url", "http://127.0.0.1:9/v1",
         "--data", str(data), "--out", str(tmp_path / "traces.jsonl")],
    )  # fmt: skip
    return res.exit_code, res.output + str(res.exception or "")


@pytest.mark.parametrize("suffix", ["jsonl", "json"])
def test_a_value_nested_too_deep_is_one_line_naming_the_file(tmp_path, suffix):
    data = tmp_path / f"data.{suffix}"
    good = json.dumps({"prompt": "What is 2 + 2?"})
    deep = '{"prompt": "q", "x": ' + DEEP + "}"
    data.write_text(f"{good}\n{deep}\n" if suffix == "jsonl" else f"[{good}, {deep}]")
    code, out = _generate(data, tmp_path)
    assert code == 1, out
    assert "RecursionError" not in out and "Traceback" not in out
    assert f"{data}:2: " in out if suffix == "jsonl" else f"{data}: " in out
    assert "nested too deep" in out
    assert not (tmp_path / "traces.jsonl").exists()


def test_a_chat_cell_nested_too_deep_is_read_as_text():
    assert chat_json(DEEP) == DEEP


def test_a_traces_file_line_nested_too_deep_names_the_file_and_line(tmp_path):
    """distill's own reader (filter's input, a resume's output): one line naming file:line."""
    from distill.errors import DistillError
    from distill.records import read_records

    traces = tmp_path / "traces.jsonl"
    traces.write_text(json.dumps({"id": "a"}) + "\n" + '{"id": "b", "x": ' + DEEP + "}\n")
    with pytest.raises(DistillError, match=rf"{traces}:2: .*nested too deep"):
        list(read_records(traces))
