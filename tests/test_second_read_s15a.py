"""Second read of d07c8f7 (multiple-choice sets), 38e8a9a (glaive's function calling, prompts that
ask nothing) and fb91f70: what they missed.

    .venv/bin/python -m pytest tests/test_second_read_s15a.py -q

- A set whose `question` + `choices`/`options` + `answer` columns are no multiple choice (a chat
  log's `choices` of replies, MathVista's free-form first row with `choices` null; MedQA's {"A":
  ...} options were here, multiple choice since s16) was refused on every row ("holds no list of
  options; fix or drop the row"), with no flag to read it as before (--prompt-field question
  keeps the layout): it reads as a prompt field again; a set whose first row reads as multiple
  choice is one, as before.
- A chat prompt (TRL's conversational `prompt`) whose last user turn is '-' or empty was sent to
  the teacher and paid for, while train refuses the traces it makes: refused before anything is
  sent, as a text prompt is.
- glaive rows trained what their authors never meant: a call to a function the system text does
  not list (glaive's row 3871 calls create_to_do_list, listed as create_to-do_list), a FUNCTION
  RESPONSE answering no call (the call written as text in another syntax, trained as the reply),
  Infinity in the arguments (Python's json reads it; the template writes it back, no JSON), and
  the generator's label repeated inside the turn ("... ASSISTANT: <functioncall>").
"""

from __future__ import annotations

import json

import pytest

from distill.data import load_rows
from distill.errors import DistillError
from distill.examples import from_row
from tests.inproc import distill


def _write(tmp_path, *rows, name="set.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def teacher():
    from tests.fakeserver import FakeServer

    s = FakeServer().start()
    yield s
    s.stop()


# ---------------------------------------------------------------- columns named like options

NOT_CHOICES = {
    # an API log kept beside its question: `choices` are the replies
    "chat-log": {
        "question": "What is 2 + 2?",
        "answer": "4",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "4"}}],
    },
    # (MedQA's {"A": ...} options are multiple choice now: tests/test_choices_medqa_s16.py)
    # MathVista's first row: a free-form question, `choices` null (a row of options later is
    # multiple choice: tests/test_choices_mixed_s16.py)
    "free-form": {
        "pid": "1",
        "question": "What is the length of the spring in cm?",
        "choices": None,
        "answer": "1.2",
        "question_type": "free_form",
    },
    # options as one text (math_qa's)
    "options-text": {
        "question": "A train runs 60 km in 1.5 hours. Its speed?",
        "options": "a ) 30 , b ) 40 , c ) 50",
        "answer": "b",
    },
}


@pytest.mark.parametrize("name", list(NOT_CHOICES))
def test_columns_named_like_options_that_hold_something_else_read_as_before(
    name, teacher, tmp_path
):
    row = NOT_CHOICES[name]
    data = _write(tmp_path, row, {**row, "question": "And the next one?"})
    rows = list(load_rows(str(data)))
    assert [(r.prompt, r.gold) for r in rows] == [
        (row["question"], row["answer"]),
        ("And the next one?", row["answer"]),
    ]
    # generate asks it (a refused set stopped here, with no flag to read it otherwise)
    res = distill("generate", "--data", data, "--teacher", "openai", "--model",
                  teacher.model, "--base-url", teacher.url, "--out", tmp_path / "t.jsonl")  # fmt: skip
    assert res.returncode == 0, res.stderr
    asked = [e["messages"][-1]["content"] for e in teacher.log]
    assert sorted(asked) == sorted([row["question"], "And the next one?"])


def test_a_multiple_choice_set_is_still_read_as_one(tmp_path):
    mmlu = {"question": "Which is prime?", "choices": ["4", "6", "7", "9"], "answer": 2}
    (r,) = load_rows(str(_write(tmp_path, mmlu)))
    assert r.prompt.endswith("Which is prime?\n\nA) 4\nB) 6\nC) 7\nD) 9") and r.gold == "C"
    # a later row that cannot be read is refused by its line, as d07c8f7 does
    data = _write(tmp_path, mmlu, {**mmlu, "choices": "4, 6, 7 or 9"})  # (null: free-form)
    with pytest.raises(DistillError, match=r"set\.jsonl:2: field 'choices' holds no list"):
        list(load_rows(str(data)))


# ---------------------------------------------------------------- a chat prompt asking nothing


@pytest.mark.parametrize(
    "chat, says",
    [
        ([{"role": "user", "content": "-"}], "last user turn is '-', a stand-in"),
        (
            [{"role": "system", "content": "Solve it."}, {"role": "user", "content": "  "}],
            "last user turn is empty",
        ),
        ([{"from": "human", "value": ""}], "last user turn is empty"),  # ShareGPT's
    ],
)
def test_a_chat_prompt_asking_nothing_is_refused_before_anything_is_sent(
    chat, says, teacher, tmp_path
):
    ok = {"prompt": [{"role": "user", "content": "What is 2 + 3?"}]}
    data = _write(tmp_path, ok, {"prompt": chat, "dataset": "taco", "split": "train", "index": 7})
    out = tmp_path / "traces.jsonl"
    res = distill("generate", "--data", data, "--teacher", "openai", "--model",
                  teacher.model, "--base-url", teacher.url, "--out", out)  # fmt: skip
    assert res.returncode == 1 and "Traceback" not in res.stderr
    (line,) = res.stderr.strip().splitlines()
    assert f"{data}:2: field 'prompt' is a chat whose {says}" in line, line
    assert teacher.log == [] and not out.exists()  # nothing asked, nothing paid, nothing written


def test_a_chat_prompt_that_asks_something_is_sent_as_before(tmp_path):
    image = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]
    rows = [
        {"prompt": [{"role": "user", "content": ""}, {"role": "user", "content": "Hi?"}]},
        {"prompt": image},  # content in parts: not read as text here
    ]
    got = list(load_rows(str(_write(tmp_path, *rows))))
    assert [r.chat for r in got] == [r["prompt"] for r in rows]


# ---------------------------------------------------------------- glaive

LEAD = (
    "SYSTEM: You are a helpful assistant with access to the following functions. "
    "Use them if required -"
)


def _system(*names):
    specs = [{"name": n, "description": "Does it.", "parameters": {}} for n in names]
    return LEAD + "\n" + "\n\n".join(json.dumps(s, indent=4) for s in specs) + "\n"


def _call(name, args):
    return f'<functioncall> {{"name": "{name}", "arguments": \'{args}\'}} <|endoftext|>'


def _chat(*turns):
    return "".join(t + "\n\n\n" for t in turns)


def _refusal(row):
    with pytest.raises(DistillError) as e:
        from_row(row, "glaive.jsonl row 1")
    assert "\n" not in str(e.value)
    return str(e.value)


def test_a_call_to_a_function_the_system_text_does_not_list_is_refused():
    # row 3871: listed as create_to-do_list, called as create_to_do_list
    row = {
        "system": _system("create_to-do_list"),
        "chat": _chat(
            'USER: The title should be "Weekend Chores".',
            "ASSISTANT: " + _call("create_to_do_list", '{"title": "Weekend Chores"}'),
            'FUNCTION RESPONSE: {"status": "success"}',
            "ASSISTANT: Done. <|endoftext|>",
        ),
    }
    message = _refusal(row)
    assert message.startswith("glaive.jsonl row 1: turn 2 of column 'chat'")
    assert "calls a function its 'system' text does not list ('create_to_do_list'" in message
    # the listed name trains
    row["chat"] = row["chat"].replace("create_to_do_list", "create_to-do_list")
    ex = from_row(row, "glaive.jsonl row 1")
    assert ex.prompt[2]["tool_calls"][0]["function"]["name"] == "create_to-do_list"


def test_a_function_response_after_no_call_is_refused():
    # row 17357: the call written in another syntax, then its result
    row = {
        "system": _system("get_song_lyrics"),
        "chat": _chat(
            'USER: The lyrics of "Imagine" by John Lennon?',
            "ASSISTANT: Sure, let me fetch that for you.\nAI to= get_song_lyrics: "
            '{"song_title": "Imagine"} <|endoftext|>',
            'FUNCTION RESPONSE: {"lyrics": "Imagine there\'s no heaven"}',
            "ASSISTANT: Here they are. <|endoftext|>",
        ),
    }
    message = _refusal(row)
    assert (
        "turn 3 of column 'chat' (glaive's layout) is a FUNCTION RESPONSE after a turn" in message
    )


def test_arguments_holding_infinity_are_refused_not_trained_as_json():
    row = {
        "system": _system("calculate_tax"),
        "chat": _chat(
            "USER: Tax on 80000?",
            "ASSISTANT: " + _call("calculate_tax", '{"income": 80000, "range": [70001, Infinity]}'),
            'FUNCTION RESPONSE: {"tax": 100}',
            "ASSISTANT: 100. <|endoftext|>",
        ),
    }
    assert "its <functioncall> is no call distill can read" in _refusal(row)


def test_the_generators_label_repeated_before_a_call_is_not_trained():
    row = {
        "system": _system("track_package"),
        "chat": _chat(
            "USER: Where is package 123?",
            "ASSISTANT: Sure, let me check. ASSISTANT: " + _call("track_package", '{"id": "123"}'),
            'FUNCTION RESPONSE: {"status": "in transit"}',
            "ASSISTANT: It is in transit. <|endoftext|>",
        ),
    }
    ex = from_row(row, "glaive.jsonl row 1")
    assert ex.prompt[2]["content"] == "Sure, let me check."
    assert ex.prompt[2]["tool_calls"][0]["function"]["arguments"] == {"id": "123"}
