"""xLAM-style function-calling sets (Salesforce/xlam-function-calling-60k, APIGen, the sets
converted to it) train as their authors meant: a row of `query`, `tools` and `answers` is a user
turn answered by one assistant turn that makes the calls, written in the student's template's own
syntax (Qwen2.5's <tool_call>...</tool_call>), which a tool parser reads. Before, the row was
refused ("need ... layouts"), and the mapping the README gave (--prompt-field query --answer-field
answers) trained the JSON list as text: no parser reads what the student writes. That mapping
still trains the text, for who asks for it. A bare function spec ({name, description,
parameters}: xLAM's, LLaMA-Factory's) is shown as the wrapped one the student is served with.

    .venv/bin/python -m pytest tests/test_xlam_s14.py -q

Templates: the real checkpoints' strings of tests/fixtures/chat_templates on a tiny tokenizer.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from distill.errors import DistillError
from distill.examples import Columns, Renderer, load_examples, spans, tokenize_examples
from tests.test_examples import real_template_tokenizer

# The example row of the dataset card (its id here is ours): two parallel calls, `answers` and
# `tools` as JSON text, the parameters in xLAM's own shape (not a JSON schema: kept as given)
SPEC = {
    "name": "live_giveaways_by_type",
    "description": "Retrieve live giveaways from the GamerPower API based on the specified type.",
    "parameters": {
        "type": {
            "description": "The type of giveaways to retrieve (e.g., game, loot, beta).",
            "type": "str",
            "default": "game",
        }
    },
}
QUERY = "Where can I find live giveaways for beta access and games?"
ANSWERS = [
    {"name": "live_giveaways_by_type", "arguments": {"type": "beta"}},
    {"name": "live_giveaways_by_type", "arguments": {"type": "game"}},
]
ROW = {"id": 0, "query": QUERY, "answers": json.dumps(ANSWERS), "tools": json.dumps([SPEC])}
WRAPPED = [{"type": "function", "function": SPEC}]


def qwen_call(args):
    return (
        '<tool_call>\n{"name": "live_giveaways_by_type", "arguments": '
        + json.dumps(args)
        + "}\n</tool_call>"
    )


def write(tmp_path, rows, name="data.jsonl"):
    p = tmp_path / name
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(p)


def trained(tmp_path, rows, template="qwen2.5-instruct", columns=None):
    tok = real_template_tokenizer(template)
    exs = list(load_examples(write(tmp_path, rows), columns=columns))
    cols, st = tokenize_examples(exs, Renderer(tok, "r1"), 8192)
    [row], [mask] = cols["input_ids"], cols["completion_mask"]
    return tok, row, mask, st


def ids(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


def test_an_xlam_row_trains_its_parallel_calls_in_qwens_tool_call_syntax(tmp_path):
    tok, row, mask, st = trained(tmp_path, [ROW])
    # exactly the two calls, in order, in one turn, and its end of turn: nothing else
    want = qwen_call({"type": "beta"}) + "\n" + qwen_call({"type": "game"}) + "<|im_end|>\n"
    assert [row[a:b] for a, b in spans(mask)] == [ids(tok, want)]
    assert st.examples == 1 and st.turns == 1
    # the whole row is the template's text of the user's query, the calls and the tools
    msgs = [
        {"role": "user", "content": QUERY},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"type": "function", "function": a} for a in ANSWERS],
        },
    ]
    assert tok.decode(row) == tok.apply_chat_template(msgs, tools=WRAPPED, tokenize=False)
    # the query and the tools block are context
    shown = tok.decode([t for t, m in zip(row, mask, strict=True) if not m])
    assert QUERY in shown and "<tools>" in shown and "GamerPower" in shown
    assert not any(QUERY in tok.decode(row[a:b]) for a, b in spans(mask))


def test_one_call_trains_on_llama_and_parallel_calls_are_refused_in_one_line(tmp_path):
    one = {**ROW, "answers": json.dumps(ANSWERS[:1])}
    tok, row, mask, _ = trained(tmp_path, [one], "llama-3.1-instruct")
    call = '{"name": "live_giveaways_by_type", "parameters": {"type": "beta"}}<|eot_id|>'
    assert [row[a:b] for a, b in spans(mask)] == [ids(tok, call)]
    with pytest.raises(DistillError, match=r"row 1: .*only supports single tool-calls") as e:
        trained(tmp_path, [ROW], "llama-3.1-instruct")
    assert "\n" not in str(e.value)


def test_answers_read_from_parquet_or_the_hub_as_objects_train_alike(tmp_path):
    # a clone that stores `answers` as a list of structs: each call's arguments hold every key
    # any row's has, None where its own has none (left out, as TRL's remove_none_values)
    arrow = [
        {"name": a["name"], "arguments": {**a["arguments"], "platform": None}} for a in ANSWERS
    ]
    _, want, _, _ = trained(tmp_path, [ROW])
    _, got, _, _ = trained(tmp_path, [{**ROW, "answers": arrow, "tools": [SPEC]}])
    assert got == want


@pytest.mark.parametrize(
    "answers, match",
    [
        (
            "get_id(q='Pulp Fiction')",
            r"column 'answers' \(xLAM layout: a JSON list of tool calls\)",
        ),
        ('"get_id"', r"column 'answers' \(xLAM layout\) must be a list of tool calls"),
        (json.dumps(ANSWERS[0]), r"column 'answers' \(xLAM layout\) must be a list of tool calls"),
        ("[1, 2]", r"column 'answers' \(xLAM layout\) must be a list of tool calls"),
        ("[]", r"column 'answers' \(xLAM layout\) is an empty list"),
        ('[{"arguments": {"q": "x"}}]', r"column 'answers': a tool call needs the function's name"),
        (
            '[{"name": "get_id", "arguments": 3}]',
            r"column 'answers': tool call 'get_id' has arguments of type int",
        ),
    ],
)
def test_answers_that_are_no_list_of_calls_are_refused_in_one_line(tmp_path, answers, match):
    with pytest.raises(DistillError, match=r"data\.jsonl row 2: " + match) as e:
        list(load_examples(write(tmp_path, [ROW, {**ROW, "answers": answers}])))
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("tools", ["[]", None])
def test_calls_to_tools_the_row_does_not_list_are_refused_in_one_line(tmp_path, tools):
    with pytest.raises(DistillError, match=r"row 1: column 'tools' \(xLAM layout\) lists no tools"):
        list(load_examples(write(tmp_path, [{**ROW, "tools": tools}])))


def test_the_mapping_flags_still_train_the_answers_as_text_when_asked(tmp_path):
    # --prompt-field query --answer-field answers: the JSON list as the text the student writes
    # (a student you prompt for that format yourself), under the tools
    cols = Columns(prompt_field="query", answer_field="answers")
    tok, row, mask, _ = trained(tmp_path, [ROW], columns=cols)
    assert [row[a:b] for a, b in spans(mask)] == [ids(tok, ROW["answers"] + "<|im_end|>\n")]
    assert "<tools>" in tok.decode(row) and qwen_call({"type": "beta"}) not in tok.decode(row)


def test_an_xlam_set_is_not_taken_for_a_prompt_source(tmp_path):
    # kd and onpolicy read a set without completions as prompts (and refuse a tools column):
    # an xLAM set carries its completions
    from distill.train.kd.data import prompt_source

    cfg = SimpleNamespace(
        data=write(tmp_path, [ROW]),
        split="train",
        template=None,
        prompt_field=None,
        answer_field=None,
        messages_field=None,
        system_prompt=None,
    )
    assert prompt_source(cfg) is False


@pytest.mark.parametrize("template", ["qwen2.5-instruct", "llama-3.1-instruct"])
def test_a_bare_function_spec_is_shown_as_the_wrapped_one_it_is_served_with(tmp_path, template):
    # Qwen2.5's and Llama-3.1's templates write each tool `| tojson` as given; an OpenAI-
    # compatible server hands them {"type": "function", "function": spec}: a bare spec trained as
    # given shows the student a tools block it never sees when served
    msgs = [
        {"role": "user", "content": QUERY},
        {"role": "assistant", "tool_calls": [{"type": "function", "function": ANSWERS[0]}]},
    ]
    _, bare, _, _ = trained(tmp_path, [{"tools": [SPEC], "messages": msgs}], template)
    tok, wrapped, _, _ = trained(tmp_path, [{"tools": WRAPPED, "messages": msgs}], template)
    assert bare == wrapped
    assert '"type": "function"' in tok.decode(bare)


def test_export_writes_an_xlam_row_as_the_chat_trl_trains_alike(tmp_path):
    from distill.export import export
    from distill.train.config import ExportConfig

    out = tmp_path / "out.jsonl"
    export(ExportConfig(data=write(tmp_path, [ROW]), out=str(out), format="r1"))
    [got] = [json.loads(line) for line in out.read_text().splitlines()]
    assert json.loads(got["tools"]) == WRAPPED
    assert got["messages"][0] == {"role": "user", "content": QUERY}
    calls = got["messages"][1]["tool_calls"]
    assert [c["function"] for c in calls] == ANSWERS
    _, want, _, _ = trained(tmp_path, [ROW])
    tok = real_template_tokenizer("qwen2.5-instruct")
    [ex] = load_examples(str(out))
    cols, _ = tokenize_examples([ex], Renderer(tok, "r1"), 8192)
    assert cols["input_ids"][0] == want
