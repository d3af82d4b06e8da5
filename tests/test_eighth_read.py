"""Second read of fbc6fd6 (publish: the generate summary of traces trained on without a filter)."""

from __future__ import annotations

import json

import yaml

from distill.publish import PublishConfig, build_card
from distill.select.config import SelectConfig
from distill.select.stage import run
from tests.test_select import planted


def test_a_selection_of_the_traces_themselves_shows_their_generate_summary(tmp_path):
    """generate -> select -> train (no filter): the select report's input is the traces, whose
    summary sits beside them; the card said no generate summary was found (as fbc6fd6 fixed
    for train --data traces.jsonl)."""
    traces = planted(tmp_path, {"geometry": 6, "algebra": 4}).rename(tmp_path / "traces.jsonl")
    (tmp_path / "traces.summary.json").write_text(
        json.dumps({"prompts": 10, "samples": 10, "by_teacher": {"openai:t": 10}})
    )
    gen = {"data": "open-r1/OpenR1-Math-220k", "template": "r1-math", "n": 1}
    (tmp_path / "traces.generate.yaml").write_text(yaml.safe_dump(gen))
    sel = SelectConfig(input=str(traces), out=str(tmp_path / "sel.jsonl"), budget=5, clusters=2)
    run(sel, quiet=True)
    student = tmp_path / "student"
    student.mkdir()
    (student / "adapter_config.json").write_text("{}")
    (student / "train.yaml").write_text(yaml.safe_dump({"data": sel.out, "model": "m"}))
    card = str(build_card(student, student, PublishConfig(dir=str(student), local_dir="x")))
    assert "Selected with `distill select`" in card
    assert "- Prompts: 10 from `open-r1/OpenR1-Math-220k` with template `r1-math`" in card
