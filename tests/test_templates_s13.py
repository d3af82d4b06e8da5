"""What `distill train` (and export, kd, onpolicy: all read rows through distill.examples) trains
on chats real users have: reasoning in earlier turns, tool rows, empty and out-of-order turns,
rendered with the public chat templates of tests/fixtures/chat_templates.

.venv/bin/python -m pytest tests/test_templates_s13.py -q
"""

from __future__ import annotations

import json

import pytest

from distill.errors import DistillError
from distill.examples import Columns, Renderer, chat_prompt, load_examples, tokenize_examples
from tests.test_examples import real_template_tokenizer

TEMPLATES = [
    "qwen2.5-instruct",
    "deepseek-r1-distill-qwen",
    "llama-3.1-instruct",
    "qwen3",
    "qwen3-thinking-2507",
]


def write_rows(tmp_path, rows):
    p = tmp_path / "data.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(p)


def trained_spans(tok, ids, mask):
    spans, run = [], []
    for t, m in zip([*ids, None], [*mask, 0]):
        if m:
            run.append(t)
        elif run:
            spans.append(tok.decode(run))
            run = []
    return spans


def refused(tmp_path, row, match, columns=None):
    with pytest.raises(DistillError, match=match) as e:
        list(load_examples(write_rows(tmp_path, [row]), columns=columns))
    assert "\n" not in str(e.value) and "row 1" in str(e.value)
    return str(e.value)


# ---------------------------------------------------------------- reasoning in earlier turns

CHAT_WITH_REASONING = {
    "messages": [
        {"role": "user", "content": "What is 2 + 3?"},
        {"role": "assistant", "content": "5", "reasoning_content": "Two plus three is five."},
        {"role": "user", "content": "And times 4?"},
        {"role": "assistant", "content": "20", "reasoning_content": "Five times four is 20."},
    ]
}


@pytest.mark.parametrize("template", TEMPLATES)
def test_each_turn_trains_what_its_template_writes_when_the_model_answers_it(tmp_path, template):
    # For turn k, the tokens with loss must be what the template writes after its generation
    # prompt for the chat up to k (reasoning included), under the history it renders at that
    # point (R1-Distill and Qwen3 drop an earlier turn's reasoning; Qwen2.5 and Llama keep it).
    tok = real_template_tokenizer(template)
    msgs = CHAT_WITH_REASONING["messages"]
    exs = list(load_examples(write_rows(tmp_path, [CHAT_WITH_REASONING])))
    cols, st = tokenize_examples(exs, Renderer(tok, "r1"), 4096)
    assert st.turns == 2 and st.kept == 1
    rows = list(zip(cols["input_ids"], cols["completion_mask"]))
    for k, reasoning, answer in ((1, "Two plus three is five.", "5"), (3, "Five times four", "20")):
        history = [
            {"role": m["role"], "content": m["content"]}
            if m["role"] == "user"
            else {
                "role": "assistant",
                "content": f"<think>\n{m['reasoning_content']}\n</think>\n\n{m['content']}",
            }
            for m in msgs[: k + 1]
        ]
        asked = tok.apply_chat_template(history[:k], tokenize=False, add_generation_prompt=True)
        # the one row whose prompt is this turn's generation prompt trains the turn
        row = [
            (ids, mask)
            for ids, mask in rows
            if tok.decode(ids).startswith(asked) and reasoning in tok.decode(ids)[len(asked) :]
        ]
        assert row, (template, k)
        ids, mask = row[0]
        spans = trained_spans(tok, ids, mask)
        turn = next(s for s in spans if reasoning in s)
        assert answer in turn.split("</think>")[-1]
        # nothing of the history is trained where the template would not show it: an earlier
        # turn's reasoning is in a trained span only where it is in the rendered history
        if k == 3 and "Two plus three" not in asked:
            assert not any("Two plus three" in s for s in spans)


# ---------------------------------------------------------------- tools

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the weather of a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'


@pytest.mark.parametrize("as_json", [False, True], ids=["list", "json-string"])
def test_a_tools_column_is_rendered_into_the_system_prompt_not_dropped(tmp_path, as_json):
    # Qwen2.5's template writes the tool definitions into the system prompt when handed them;
    # distill rendered the default system prompt instead and trained the call to get_weather,
    # a tool the student was never shown (then refused the row). Now handed to the template
    # (`tools=`), as TRL's SFTTrainer does: shown, never trained.
    tok = real_template_tokenizer("qwen2.5-instruct")
    row = {
        "tools": json.dumps(TOOLS) if as_json else TOOLS,
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": CALL},
            {"role": "tool", "content": '{"temp": 20}'},
            {"role": "assistant", "content": "It is 20C in Paris."},
        ],
    }
    exs = list(load_examples(write_rows(tmp_path, [row])))
    cols, _ = tokenize_examples(exs, Renderer(tok, "r1"), 4096)
    [ids], [mask] = cols["input_ids"], cols["completion_mask"]
    assert trained_spans(tok, ids, mask) == [
        CALL + "<|im_end|>\n",
        "It is 20C in Paris.<|im_end|>\n",
    ]
    assert '<tools>\n{"type": "function", "function": {"name": "get_weather"' in tok.decode(ids)


def test_xlam_rows_mapped_by_columns_keep_their_tools_or_are_refused(tmp_path):
    # Salesforce/xlam-function-calling-60k: query, answers (the calls), tools (a JSON string).
    # Refused while distill rendered no tools; now shown by the template, the answers trained as
    # the text the column holds. Where the student's template renders no tools, still refused.
    row = {
        "id": 1,
        "query": "Weather in Paris?",
        "answers": json.dumps([{"name": "get_weather", "arguments": {"city": "Paris"}}]),
        "tools": json.dumps(TOOLS),
    }
    cols = Columns(prompt_field="query", answer_field="answers")
    exs = list(load_examples(write_rows(tmp_path, [row]), columns=cols))
    tok = real_template_tokenizer("qwen2.5-instruct")
    out, _ = tokenize_examples(exs, Renderer(tok, "r1"), 4096)
    [ids], [mask] = out["input_ids"], out["completion_mask"]
    assert trained_spans(tok, ids, mask) == [row["answers"] + "<|im_end|>\n"]
    assert "<tools>" in tok.decode(ids)
    with pytest.raises(DistillError, match=r"row 1: column 'tools' .* does not render") as e:
        tokenize_examples(exs, Renderer(real_template_tokenizer("smollm2"), "r1"), 4096)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("none", [None, [], "", "[]"])
def test_rows_of_a_tools_set_without_tools_train(tmp_path, none):
    row = {
        "tools": none,
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
        ],
    }
    [ex] = load_examples(write_rows(tmp_path, [row]))
    assert ex.completion == "Hello!"


def test_onpolicy_prompts_with_tools_are_refused_too():
    row = {"tools": TOOLS, "messages": [{"role": "user", "content": "Weather in Paris?"}]}
    with pytest.raises(DistillError, match="prompts.jsonl row 3: column 'tools'"):
        chat_prompt(row, "prompts.jsonl row 3")


def test_tool_results_carry_no_loss_and_text_calls_do(tmp_path):
    # Hermes-style rows (calls written in the assistant's text, a tool turn's result) on
    # Qwen2.5's template: the result is rendered as the template's tool turn, never trained.
    tok = real_template_tokenizer("qwen2.5-instruct")
    row = {
        "messages": [
            {"role": "system", "content": "You may call get_weather(city)."},
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": CALL},
            {"role": "tool", "content": '{"temp": 20}'},
            {"role": "assistant", "content": "It is 20C in Paris."},
        ]
    }
    cols, _ = tokenize_examples(
        list(load_examples(write_rows(tmp_path, [row]))), Renderer(tok, "r1"), 4096
    )
    [ids], [mask] = cols["input_ids"], cols["completion_mask"]
    spans = trained_spans(tok, ids, mask)
    assert spans == [CALL + "<|im_end|>\n", "It is 20C in Paris.<|im_end|>\n"]
    assert "<tool_response>\n" + '{"temp": 20}' in tok.decode(ids)


# ---------------------------------------------------------------- empty and out-of-order turns


@pytest.mark.parametrize(
    "row",
    [
        {  # Qwen3's non-thinking format with nothing after it
            "messages": [
                {"role": "user", "content": "Q"},
                {"role": "assistant", "content": "<think>\n\n</think>\n\n"},
            ]
        },
        {  # an API reply with an empty reasoning_content and no content
            "messages": [
                {"role": "user", "content": "Q"},
                {"role": "assistant", "content": "<think></think>", "reasoning_content": ""},
            ]
        },
        {  # a trace record whose teacher said nothing
            "messages": [{"role": "user", "content": "Q"}],
            "reasoning": "",
            "answer": "",
            "teacher": {"model": "m"},
        },
    ],
    ids=["qwen3-empty-block", "api-empty", "trace"],
)
def test_an_empty_think_block_with_no_answer_is_an_empty_reply(tmp_path, row):
    # trained as '<think>\n\n</think>\n\n' + end of turn: the student learned to answer with
    # nothing, which a reply of "" or whitespace is refused for
    refused(tmp_path, row, "its reply is empty")


def test_an_empty_earlier_turn_behind_its_empty_block_is_named(tmp_path):
    row = {
        "messages": [
            {"role": "user", "content": "Q1"},
            {"role": "assistant", "content": "<think>\n\n</think>\n\n"},
            {"role": "user", "content": "Q2"},
            {"role": "assistant", "content": "A2"},
        ]
    }
    refused(tmp_path, row, "assistant turn 1 of 2 is empty")


def test_reasoning_with_an_empty_block_answer_still_trains(tmp_path):
    row = {
        "messages": [
            {"role": "user", "content": "Q"},
            {"role": "assistant", "content": "<think>\n\n</think>\n\nA"},
        ]
    }
    [ex] = load_examples(write_rows(tmp_path, [row]))
    assert ex.completion.endswith("A")


@pytest.mark.parametrize("column", ["messages", "conversations"])
def test_two_assistant_turns_in_a_row_are_refused(tmp_path, column):
    # Qwen2.5's template renders them, and the second was trained as a reply to the first: a
    # turn the student is never asked to write (no generation prompt follows its own turn).
    if column == "messages":
        turns = [
            {"role": "user", "content": "Q"},
            {"role": "assistant", "content": "First part."},
            {"role": "assistant", "content": "Second part."},
        ]
    else:
        turns = [
            {"from": "human", "value": "Q"},
            {"from": "gpt", "value": "First part."},
            {"from": "gpt", "value": "Second part."},
        ]
    msg = refused(tmp_path, {column: turns}, "two assistant turns in a row")
    assert f"{column}[1] and {column}[2]" in msg


def test_a_chat_ending_with_a_user_turn_is_refused(tmp_path):
    row = {
        "messages": [
            {"role": "user", "content": "Q"},
            {"role": "assistant", "content": "A"},
            {"role": "user", "content": "Q2"},
        ]
    }
    refused(tmp_path, row, "must end with an assistant message")
