"""Tool-calling sets on a Mistral student, and glaive's arguments and function lists.

    .venv/bin/python -m pytest tests/test_datasets_tools_s16.py -q

- Mistral v0.3's chat template writes each call's id and refuses one that is not nine letters or
  digits ("Tool call IDs should be alphanumeric strings with length 9!"). xLAM's calls, LLaMA-
  Factory's function_call turns and glaive's <functioncall> have no id, OpenAI's are 'call_...':
  every such row was refused on a Mistral student. The Renderer now gives a call the template
  cannot render a deterministic nine-character id (a hash of the chat up to the call and its
  place), and each tool result the id of the call it answers (its tool_call_id, else the
  function's name, else in order); a result it cannot pair is refused in one line.
- glaive-function-calling-v2: arguments whose quotes are escaped inside glaive's single quotes
  ('{\\'a\\': 1}', '{"q": "it\\'s"}') were refused as no call; a function its system text lists
  twice was shown twice (a conflicting second definition trained calls to either).

Rows copy the public layouts (xLAM's card row, LLaMA-Factory's sharegpt tool format, glaive's
system/chat text, OpenAI's fine-tuning format); templates are the real ones of
tests/fixtures/chat_templates on a tiny tokenizer.
"""

from __future__ import annotations

import json
import re

import pytest

from distill.errors import DistillError
from distill.examples import Renderer, from_row, load_examples, spans, tokenize_examples
from tests.test_examples import real_template_tokenizer

# xLAM (Salesforce/xlam-function-calling-60k): the dataset card's example row
GIVEAWAYS = {
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
XLAM = {
    "id": 0,
    "query": "Where can I find live giveaways for beta access and games?",
    "answers": json.dumps(
        [
            {"name": "live_giveaways_by_type", "arguments": {"type": "beta"}},
            {"name": "live_giveaways_by_type", "arguments": {"type": "game"}},
        ]
    ),
    "tools": json.dumps([GIVEAWAYS]),
}
WEATHER = {
    "name": "get_weather",
    "description": "Get the weather of a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "The city"}},
        "required": ["city"],
    },
}
SEARCH = {
    "name": "search",
    "description": "Search the web",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
}
# LLaMA-Factory's sharegpt tool layout (data/glaive_toolcall_en_demo.json's shape)
LLAMA_FACTORY = {
    "conversations": [
        {"from": "human", "value": "Weather in Paris?"},
        {
            "from": "function_call",
            "value": '{"name": "get_weather", "arguments": {"city": "Paris"}}',
        },
        {"from": "observation", "value": '{"temp": 20}'},
        {"from": "gpt", "value": "It is 20C in Paris."},
    ],
    "system": "Be brief.",
    "tools": json.dumps([WEATHER]),
}
GLAIVE_LEAD = (
    "SYSTEM: You are a helpful assistant with access to the following functions. Use them if "
    "required -"
)


def glaive(args: str, specs=(WEATHER,)) -> dict:
    return {
        "system": GLAIVE_LEAD + "\n" + "\n\n".join(json.dumps(s, indent=4) for s in specs) + "\n\n",
        "chat": "USER: Weather in Paris?\n\n\n"
        f'ASSISTANT: <functioncall> {{"name": "get_weather", "arguments": \'{args}\'}} '
        "<|endoftext|>\n\n\n"
        'FUNCTION RESPONSE: {"temp": 20}\n\n\n'
        "ASSISTANT: It is 20C in Paris. <|endoftext|>\n\n\n",
    }


def write(tmp_path, rows, name="data.jsonl"):
    p = tmp_path / name
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(p)


def rendered(tmp_path, rows, template="mistral-v0.3", train_on="all"):
    """[(whole text, [trained spans])] of each sequence, as train reads the file."""
    tok = real_template_tokenizer(template)
    exs = list(load_examples(write(tmp_path, rows)))
    cols, st = tokenize_examples(exs, Renderer(tok, "r1", train_on=train_on), 8192)
    assert st.kept == len(rows)
    return [
        (tok.decode(ids), [tok.decode(ids[a:b]) for a, b in spans(mask)])
        for ids, mask in zip(cols["input_ids"], cols["completion_mask"], strict=True)
    ]


def ids_in(text: str) -> list[str]:
    return re.findall(r'"(?:id|call_id)": "([^"]*)"', text)


def refusal(tmp_path, rows, template="mistral-v0.3") -> str:
    with pytest.raises(DistillError) as e:
        rendered(tmp_path, rows, template)
    assert "\n" not in str(e.value) and "data.jsonl row 1: " in str(e.value)
    return str(e.value)


# ------------------------------------------------------------------ Mistral's call ids


def test_an_xlam_row_trains_its_parallel_calls_on_mistral_with_nine_character_ids(tmp_path):
    [(text, trained)] = rendered(tmp_path, [XLAM])
    [call] = trained
    assert call.startswith(
        '[TOOL_CALLS] [{"name": "live_giveaways_by_type", "arguments": {"type": "beta"}, "id": "'
    )
    first, second = ids_in(call)
    assert re.fullmatch(r"[A-Za-z0-9]{9}", first) and re.fullmatch(r"[A-Za-z0-9]{9}", second)
    assert first != second
    # deterministic: the same row gives the same ids in another run
    assert rendered(tmp_path, [XLAM]) == [(text, trained)]
    # a template that needs no id is given none: Qwen2.5's text is as before
    [(qwen, _)] = rendered(tmp_path, [XLAM], "qwen2.5-instruct")
    assert first not in qwen and '"id"' not in qwen


@pytest.mark.parametrize("row", ["llama-factory", "glaive"])
def test_a_call_and_its_result_share_one_generated_id_on_mistral(tmp_path, row):
    # LLaMA-Factory's observation and glaive's FUNCTION RESPONSE answer the call before them;
    # both rows have a system message, which Mistral v0.3 writes into the last user turn only
    data = LLAMA_FACTORY if row == "llama-factory" else glaive('{"city": "Paris"}')
    rows = rendered(tmp_path, [data])
    [(_, [call]), (answer_text, [answer])] = rows  # one row per turn: the history differs
    [id_] = ids_in(call)
    assert call.startswith(
        f'[TOOL_CALLS] [{{"name": "get_weather", "arguments": {{"city": "Paris"}}, "id": "{id_}"}}]'
    )
    assert f'[TOOL_RESULTS] {{"content": {{"temp": 20}}, "call_id": "{id_}"}}[/TOOL_RESULTS]' in (
        answer_text
    )
    assert answer.strip().startswith("It is 20C in Paris.")
    # the call turn is trained after the prompt the student is served: its system message in
    system = "Be brief." if row == "llama-factory" else "You are a helpful assistant"
    assert system in rows[0][0].split("[TOOL_CALLS]")[0]


def test_openai_ids_mistral_cannot_render_are_replaced_and_results_keep_their_call(tmp_path):
    # OpenAI's fine-tuning format: ids 'call_...', the results in another order than the calls
    msgs = [
        {"role": "user", "content": "Weather in Paris, and news about it?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_weather_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                },
                {
                    "id": "call_search_2",
                    "type": "function",
                    "function": {"name": "search", "arguments": '{"query": "Paris"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_search_2", "content": '"news"'},
        {"role": "tool", "tool_call_id": "call_weather_1", "content": '"sunny"'},
        {"role": "assistant", "content": "Sunny, and news."},
    ]
    tools = [{"type": "function", "function": WEATHER}, {"type": "function", "function": SEARCH}]
    [(text, [calls, _])] = rendered(tmp_path, [{"tools": tools, "messages": msgs}])
    weather, search = ids_in(calls)
    assert f'{{"content": "news", "call_id": "{search}"}}' in text
    assert f'{{"content": "sunny", "call_id": "{weather}"}}' in text
    # ids it renders are kept as they are
    msgs[1]["tool_calls"][0]["id"] = msgs[3]["tool_call_id"] = "abcdefgh1"
    [(text, _)] = rendered(tmp_path, [{"tools": tools, "messages": msgs}])
    assert '"id": "abcdefgh1"' in text and '{"content": "sunny", "call_id": "abcdefgh1"}' in text


def test_results_without_ids_are_paired_by_their_functions_name(tmp_path):
    msgs = [
        {"role": "user", "content": "Weather and news?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": {"city": "P"}},
                },
                {"type": "function", "function": {"name": "search", "arguments": {"query": "P"}}},
            ],
        },
        {"role": "tool", "name": "search", "content": '"news"'},
        {"role": "tool", "name": "get_weather", "content": '"sunny"'},
        {"role": "assistant", "content": "Sunny, and news."},
    ]
    [(text, [calls, _])] = rendered(tmp_path, [{"tools": [WEATHER, SEARCH], "messages": msgs}])
    weather, search = ids_in(calls)
    assert f'{{"content": "news", "call_id": "{search}"}}' in text
    assert f'{{"content": "sunny", "call_id": "{weather}"}}' in text


def test_results_that_cannot_be_paired_with_their_calls_are_refused_in_one_line(tmp_path):
    # LLaMA-Factory's parallel calls: one function_call turn of two calls, one observation
    row = json.loads(json.dumps(LLAMA_FACTORY))
    row["conversations"][1]["value"] = json.dumps(
        [
            {"name": "get_weather", "arguments": {"city": "Paris"}},
            {"name": "get_weather", "arguments": {"city": "Rome"}},
        ]
    )
    message = refusal(tmp_path, [row])
    assert "1 tool result(s) without a call id after message 3, which makes 2 call(s)" in message
    # a result that answers an id no call before it makes
    msgs = [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": {"city": "P"}},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_9", "content": '"sunny"'},
        {"role": "assistant", "content": "Sunny."},
    ]
    message = refusal(tmp_path, [{"tools": [WEATHER], "messages": msgs}])
    assert "answers call id 'call_9', which the turn before it (message 2) does not make" in message


# ------------------------------------------------------------------ glaive


@pytest.mark.parametrize(
    "args, want",
    [
        ("{\\'city\\': \\'Paris\\'}", {"city": "Paris"}),  # a Python dict, its quotes escaped
        ('{"city": "Val d\\\'Isere"}', {"city": "Val d'Isere"}),  # an escaped apostrophe
        ("{\\'city\\': \\'Paris\\', \\'metric\\': True}", {"city": "Paris", "metric": True}),
    ],
)
def test_glaive_arguments_with_escaped_quotes_are_read_as_meant(args, want):
    ex = from_row(glaive(args), "glaive.jsonl row 1")
    assert ex.prompt[2]["tool_calls"][0]["function"]["arguments"] == want


def test_glaive_arguments_of_no_json_kind_are_still_refused():
    # a tuple has no JSON: the template would write a call no tool parser reads
    with pytest.raises(DistillError, match=r"row 1: turn 2 of column 'chat'.*is no call"):
        from_row(glaive("{\\'city\\': (1, 2)}"), "glaive.jsonl row 1")


def test_a_function_listed_twice_is_shown_once_and_two_definitions_are_refused(tmp_path):
    [(text, _)] = rendered(
        tmp_path, [glaive('{"city": "Paris"}', (WEATHER, SEARCH, WEATHER))], "qwen2.5-instruct"
    )
    assert text.count('"name": "get_weather"') == 2  # the tools block, and the call
    assert text.count('"name": "search"') == 1
    other = {**WEATHER, "description": "Get the weather forecast"}
    with pytest.raises(DistillError) as e:
        from_row(glaive('{"city": "Paris"}', (WEATHER, other)), "glaive.jsonl row 7")
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith(
        "glaive.jsonl row 7: column 'system' (glaive's layout) defines function 'get_weather' "
        "twice, differently"
    )
