"""glaiveai/glaive-function-calling-v2 trains as the tool-calling chat its authors wrote: its
`system` text lists the functions (JSON objects after "Use them if required -"), handed to the
chat template as `tools=`; its `chat` text is split on USER:/ASSISTANT:/FUNCTION RESPONSE:; a
`<functioncall> {"name": ..., "arguments": '<JSON>'}` is the assistant turn's tool call, its
single-quoted arguments parsed; FUNCTION RESPONSE is the tool's turn; <|endoftext|> (glaive's
generator's end of turn) is never trained. A row without functions is a plain chat. Before, every
row was refused ("convert it to a 'messages' chat first").

    .venv/bin/python -m pytest tests/test_glaive_s15.py -q

Rows copy the set's public shape (the card's format, the rows quoted by converters of it); the
template is Qwen2.5's real one (tests/fixtures/chat_templates) on a tiny tokenizer.
"""

from __future__ import annotations

import json

import pytest

from distill.errors import DistillError
from distill.examples import (
    Columns,
    Renderer,
    from_row,
    has_completion,
    load_examples,
    spans,
    tokenize_examples,
)
from tests.test_examples import real_template_tokenizer

NEWS = {
    "name": "get_news_headlines",
    "description": "Get the latest news headlines",
    "parameters": {
        "type": "object",
        "properties": {
            "country": {
                "type": "string",
                "description": "The country for which headlines are needed",
            }
        },
        "required": ["country"],
    },
}
PASSWORD = {
    "name": "generate_password",
    "description": "Generate a random password",
    "parameters": {
        "type": "object",
        "properties": {"length": {"type": "integer", "description": "The length of the password"}},
        "required": ["length"],
    },
}
WITH = "You are a helpful assistant with access to the following functions. Use them if required"
SYSTEM = (
    f"SYSTEM: {WITH} -\n" + json.dumps(NEWS, indent=4) + "\n\n" + json.dumps(PASSWORD, indent=4)
) + "\n\n"
HEADLINES = '{"headlines": ["Biden announces new vaccine mandates", "Apple unveils new iPhone"]}'
CHAT = (
    "USER: Can you tell me the latest news headlines for the United States?\n\n\n"
    'ASSISTANT: <functioncall> {"name": "get_news_headlines", "arguments": '
    '\'{"country": "United States"}\'} <|endoftext|>\n\n\n'
    f"FUNCTION RESPONSE: {HEADLINES}\n\n\n"
    "ASSISTANT: Here are the latest news headlines for the United States:\n"
    "1. Biden announces new vaccine mandates\n2. Apple unveils new iPhone <|endoftext|>\n\n\n"
    "USER: Thanks! That's all.\n\n\n"
    "ASSISTANT: You're welcome! <|endoftext|>\n\n\n"
)
ROW = {"system": SYSTEM, "chat": CHAT}
NO_FUNCTIONS = {
    "system": "SYSTEM: You are a helpful assistant, with no access to external functions.\n\n",
    "chat": "USER: Name a primary colour.\n\n\nASSISTANT: Red is a primary colour. <|endoftext|>\n\n\n"
    "USER: And another?\n\n\nASSISTANT: Blue. <|endoftext|>\n\n\n",
}
TOOLS = [{"type": "function", "function": NEWS}, {"type": "function", "function": PASSWORD}]
# the chat the row is, in OpenAI's shape: what the student is served and writes
MESSAGES = [
    {"role": "system", "content": WITH},
    {"role": "user", "content": "Can you tell me the latest news headlines for the United States?"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "type": "function",
                "function": {
                    "name": "get_news_headlines",
                    "arguments": {"country": "United States"},
                },
            }
        ],
    },
    {"role": "tool", "name": "get_news_headlines", "content": HEADLINES},
    {
        "role": "assistant",
        "content": "Here are the latest news headlines for the United States:\n"
        "1. Biden announces new vaccine mandates\n2. Apple unveils new iPhone",
    },
    {"role": "user", "content": "Thanks! That's all."},
    {"role": "assistant", "content": "You're welcome!"},
]
CALL = (
    '<tool_call>\n{"name": "get_news_headlines", "arguments": {"country": "United States"}}\n'
    "</tool_call><|im_end|>\n"
)


def write(tmp_path, rows):
    p = tmp_path / "glaive.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(p)


def trained(rows, tmp_path, template="qwen2.5-instruct"):
    """(tokenizer, [(token ids, [each trained span's text])]) of the rows as train reads a file."""
    tok = real_template_tokenizer(template)
    exs = list(load_examples(write(tmp_path, rows)))
    cols, st = tokenize_examples(exs, Renderer(tok, "r1"), 8192)
    assert st.kept == len(rows)
    out = []
    for ids, mask in zip(cols["input_ids"], cols["completion_mask"], strict=True):
        out.append((ids, [tok.decode(ids[a:b]) for a, b in spans(mask)]))
    return tok, out


def refusal(row) -> str:
    with pytest.raises(DistillError) as e:
        from_row(row, "glaive.jsonl row 1")
    assert "\n" not in str(e.value)
    return str(e.value)


def test_a_glaive_row_trains_its_call_its_answers_and_nothing_else(tmp_path):
    tok, [(ids, trained_spans)] = trained([ROW], tmp_path)
    # each assistant turn carries the loss: the call in Qwen's <tool_call> syntax (arguments an
    # object, as a tool parser reads them), then the two replies; <|endoftext|> never
    assert trained_spans == [
        CALL,
        MESSAGES[4]["content"] + "<|im_end|>\n",
        "You're welcome!<|im_end|>\n",
    ]
    # the whole row is the template's text of that chat under the two functions
    assert tok.decode(ids) == tok.apply_chat_template(MESSAGES, tools=TOOLS, tokenize=False)
    text = tok.decode(ids)
    for leak in (
        "<|endoftext|>",
        "<functioncall>",
        "USER:",
        "ASSISTANT:",
        "FUNCTION RESPONSE",
        "-\n{",
    ):
        assert leak not in text
    # the tools block shows both functions; the tool's result is context, never trained
    assert '"name": "generate_password"' in text and "<tools>" in text
    assert not any("Biden" in s and "<tool_response>" in s for s in trained_spans)


def test_a_row_without_functions_trains_as_a_plain_chat_under_its_system_sentence(tmp_path):
    tok, [(ids, trained_spans)] = trained([NO_FUNCTIONS], tmp_path)
    assert trained_spans == ["Red is a primary colour.<|im_end|>\n", "Blue.<|im_end|>\n"]
    assert tok.decode(ids).startswith(
        "<|im_start|>system\nYou are a helpful assistant, with no access to external functions."
        "<|im_end|>\n<|im_start|>user\nName a primary colour.<|im_end|>\n"
    )
    assert "<tools>" not in tok.decode(ids)


@pytest.mark.parametrize(
    "call, args",
    [
        # an apostrophe inside the single-quoted arguments (glaive does not escape it)
        (
            '{"name": "get_news_headlines", "arguments": \'{"country": "Côte d\'Ivoire"}\'}',
            {"country": "Côte d'Ivoire"},
        ),
        # arguments written as an object: read as they are
        (
            '{"name": "get_news_headlines", "arguments": {"country": "France"}}',
            {"country": "France"},
        ),
        # no arguments at all
        ('{"name": "get_news_headlines", "arguments": \'{}\'}', {}),
    ],
)
def test_each_way_glaive_writes_a_calls_arguments_is_read(call, args):
    chat = f"USER: News?\n\n\nASSISTANT: <functioncall> {call} <|endoftext|>\n\n\n"
    ex = from_row({"system": SYSTEM, "chat": chat}, "row 1")
    assert ex.completion == ""
    [got] = ex.calls
    assert got["function"]["name"] == "get_news_headlines"
    arguments = got["function"]["arguments"]
    assert (json.loads(arguments) if isinstance(arguments, str) else arguments) == args


def test_text_before_a_call_stays_the_turns_content(tmp_path):
    chat = (
        "USER: Headlines for France?\n\n\nASSISTANT: Let me check. <functioncall> "
        '{"name": "get_news_headlines", "arguments": \'{"country": "France"}\'} <|endoftext|>\n\n\n'
    )
    _, [(_, trained_spans)] = trained([{"system": SYSTEM, "chat": chat}], tmp_path)
    assert trained_spans == [
        'Let me check.\n<tool_call>\n{"name": "get_news_headlines", "arguments": {"country": '
        '"France"}}\n</tool_call><|im_end|>\n'
    ]


@pytest.mark.parametrize(
    "row, words",
    [
        (  # the call's text is no JSON and not glaive's quoting
            {
                "system": SYSTEM,
                "chat": "USER: News?\n\n\nASSISTANT: <functioncall> get_news_headlines(country="
                "'US') <|endoftext|>\n\n\n",
            },
            "turn 2 of column 'chat' (glaive's layout): its <functioncall> is no call",
        ),
        (  # arguments that are no JSON object
            {
                "system": SYSTEM,
                "chat": "USER: News?\n\n\nASSISTANT: <functioncall> "
                '{"name": "get_news_headlines", "arguments": \'country=US\'} <|endoftext|>\n\n\n',
            },
            "its <functioncall> is no call",
        ),
        (  # a function spec cut off
            {"system": f'SYSTEM: {WITH} -\n{{\n    "name": "get_news', "chat": CHAT},
            "column 'system' (glaive's layout) lists a function that is no JSON object",
        ),
        (  # a call, and no function listed
            {"system": NO_FUNCTIONS["system"], "chat": CHAT},
            "calls a function its 'system' text does not list",
        ),
        (
            {"system": SYSTEM, "chat": "Hello\nUSER: News?\n\n\nASSISTANT: None. <|endoftext|>"},
            "opens with text before its first USER: turn",
        ),
        (
            {"system": SYSTEM, "chat": "USER: News?\n\n\nASSISTANT: None <|endoftext|> yet."},
            "turn 2 of column 'chat' (glaive's layout) holds <|endoftext|> inside its text",
        ),
        (  # a chat that ends with the user's turn: no reply to train
            {"system": SYSTEM, "chat": CHAT + "USER: One more thing?\n\n\n"},
            "'chat' must end with an assistant message",
        ),
    ],
)
def test_a_row_the_parser_cannot_read_is_refused_in_one_line_naming_it(row, words):
    message = refusal(row)
    assert message.startswith("glaive.jsonl row 1")
    assert words in message


def test_a_glaive_set_has_completions_and_is_no_prompt_source():
    # kd / onpolicy read a set without completions as prompts
    assert has_completion(ROW) and has_completion(NO_FUNCTIONS)


def test_export_writes_the_chat_and_tools_that_train_alike(tmp_path):
    from distill.export import export
    from distill.train.config import ExportConfig

    out = tmp_path / "out.jsonl"
    export(ExportConfig(data=write(tmp_path, [ROW]), out=str(out), format="r1"))
    [got] = [json.loads(line) for line in out.read_text().splitlines()]
    assert json.loads(got["tools"]) == TOOLS
    _, [(want, _)] = trained([ROW], tmp_path)
    tok = real_template_tokenizer("qwen2.5-instruct")
    again = tmp_path / "again"
    again.mkdir()
    _, [(ids, _)] = trained([got], again)
    assert ids == want and CALL in tok.decode(ids)


def test_the_row_columns_are_not_read_under_a_mapping():
    # --messages-field chat names a text, not a chat: refused as before, in one line
    with pytest.raises(DistillError, match="'chat' must be a list of messages") as e:
        from_row(ROW, "row 1", Columns(messages_field="chat"))
    assert "\n" not in str(e.value)
