"""eval --format alpaca on rows with an `instruction` field asks each in the Alpaca prompt
around the row's own instruction (and input), as train renders such a row, whatever --template
names (generate's, in `distill run`). eval.json still named that template, and the card's eval
line after it: a wording no problem was asked in. It names none now, and a note says the
template was not used."""

from __future__ import annotations

import json

from distill.eval import EvalConfig, run


def test_a_template_alpaca_rows_are_not_asked_in_is_not_recorded(server, tmp_path, capsys):
    data = tmp_path / "alpaca.jsonl"
    row = {"instruction": "Add 2 and 3.", "input": "", "output": "5", "answer": "5"}
    data.write_text(json.dumps(row) + "\n")
    mine = tmp_path / "mine.txt"
    mine.write_text("Answer in one number. {prompt}\n")
    out = tmp_path / "eval.json"
    cfg = EvalConfig(
        model="fake-r1",
        backend="openai",
        base_url=server.url,
        data=str(data),
        format="alpaca",
        template=str(mine),
        out=str(out),
    )
    run(cfg)
    (sent,) = [e["messages"][-1]["content"] for e in server.log]
    assert "### Instruction:\nAdd 2 and 3.\n\n### Response:" in sent and "one number" not in sent
    assert "template" not in json.loads(out.read_text())
    assert f"--template {mine} is not used" in capsys.readouterr().out


def test_the_alpaca_template_itself_is_recorded_without_a_note(server, tmp_path, capsys):
    data = tmp_path / "alpaca.jsonl"
    data.write_text(json.dumps({"instruction": "Add 2 and 3.", "answer": "5"}) + "\n")
    out = tmp_path / "eval.json"
    cfg = EvalConfig(
        model="fake-r1",
        backend="openai",
        base_url=server.url,
        data=str(data),
        format="alpaca",
        template="alpaca",
        out=str(out),
    )
    run(cfg)
    assert json.loads(out.read_text())["template"] == "alpaca"
    assert "is not used" not in capsys.readouterr().out
