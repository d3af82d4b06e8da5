"""Last read of the s14 dataset/tool-calling/run-settings change (area A): what falls between
its commits.

    .venv/bin/python -m pytest tests/test_last_read_s14a.py -q
"""

from __future__ import annotations

import json

import pytest

from distill.errors import DistillError

CHAT = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What is 2 + 2?"},
]


def test_generate_and_eval_send_a_prompt_that_is_the_json_text_of_a_chat_as_the_chat(tmp_path):
    # 61bc2c5 reads a `prompt` kept as the JSON text of a chat as the chat (train, on-policy);
    # generate and eval sent its JSON text to the teacher as the user's words:
    # '[{"role": "system", ...}]', and distill run's on-policy student sampled the chat while the
    # teacher had been asked the JSON. b8a392a refused it; it is sent as the chat now
    # (tests/test_chat_prompts_s14.py)
    from distill.generate.stage import prompt_messages

    data = tmp_path / "p.jsonl"
    data.write_text(json.dumps({"prompt": json.dumps(CHAT), "answer": "4"}) + "\n")
    assert [m for _, m in prompt_messages(str(data))] == [CHAT]


def test_decontam_reads_a_json_text_chat_prompt_as_its_user_turns(tmp_path):
    from distill.data import load_rows

    data = tmp_path / "bench.jsonl"
    data.write_text(json.dumps({"prompt": json.dumps(CHAT)}) + "\n")
    rows = list(load_rows(str(data), skip_no_text=True))
    assert [r.prompt for r in rows] == ["What is 2 + 2?"]


def test_a_text_prompt_that_is_some_json_list_is_still_sent(tmp_path):
    from distill.generate.stage import prompt_messages

    data = tmp_path / "p.jsonl"
    data.write_text(json.dumps({"prompt": '["b", "a"]'}) + "\n")
    assert [m for _, m in prompt_messages(str(data))] == [
        [{"role": "user", "content": '["b", "a"]'}]
    ]


def test_a_tools_column_pandas_wrote_to_csv_is_refused_saying_it_is_no_json(tmp_path):
    # 701b1d0 names a chat column pandas' to_csv wrote (Python's repr) as such; the row's tools
    # column (ef44e7d), read first, was refused as 'text, not tool definitions' and told to map
    # it into the prompt with --system-field tools: the student would train on a Python repr
    import pandas as pd

    from distill.examples import load_examples
    from tests.test_tools_s14 import ROW

    data = tmp_path / "tools.csv"
    pd.DataFrame([{"tools": ROW["tools"], "messages": ROW["messages"]}]).to_csv(data, index=False)
    with pytest.raises(DistillError) as e:
        list(load_examples(str(data)))
    assert "'tools'" in str(e.value) and "json.dumps" in str(e.value)
    assert "--system-field" not in str(e.value)


def test_openai_legacy_function_calling_rows_train_with_their_function_result():
    # c2cc19f reads OpenAI's legacy `functions` and `function_call` as tools and a call; the
    # call's result in that format is a `function` message, which Qwen2.5's template leaves out
    # (refused) and Llama-3.1's wrote under a `function` header it is never served: the `tool`
    # message it stands for, as OpenAI's migration renames it
    from distill.examples import Renderer, from_row, spans, tokenize_examples
    from tests.test_examples import real_template_tokenizer
    from tests.test_tools_s14 import TOOLS

    row = {
        "functions": [TOOLS[0]["function"]],
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "function_call": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            },
            {"role": "function", "name": "get_weather", "content": "20C"},
            {"role": "assistant", "content": "It is 20C."},
        ],
    }
    for template, result in [
        ("qwen2.5-instruct", "<tool_response>\n20C\n</tool_response>"),
        ("llama-3.1-instruct", "<|start_header_id|>ipython<|end_header_id|>"),
    ]:
        tok = real_template_tokenizer(template)
        cols, _ = tokenize_examples([from_row(row, "row 1")], Renderer(tok, "r1"), 8192)
        ids, mask = cols["input_ids"][-1], cols["completion_mask"][-1]
        assert result in tok.decode(ids)
        assert "<|start_header_id|>function" not in tok.decode(ids)
        trained = [tok.decode(ids[a:b]) for a, b in spans(mask)]
        assert trained[-1].startswith("It is 20C.")
        assert not any("20C\n" in t or "ipython" in t for t in trained)


@pytest.mark.parametrize("arguments", ["{'city': 'Paris'}", "city=Paris", "[1, 2]"])
def test_a_calls_arguments_text_that_is_no_json_object_is_refused(arguments):
    # a list of arguments was refused, its JSON text ("[1, 2]") trained; a Python repr (a set
    # written with str(dict)) or other text trained as a quoted string under Qwen2.5's
    # `arguments | tojson` and as bare text under Qwen3's: a call no tool parser reads
    from distill.examples import from_row
    from tests.test_tools_s14 import ROW, chat

    with pytest.raises(DistillError, match="no JSON object") as e:
        from_row({**ROW, "messages": chat(arguments)}, "row 1")
    assert "'get_weather'" in str(e.value) and "\n" not in str(e.value)


def test_a_calls_arguments_as_json_text_or_empty_still_train():
    from distill.examples import from_row
    from tests.test_tools_s14 import ROW, chat

    for arguments, want in [('{"city": "Paris"}', '{"city": "Paris"}'), ("", "")]:
        ex = from_row({**ROW, "messages": chat(arguments)}, "row 1")
        assert ex.prompt[2]["tool_calls"][0]["function"]["arguments"] == (want or {})
