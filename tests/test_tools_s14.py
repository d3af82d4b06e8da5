"""Tool-calling datasets train what their authors meant: a row's `tools` column (OpenAI's
fine-tuning format, TRL's `tools`, xLAM, LLaMA-Factory's sharegpt) is handed to the chat template
(`tools=`) on every render of the row, an assistant turn's `tool_calls` are written in the
template's own syntax and trained, a `tool` message is context. Each was refused in one line
(examples.no_tools, TOOL_KEYS), so no tool-calling set could be trained at all.

    .venv/bin/python -m pytest tests/test_tools_s14.py -q

Templates: the real checkpoints' strings of tests/fixtures/chat_templates on a tiny tokenizer.
"""

from __future__ import annotations

import json

import pytest

from distill.errors import DistillError
from distill.examples import Columns, Renderer, load_examples, spans, tokenize_examples
from tests.test_examples import real_template_tokenizer
from tests.test_templates_s13 import TOOLS  # get_weather(city), OpenAI's shape

RESULT = '{"temp": 20}'
ANSWER = "It is 20C in Paris."


def chat(arguments):
    """OpenAI's fine-tuning format: system, user, a turn that calls a tool (arguments as the
    API gives them: JSON text), the tool's reply, the final answer."""
    return [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": RESULT},
        {"role": "assistant", "content": ANSWER},
    ]


ROW = {"tools": TOOLS, "messages": chat('{"city": "Paris"}')}

# What each template writes for the call turn after its generation prompt, and its end of turn
CALLS = {
    "qwen2.5-instruct": (
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
        "<|im_end|>\n",
    ),
    "llama-3.1-instruct": (
        '{"name": "get_weather", "parameters": {"city": "Paris"}}',
        "<|eot_id|>",
    ),
}


def write(tmp_path, rows, name="data.jsonl"):
    p = tmp_path / name
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(p)


def trained(tmp_path, rows, template, train_on="all", columns=None):
    tok = real_template_tokenizer(template)
    exs = list(load_examples(write(tmp_path, rows), columns=columns))
    cols, st = tokenize_examples(exs, Renderer(tok, "r1", train_on=train_on), 8192)
    return tok, cols, st


def ids(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("template", list(CALLS))
def test_the_call_turn_and_the_answer_train_the_tools_and_the_result_do_not(tmp_path, template):
    tok, cols, st = trained(tmp_path, [ROW], template)
    [row], [mask] = cols["input_ids"], cols["completion_mask"]
    call, end = CALLS[template]
    # exactly the call as the template writes it, then the answer: each with its end of turn
    assert [row[a:b] for a, b in spans(mask)] == [ids(tok, call + end), ids(tok, ANSWER + end)]
    assert st.turns == 2 and st.sequences == 1
    # the whole row is the template's text of the chat with its tools (arguments as an object)
    msgs = chat({"city": "Paris"})
    msgs[2]["content"] = ""
    assert tok.decode(row) == tok.apply_chat_template(msgs, tools=TOOLS, tokenize=False)
    shown = tok.decode([t for t, m in zip(row, mask, strict=True) if not m])
    assert '"name": "get_weather"' in shown.split(call)[0]  # the tools block, untrained
    assert "Be brief." in shown and (
        RESULT in shown or json.dumps(RESULT) in shown
    )  # Llama quotes it
    assert not any("temp" in tok.decode(row[a:b]) for a, b in spans(mask))


@pytest.mark.parametrize("template", list(CALLS))
def test_a_tools_column_of_json_text_trains_as_its_list(tmp_path, template):
    # Arrow keeps a column of mixed schemas as JSON text (xLAM's, LLaMA-Factory's `tools`);
    # the arguments as an object (TRL's docs) or JSON text (OpenAI's API) render alike.
    _, want, _ = trained(tmp_path, [ROW], template)
    text = {"tools": json.dumps(TOOLS), "messages": chat({"city": "Paris"})}
    _, got, _ = trained(tmp_path, [text], template)
    assert got == want


def test_the_call_is_written_as_json_not_a_quoted_string(tmp_path):
    # Qwen2.5's and Llama-3.1's templates write `arguments | tojson`: handed the API's JSON text
    # as is, the student would learn '"arguments": "{\"city\": \"Paris\"}"', which no parser reads
    tok, cols, _ = trained(tmp_path, [ROW], "qwen2.5-instruct")
    text = tok.decode(cols["input_ids"][0])
    assert '"arguments": {"city": "Paris"}' in text and '\\"city\\"' not in text


def test_with_train_on_last_the_call_turn_is_context(tmp_path):
    tok, cols, st = trained(tmp_path, [ROW], "qwen2.5-instruct", train_on="last")
    [row], [mask] = cols["input_ids"], cols["completion_mask"]
    assert [row[a:b] for a, b in spans(mask)] == [ids(tok, ANSWER + "<|im_end|>\n")]
    assert CALLS["qwen2.5-instruct"][0] in tok.decode(row)


def test_a_reply_that_calls_a_tool_trains_the_call(tmp_path):
    # xLAM / APIGen-style rows whose last turn is the call (content null)
    row = {"tools": TOOLS, "messages": chat('{"city": "Paris"}')[:3]}
    tok, cols, _ = trained(tmp_path, [row], "llama-3.1-instruct")
    [row_ids], [mask] = cols["input_ids"], cols["completion_mask"]
    call, end = CALLS["llama-3.1-instruct"]
    assert [row_ids[a:b] for a, b in spans(mask)] == [ids(tok, call + end)]


def test_a_llama_factory_sharegpt_tool_row_trains_as_the_openai_one(tmp_path):
    # LLaMA-Factory's sharegpt: tools as JSON text, function_call / observation speakers
    row = {
        "conversations": [
            {"from": "human", "value": "Weather in Paris?"},
            {
                "from": "function_call",
                "value": '{"name": "get_weather", "arguments": {"city": "Paris"}}',
            },
            {"from": "observation", "value": RESULT},
            {"from": "gpt", "value": ANSWER},
        ],
        "system": "Be brief.",
        "tools": json.dumps(TOOLS),
    }
    _, got, _ = trained(tmp_path, [row], "qwen2.5-instruct")
    _, want, _ = trained(tmp_path, [ROW], "qwen2.5-instruct")
    assert got == want


@pytest.mark.parametrize("what", ["tools", "tool_calls"])
def test_a_template_that_renders_no_tools_is_refused_in_one_line(tmp_path, what):
    # SmolLM2's template (plain ChatML) writes neither tools nor calls: the student would learn
    # to call tools it was never shown, or to end its turn where the call belongs
    tok = real_template_tokenizer("smollm2")
    tok.name_or_path = "HuggingFaceTB/SmolLM2-135M-Instruct"
    row = ROW if what == "tools" else {"messages": ROW["messages"]}
    exs = list(load_examples(write(tmp_path, [row])))
    with pytest.raises(DistillError) as e:
        tokenize_examples(exs, Renderer(tok, "r1"), 8192)
    msg = str(e.value)
    assert "\n" not in msg and "data.jsonl row 1: " in msg
    assert "(HuggingFaceTB/SmolLM2-135M-Instruct) does not render" in msg
    assert ("column 'tools'" if what == "tools" else "assistant turn 3 calls a tool") in msg


def test_llamas_one_call_per_turn_is_refused_in_one_line(tmp_path):
    msgs = chat('{"city": "Paris"}')
    msgs[2]["tool_calls"] *= 2
    with pytest.raises(DistillError, match=r"row 1: .*only supports single tool-calls") as e:
        trained(tmp_path, [{"tools": TOOLS, "messages": msgs}], "llama-3.1-instruct")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    "row, match",
    [
        ({"tools": "You may call get_weather(city).", "messages": ROW["messages"]}, "is text"),
        ({"tools": [1, 2], "messages": ROW["messages"]}, "must list function specs"),
        (
            {
                "messages": [
                    *ROW["messages"][:2],
                    {"role": "assistant", "tool_calls": [{"id": "x"}]},
                ]
            },
            r"messages\[2\] \('tool_calls'\): a tool call needs the function's name",
        ),
        (
            {"messages": [{"role": "user", "content": "Q", "tool_calls": [{"name": "f"}]}]},
            r"messages\[0\] \(user\) carries 'tool_calls'",
        ),
    ],
)
def test_tools_and_calls_distill_cannot_read_are_refused_in_one_line(tmp_path, row, match):
    with pytest.raises(DistillError, match=match) as e:
        list(load_examples(write(tmp_path, [row])))
    assert "\n" not in str(e.value) and "row 1" in str(e.value)


def test_alpaca_format_refuses_a_tools_row(tmp_path):
    exs = list(load_examples(write(tmp_path, [ROW])))
    tok = real_template_tokenizer("qwen2.5-instruct")
    with pytest.raises(DistillError, match=r"row 1: --format alpaca .* this row has tools"):
        tokenize_examples(exs, Renderer(tok, "alpaca"), 8192)


def test_xlam_answers_mapped_as_text_train_under_the_tools_they_call(tmp_path):
    row = {
        "query": "Weather in Paris?",
        "answers": json.dumps([{"name": "get_weather", "arguments": {"city": "Paris"}}]),
        "tools": json.dumps(TOOLS),
    }
    cols = Columns(prompt_field="query", answer_field="answers")
    tok, out, _ = trained(tmp_path, [row], "qwen2.5-instruct", columns=cols)
    [row_ids], [mask] = out["input_ids"], out["completion_mask"]
    assert [row_ids[a:b] for a, b in spans(mask)] == [ids(tok, row["answers"] + "<|im_end|>\n")]
    assert "<tools>" in tok.decode(row_ids)


def test_export_keeps_the_tools_and_calls_trl_reads(tmp_path):
    # a `messages` export TRL's SFTTrainer renders as train does: the tools column (JSON text,
    # which TRL parses) and the calls beside the turn's content
    from distill.export import export
    from distill.train.config import ExportConfig

    out = tmp_path / "out.jsonl"
    export(ExportConfig(data=write(tmp_path, [ROW]), out=str(out), format="r1"))
    [got] = [json.loads(line) for line in out.read_text().splitlines()]
    assert json.loads(got["tools"]) == TOOLS
    assert got["messages"][2]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert got["messages"][3] == {"role": "tool", "content": RESULT, "tool_call_id": "call_1"}


def test_a_teacher_of_another_tokenizer_refuses_a_reply_that_calls_a_tool(tmp_path):
    from distill.train.kd.xtok import no_calls

    [ex] = load_examples(write(tmp_path, [{"tools": TOOLS, "messages": ROW["messages"][:3]}]))
    with pytest.raises(DistillError, match=r"row 1: its reply calls a tool"):
        no_calls(ex, ex.source["where"])
