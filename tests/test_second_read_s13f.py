"""Second read of daa2cd9 (rows refused: an empty think block alone, two assistant turns in a row,
a `tools` column): a `tools` value that lists no tool definitions, and a `tools` column the user
maps into the prompt, train.

.venv/bin/python -m pytest tests/test_second_read_s13f.py -q
"""

from __future__ import annotations

import json

import pytest

from distill.examples import Columns, chat_prompt, load_examples

TOOLS = [{"name": "get_weather", "parameters": {"city": {"type": "string"}}}]
CHAT = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]


def write_rows(tmp_path, rows):
    p = tmp_path / "data.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(p)


@pytest.mark.parametrize(
    "value", [float("nan"), "NaN", True, 3], ids=["pandas-nan", "nan-text", "flag", "count"]
)
def test_a_tools_value_that_lists_no_definitions_trains(tmp_path, value):
    # A set built with pandas has NaN where a row has no tools (json.dumps of its rows writes
    # NaN, which Python's json reads back): every such row was refused as 'lists tool
    # definitions', as was a flag or a count no template renders as tools.
    [ex] = load_examples(write_rows(tmp_path, [{"tools": value, "messages": CHAT}]))
    assert ex.completion == "Hello!"


def test_xlam_with_its_tools_mapped_into_the_prompt_trains_them_shown(tmp_path):
    # Salesforce/xlam-function-calling-60k with --context-field tools: the definitions are in
    # the prompt the student is trained (and served) on, what the refusal asks for; it was
    # refused all the same, by the column's name.
    row = {"query": "Weather in Paris?", "answers": '[{"name": "get_weather"}]'}
    row["tools"] = json.dumps(TOOLS)
    cols = Columns(prompt_field="query", answer_field="answers", context_field="tools")
    [ex] = load_examples(write_rows(tmp_path, [row]), columns=cols)
    assert "get_weather" in ex.prompt[-1]["content"]
    assert ex.completion == row["answers"]


def test_a_chat_with_its_tools_mapped_as_the_system_message_trains(tmp_path):
    row = {"tools": "You may call get_weather(city).", "messages": CHAT}
    [ex] = load_examples(write_rows(tmp_path, [row]), columns=Columns(system_field="tools"))
    assert ex.prompt[0] == {"role": "system", "content": row["tools"]}
    # onpolicy's chat prompts read the same mapping
    msgs = chat_prompt({**row, "messages": CHAT[:1]}, "p row 1", Columns(system_field="tools"))
    assert msgs[0]["content"] == row["tools"]


def test_generate_sends_tools_its_template_writes_into_the_prompt(tmp_path):
    # generate's (eval's, on-policy's) prompt source: a --template with {tools} sends them to
    # the teacher; the row was refused by the column's name. A pandas NaN is no tools there too.
    from distill.generate import prompt_messages

    tmpl = tmp_path / "with_tools.txt"
    tmpl.write_text("{prompt}\n\nTools: {tools}\n")
    rows = [{"prompt": "Weather in Paris?", "tools": json.dumps(TOOLS)}]
    [(_, msgs)] = prompt_messages(write_rows(tmp_path, rows), template=str(tmpl))
    assert "get_weather" in msgs[-1]["content"]
    rows = [{"prompt": "Hi", "tools": float("nan")}]
    [(_, msgs)] = prompt_messages(write_rows(tmp_path, rows))
    assert msgs[-1]["content"] == "Hi"
