"""Third read of how public dataset layouts reach generate, filter's decontamination and train.

.venv/bin/python -m pytest tests/test_third_read_datasets.py -q
"""

from __future__ import annotations

import csv
import json

import pytest

from distill.errors import DistillError
from distill.examples import Columns, from_row, load_examples


def write_rows(tmp_path, rows, name="data.jsonl"):
    p = tmp_path / name
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(p)


# --------------------------------------------------------------------------- prompt sources


def test_a_null_prompt_is_named_not_sent_as_the_word_none(tmp_path):
    # A null problem (JSON null, a Parquet null) was str()-ed: the teacher was asked "None" and
    # paid for, and a --decontam benchmark holding one flagged every training prompt with the
    # word "none" in it as contaminated.
    from distill.data import load_rows

    data = write_rows(tmp_path, [{"problem": "What is 1 + 1?"}, {"problem": None}])
    with pytest.raises(DistillError, match=r"data.jsonl:2: field 'problem' is empty") as e:
        list(load_rows(data))
    assert "\n" not in str(e.value)


def test_a_decontam_set_with_a_null_problem_does_not_flag_the_word_none(tmp_path):
    from distill.filter.decontam import Decontaminator

    bench = write_rows(
        tmp_path, [{"problem": "Q one two three four five six seven?"}, {"problem": None}]
    )
    # the null row is left out (a public benchmark's one bad row does not stop the filter:
    # second read), never read as the word "none"; the other rows still decontaminate
    dec = Decontaminator([bench])
    assert dec.hit("If none of the apples are red, how many are green?") is None
    assert dec.hit("Solve: Q one two three four five six seven? Show work.") is not None


def test_a_trl_prompt_list_is_sent_as_the_chat_not_its_python_repr(tmp_path):
    # TRL's conversational prompt-only layout (`prompt`: a list of messages): generate sent the
    # teacher "[{'role': 'user', 'content': 'Hi'}]"; it sends the chat (test_chat_prompts_s14)
    from distill.generate.stage import prompt_messages

    chat = [{"role": "user", "content": "Hi"}]
    data = write_rows(tmp_path, [{"prompt": chat}])
    assert [m for _, m in prompt_messages(data)] == [chat]


def test_a_csv_with_a_long_reasoning_cell_loads(tmp_path):
    # An R1 trace is easily longer than csv's default field limit (131072 characters): reading
    # it stopped with a traceback (_csv.Error: field larger than field limit).
    p = tmp_path / "data.csv"
    long = "step. " * 40000
    with open(p, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["instruction", "input", "output"])
        w.writerow(["Q", "", long])
    [ex] = load_examples(str(p))
    assert ex.completion == long


def test_jsonl_saved_as_json_loads(tmp_path):
    # Many dataset dumps are JSON Lines under a .json name (`datasets` reads both): refused as
    # "line 2: not valid JSON (Extra data)".
    from distill.data import load_rows

    p = tmp_path / "data.json"
    p.write_text('{"problem": "a", "answer": "1"}\n{"problem": "b", "answer": "2"}\n')
    assert [r.prompt for r in load_rows(str(p))] == ["a", "b"]
    assert [ex.completion for ex in load_examples(str(p), columns=_pa())] == ["1", "2"]
    # a broken .json file that is no JSON Lines either is still named by its line
    p.write_text('{"problem": "a"}\n{"problem": \n')
    with pytest.raises(DistillError, match=r"data.json:2: not valid JSON"):
        list(load_rows(str(p)))


def _pa():
    return Columns(prompt_field="problem", answer_field="answer")


# --------------------------------------------------------------------------- training rows


TOOL_ROW = {
    "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "18C sunny"},
        {"role": "assistant", "content": "It is 18C and sunny in Paris."},
    ]
}


def test_an_assistant_tool_call_is_refused_not_dropped(tmp_path):
    # The call was dropped without a word: the student learned to say "Let me check." and end
    # its turn, then answer from a tool result nobody asked for. Refused then; since ef44e7d
    # trained in the template's own syntax after the text, or refused where the template
    # writes no calls (never the text alone).
    from distill.examples import Renderer, spans, tokenize_examples
    from tests.test_examples import real_template_tokenizer

    exs = list(load_examples(write_rows(tmp_path, [TOOL_ROW])))
    tok = real_template_tokenizer("qwen2.5-instruct")
    cols, _ = tokenize_examples(exs, Renderer(tok, "r1"), 4096)
    [ids], [mask] = cols["input_ids"], cols["completion_mask"]
    assert [tok.decode(ids[a:b]) for a, b in spans(mask)] == [
        'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n'
        "</tool_call><|im_end|>\n",
        "It is 18C and sunny in Paris.<|im_end|>\n",
    ]
    with pytest.raises(DistillError, match=r"row 1: its assistant turn 2 calls a tool") as e:
        tokenize_examples(exs, Renderer(real_template_tokenizer("smollm2"), "r1"), 4096)
    assert "\n" not in str(e.value)


def test_null_tool_calls_of_a_parquet_row_are_no_call(tmp_path):
    # Parquet gives every message every key of the column's struct: tool_calls None is no call.
    row = {
        "messages": [
            {"role": "user", "content": "Q", "tool_calls": None},
            {"role": "assistant", "content": "A", "tool_calls": None, "function_call": None},
        ]
    }
    [ex] = load_examples(write_rows(tmp_path, [row]))
    assert ex.completion == "A"


@pytest.mark.parametrize(
    "row, columns",
    [
        (
            {
                "messages": [
                    {"role": "user", "content": "Q"},
                    {
                        "role": "assistant",
                        "content": "A",
                        "reasoning_content": "<think>\nR\n</think>",
                    },
                ]
            },
            None,
        ),
        (
            {"q": "Q", "r": "<think>\nR\n</think>\n", "a": "A"},
            dict(prompt_field="q", reasoning_field="r", answer_field="a"),
        ),
    ],
    ids=["reasoning_content", "reasoning-field"],
)
def test_reasoning_already_in_think_tags_is_one_think_block(row, columns):
    # A reasoning column that holds its own <think>...</think> was wrapped a second time:
    # "<think>\n<think>\nR\n</think>\n</think>", a format no model writes.
    ex = from_row(row, "row 1", Columns(**(columns or {})))
    assert ex.completion == "<think>\nR\n</think>\n\nA"


def test_question_reasoning_answer_columns_get_the_mapping_hint():
    # A dataset with question/reasoning/answer columns (no `messages`) was taken for a distill
    # trace record and refused with "'messages' must be a list of messages, got NoneType".
    row = {"question": "Q", "reasoning": "R", "answer": "The answer is 4,\nsince 2 + 2 = 4."}
    with pytest.raises(DistillError, match=r"--prompt-field question") as e:
        from_row(row, "row 1")
    assert "--reasoning-field reasoning" in str(e.value) and "NoneType" not in str(e.value)


def test_openmathreasoning_as_a_prompt_source_has_its_gold():
    # nvidia/OpenMathReasoning (and OpenMathInstruct-2) keep the gold in `expected_answer`:
    # generate found no answer field, the traces were bought without gold, and filter --verify
    # math then refused them ("traces have no gold answer").
    from distill.data import load_rows
    from tests.test_datasets import DATA

    [row] = load_rows(str(DATA / "openmathreasoning.jsonl"))
    assert row.prompt.startswith("Find the sum") and row.gold == "100"


@pytest.mark.parametrize("flag", ["system_field", "context_field"])
def test_a_null_in_an_optional_mapped_column_is_none_of_it(flag):
    # Parquet (and `datasets`) give a missing value as null: a row with no system prompt or no
    # context stopped the run ("must be text, got NoneType"), while the same null system beside
    # a chat column was read as none. (A null reasoning is still refused: tests/test_datasets.py,
    # s1K's `cot`, null in every row, is the wrong column.)
    row = {"q": "Q", "a": "A", "x": None}
    ex = from_row(row, "row 1", Columns(prompt_field="q", answer_field="a", **{flag: "x"}))
    assert ex.prompt == [{"role": "user", "content": "Q"}] and ex.completion == "A"
    with pytest.raises(DistillError, match="'a' .*got NoneType"):
        from_row({"q": "Q", "a": None}, "row 1", Columns(prompt_field="q", answer_field="a"))
