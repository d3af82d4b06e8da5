"""Second read of ef44e7d (tool-calling rows in train and export): what a user of TRL with an
OpenAI-format, LLaMA-Factory or Mistral tool set saw.

    .venv/bin/python -m pytest tests/test_tools_s14b.py -q

Templates: the real checkpoints' strings of tests/fixtures/chat_templates on a tiny tokenizer.
"""

from __future__ import annotations

import json

import pytest

from distill.errors import DistillError
from distill.examples import Renderer, load_examples, spans, tokenize_examples
from tests.test_examples import real_template_tokenizer


def spec(name, props):
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": f"{name} tool",
            "parameters": {"type": "object", "properties": {p: {"type": "string"} for p in props}},
        },
    }


def call(name, args, id=None):
    one = {"type": "function", "function": {"name": name, "arguments": args}}
    return {**one, "id": id} if id else one


def chat(name, args, id=None):
    return [
        {"role": "user", "content": f"Use {name}."},
        {"role": "assistant", "content": None, "tool_calls": [call(name, args, id)]},
        {"role": "tool", "tool_call_id": id, "content": "done"}
        if id
        else {"role": "tool", "content": "done"},
        {"role": "assistant", "content": "Done."},
    ]


WEATHER = {"tools": [spec("get_weather", ["city"])], "messages": chat("get_weather", {"city": "P"})}
SEARCH = {"tools": [spec("search", ["query"])], "messages": chat("search", {"query": "x"})}


def write(tmp_path, rows, name="data.jsonl"):
    p = tmp_path / name
    if name.endswith(".parquet"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), p)
    else:
        p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(p)


def tokenized(path, template="qwen2.5-instruct"):
    tok = real_template_tokenizer(template)
    cols, _ = tokenize_examples(list(load_examples(path)), Renderer(tok, "r1"), 8192)
    return tok, cols


def trained(tok, cols):
    return [
        [tok.decode(ids[a:b]) for a, b in spans(mask)]
        for ids, mask in zip(cols["input_ids"], cols["completion_mask"], strict=True)
    ]


@pytest.mark.parametrize("template", ["qwen2.5-instruct", "llama-3.1-instruct"])
def test_a_parquet_of_several_tools_trains_each_row_as_its_jsonl(tmp_path, template):
    # Arrow stores the tools and the arguments as one struct type: each row's spec held every
    # other row's parameter as null, and its call was trained as get_weather(city=P, query=null)
    rows = [WEATHER, SEARCH, {"tools": None, "messages": chat("get_weather", {"city": "Q"})[:1]}]
    rows[2]["messages"].append({"role": "assistant", "content": "Hi."})
    tok, want = tokenized(write(tmp_path, rows), template)
    _, got = tokenized(write(tmp_path, rows, "data.parquet"), template)
    assert got == want
    assert "null" not in "".join(tok.decode(ids) for ids in got["input_ids"])


def test_a_trl_prompt_completion_row_whose_completion_calls_a_tool_trains_the_call(tmp_path):
    # TRL's conversational prompt/completion (and what export writes for a chat with context
    # turns): the completion's calls were dropped; a call alone was refused as an empty reply,
    # a call after some text trained the text and the end of turn where the call belongs
    call_ = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "P"}}\n</tool_call>'
    for content, want in [(None, call_), ("Let me check.", "Let me check.\n" + call_)]:
        reply = {
            "role": "assistant",
            "content": content,
            "tool_calls": [call("get_weather", '{"city": "P"}')],
        }
        row = {"tools": WEATHER["tools"], "prompt": WEATHER["messages"][:1], "completion": [reply]}
        tok, cols = tokenized(write(tmp_path, [row]))
        assert trained(tok, cols) == [[want + "<|im_end|>\n"]]


@pytest.mark.parametrize("suffix", ["jsonl", "parquet"])
def test_export_of_a_tool_chat_with_a_context_turn_trains_what_the_source_trains(tmp_path, suffix):
    from distill.export import export
    from distill.train.config import ExportConfig

    msgs = chat("get_weather", '{"city": "P"}', "c1") + [
        {"role": "user", "content": "And Q?"},
        {"role": "assistant", "content": None, "tool_calls": [call("get_weather", {"city": "Q"})]},
    ]
    msgs[1]["weight"] = 0  # OpenAI's format: the first call is context
    src = write(tmp_path, [{"tools": WEATHER["tools"], "messages": msgs}])
    out = tmp_path / f"out.{suffix}"
    export(ExportConfig(data=src, out=str(out), format="r1"))
    tok, want = tokenized(src)
    _, got = tokenized(str(out))
    # export writes a prompt/completion row per trained turn: the same turns, trained alike
    assert (
        sum(trained(tok, got), [])
        == sum(trained(tok, want), [])
        == [
            "Done.<|im_end|>\n",
            '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Q"}}\n</tool_call><|im_end|>\n',
        ]
    )


def test_export_writes_the_arguments_as_objects_trl_renders_and_parquet_stores(tmp_path):
    # the API's JSON text in one call, an object in another: Parquet's export stopped with a
    # traceback (ArrowInvalid: cannot mix struct and non-struct), and TRL hands text arguments
    # to Qwen2.5's `arguments | tojson` as a quoted string
    from distill.export import export
    from distill.train.config import ExportConfig

    rows = [WEATHER, {**SEARCH, "messages": chat("search", '{"query": "x"}')}]
    src = write(tmp_path, rows)
    for suffix in ("jsonl", "parquet"):
        out = tmp_path / f"out.{suffix}"
        export(ExportConfig(data=src, out=str(out), format="r1"))
        tok, want = tokenized(src)
        _, got = tokenized(str(out))
        assert got == want
    exported = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert exported[1]["messages"][1]["tool_calls"][0]["function"]["arguments"] == {"query": "x"}


def test_a_mistral_tool_row_trains_its_calls_not_a_traceback(tmp_path):
    # Mistral v0.3's template refuses a tool result after an assistant turn without calls: the
    # check that the template renders the calls (a render without them) raised TemplateError
    # for every turn after a call's result and its answer
    msgs = chat("get_weather", {"city": "P"}, "abcdefgh1")
    msgs += [{"role": "user", "content": "Thanks."}, {"role": "assistant", "content": "Welcome."}]
    tok, cols = tokenized(
        write(tmp_path, [{"tools": WEATHER["tools"], "messages": msgs}]), "mistral-v0.3"
    )
    turns = sum(trained(tok, cols), [])
    assert turns[0].startswith(
        '[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "P"}, "id": "abcdefgh1"}]'
    )
    assert [t.strip() for t in turns[1:]] == ["Done.<|im_end|>", "Welcome.<|im_end|>"]


def test_openai_legacy_functions_are_shown_with_their_function_call(tmp_path):
    # OpenAI's legacy fine-tuning rows: `functions` beside the assistant's `function_call`. The
    # call was trained, the functions column left out: a call to a function never shown.
    row = {
        "functions": [spec("get_weather", ["city"])["function"]],
        "messages": [
            {"role": "user", "content": "Weather in P?"},
            {
                "role": "assistant",
                "function_call": {"name": "get_weather", "arguments": '{"city": "P"}'},
            },
        ],
    }
    path = write(tmp_path, [row])
    tok, cols = tokenized(path)
    assert '<tools>\n{"type": "function", "function": {"name": "get_weather"' in tok.decode(
        cols["input_ids"][0]
    )
    with pytest.raises(DistillError, match=r"row 1: column 'functions' lists tool definitions"):
        tokenized(path, "smollm2")
