"""Public SFT sets train what their authors meant: the request each reply answers, the columns
that are the prompt and the reply, the chat template's turns. Rows copy each dataset card's
public shape; they go through what `distill train` reads (load_examples / from_row) and are
rendered on the real chat templates of tests/fixtures/chat_templates.

    .venv/bin/python -m pytest tests/test_datasets_s15.py -q

Fixed here: nvidia/OpenCodeReasoning's split_1 rows hold '-' for `input` (the question is in the
source set, TACO/APPS/CodeContests/open-r1 codeforces, by its `dataset`/`split`/`index`): mapped
with --prompt-field input, the student was trained to answer '-'; generate sent the teacher '-'.
A prompt column that is empty (or blank, or '-') trained a reply to no request in every layout
(--prompt-field, Alpaca's instruction, a text prompt/completion row, a chat's user turn, a chat
of one assistant message): each is refused in one line naming the row and the way out.
"""

from __future__ import annotations

import functools
import json

import pytest

from distill.errors import DistillError
from distill.examples import Columns, Renderer, from_row, load_examples, tokenize_examples
from tests.test_examples import real_template_tokenizer


@functools.cache
def tok_of(name: str):
    return real_template_tokenizer(name)


def trained(row, template="qwen2.5-instruct", **columns):
    """(whole text, [each trained span]) of a row's first sequence, as train renders it."""
    tok = tok_of(template)
    ex = from_row(row, "row 1", Columns(**columns))
    cols, stats = tokenize_examples([ex], Renderer(tok, "r1"), 8192)
    assert stats.kept == 1
    ids, mask = cols["input_ids"][0], cols["completion_mask"][0]
    out, run = [], []
    for t, m in zip([*ids, None], [*mask, 0]):
        if m:
            run.append(t)
        elif run:
            out.append(tok.decode(run))
            run = []
    return tok.decode(ids), out


def refusal(row, **columns) -> str:
    with pytest.raises(DistillError) as e:
        from_row(row, "row 1", Columns(**columns))
    assert "\n" not in str(e.value)
    return str(e.value)


def write(tmp_path, rows, name="data.jsonl"):
    p = tmp_path / name
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(p)


# ------------------------------------------------------- a prompt that asks nothing: refused

OCR_OUTPUT = (
    "<think>\nRead n, print the sum of 1..n.\n</think>\n\n"
    "```python\nn = int(input())\nprint(n * (n + 1) // 2)\n```"
)
# nvidia/OpenCodeReasoning split_1: `input` is "-", the question is row `index` of the source set
OCR_SPLIT_1 = {
    "id": "0a1b2c3d",
    "input": "-",
    "output": OCR_OUTPUT,
    "source": "codechef",
    "license": "apache-2.0",
    "dataset": "taco",
    "split": "train",
    "difficulty": "EASY",
    "solution": "n = int(input())\nprint(n * (n + 1) // 2)",
    "index": "11240",
}
OCR_SPLIT_0 = {k: v for k, v in OCR_SPLIT_1.items() if k != "index"} | {
    "input": "Given n, print the sum of the integers from 1 to n.",
    "dataset": "code_contests",
}
OCR = {"prompt_field": "input", "answer_field": "output"}


def test_open_code_reasoning_split_1_is_refused_naming_the_row_and_where_its_question_is(tmp_path):
    # Before, it trained R1's reply as the answer to the prompt "-".
    src = write(tmp_path, [OCR_SPLIT_0, OCR_SPLIT_1])
    with pytest.raises(DistillError) as e:
        list(load_examples(src, columns=Columns(**OCR)))
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith(f"{src} row 2: column 'input' (--prompt-field) is '-'")
    assert "dataset 'taco', split 'train', index '11240'" in message
    assert "fill the column with the question first" in message
    # split_0 (its question in `input`) trains as before
    full, spans = trained(OCR_SPLIT_0, **OCR)
    assert spans == [OCR_OUTPUT + "<|im_end|>\n"] and OCR_SPLIT_0["input"] in full


def test_generate_refuses_to_send_the_teacher_a_prompt_of_dash(tmp_path):
    # generate / eval / on-policy read prompt sources through load_rows: the teacher was asked "-"
    from distill.data import load_rows

    src = write(tmp_path, [OCR_SPLIT_0, OCR_SPLIT_1])
    with pytest.raises(DistillError) as e:
        list(load_rows(src, prompt_field="input"))
    message = str(e.value)
    assert "\n" not in message and message.startswith(f"{src}:2: field 'input' is '-'")
    assert "index '11240'" in message
    with pytest.raises(DistillError, match=r":1: field 'problem' is empty: the model would be"):
        list(load_rows(write(tmp_path, [{"problem": "  \n"}], "p.jsonl")))
    # the rows that ask something are read as before
    assert [r.prompt for r in load_rows(write(tmp_path, [OCR_SPLIT_0]), prompt_field="input")] == [
        OCR_SPLIT_0["input"]
    ]


@pytest.mark.parametrize(
    "row, columns, words",
    [
        (
            {"question": " ", "answer": "It is 4."},
            {"prompt_field": "question", "answer_field": "answer"},
            "column 'question' (--prompt-field) is empty",
        ),
        (
            {"instruction": "", "input": "", "output": "Paris."},
            {},
            "column 'instruction' (Alpaca layout) is empty",
        ),
        (
            {"instruction": "-", "input": "", "output": "Paris."},
            {},
            "column 'instruction' (Alpaca layout) is '-'",
        ),
        (
            {"prompt": "", "completion": " a continuation."},
            {},
            "column 'prompt' (prompt/completion layout) is empty",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello!"},
                    {"role": "user", "content": "\n"},
                    {"role": "assistant", "content": "Anything else?"},
                ]
            },
            {},
            "its user turn 2 of 2 is empty, so the reply after it answers no request",
        ),
        (
            {"conversations": [{"from": "human", "value": "-"}, {"from": "gpt", "value": "Ok."}]},
            {},
            "its user turn 1 of 1 is '-'",
        ),
        (
            {"messages": [{"role": "assistant", "content": "Once upon a time..."}]},
            {},
            "its chat is one assistant message with no request before it",
        ),
    ],
)
def test_a_reply_to_no_request_is_refused_in_one_line(row, columns, words):
    # each trained before: the reply learned as the answer to nothing (or to "-")
    assert words in refusal(row, **columns)


def test_alpaca_rows_with_the_request_in_input_alone_are_told_the_mapping():
    row = {"instruction": "", "input": "What is the capital of France?", "output": "Paris."}
    message = refusal(row)
    assert "--prompt-field input --answer-field output" in message
    full, spans = trained(row, prompt_field="input", answer_field="output")
    assert spans == ["Paris.<|im_end|>\n"]
    assert "<|im_start|>user\nWhat is the capital of France?<|im_end|>" in full


def test_replies_that_answer_something_still_train():
    # a system message alone before the reply (a story set's instruction), a tool's result
    row = {
        "messages": [
            {"role": "system", "content": "Write a two-word story."},
            {"role": "assistant", "content": "It ended."},
        ]
    }
    assert trained(row)[1] == ["It ended.<|im_end|>\n"]
    # an opening greeting (context, no loss) before the user's turn
    row = {
        "conversations": [
            {"from": "gpt", "value": "Hi! How can I help?"},
            {"from": "human", "value": "Say yes."},
            {"from": "gpt", "value": "Yes."},
        ]
    }
    assert trained(row)[1] == ["Yes.<|im_end|>\n"]


# ------------------------------------------------------------------------- read as they are

WIZARDLM = {  # WizardLMTeam/WizardLM_evol_instruct_V2_196k: idx + ShareGPT human/gpt
    "idx": "kY4ZRqp",
    "conversations": [
        {"from": "human", "value": "Rewrite the sentence in passive voice: The cat ate the fish."},
        {"from": "gpt", "value": "The fish was eaten by the cat."},
    ],
}
CODE_ALPACA = {  # sahil2801/CodeAlpaca-20k: Alpaca columns, `input` mostly empty
    "instruction": "Create an array of length 5 which contains all even numbers between 1 and 10.",
    "input": "",
    "output": "arr = [2, 4, 6, 8, 10]",
}
TULU = {  # allenai/tulu-3-sft-mixture: id, messages, source
    "id": "ai2-adapt-dev/oasst1_converted_1",
    "messages": [
        {"role": "user", "content": "Name a prime number above 10."},
        {"role": "assistant", "content": "11 is a prime number above 10."},
    ],
    "source": "ai2-adapt-dev/oasst1_converted",
}


@pytest.mark.parametrize(
    "row, span, prompt",
    [
        (WIZARDLM, "The fish was eaten by the cat.", "The cat ate the fish."),
        (CODE_ALPACA, "arr = [2, 4, 6, 8, 10]", "all even numbers between 1 and 10."),
        (TULU, "11 is a prime number above 10.", "Name a prime number above 10."),
    ],
)
def test_chat_and_alpaca_sets_train_their_replies_with_no_flags(row, span, prompt):
    full, spans = trained(row)
    assert spans == [span + "<|im_end|>\n"] and prompt in full
    assert "kY4ZRqp" not in full and "oasst1_converted" not in full


OMI2 = {  # nvidia/OpenMathInstruct-2: the solution trained, never the expected answer alone
    "problem": "What is the sum of the first 4 positive even integers?",
    "generated_solution": "The integers are 2, 4, 6, 8, and 2 + 4 + 6 + 8 = \\boxed{20}.",
    "expected_answer": "20",
    "problem_source": "augmented_math",
}
ORCA_MATH = {  # microsoft/orca-math-word-problems-200k: question, answer (the worked solution)
    "question": "Jungkook is the 5th place. Find the number of people who crossed the finish line "
    "faster than Jungkook.",
    "answer": "If Jungkook is in 5th place, then 4 people crossed the finish line faster than him.",
}
METAMATH = {  # meta-math/MetaMathQA: `query` (the augmented question) is what `response` answers
    "type": "GSM_Rephrased",
    "query": "If Weng earns $12 an hour and did 50 minutes of babysitting, how much did she earn?",
    "original_question": "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 "
    "minutes of babysitting. How much did she earn?",
    "response": "Weng earns 12/60 = $0.2 per minute.\n0.2 x 50 = $10.\nThe answer is: 10",
}


@pytest.mark.parametrize(
    "row, flags, reply",
    [
        (
            OMI2,
            {"prompt_field": "problem", "answer_field": "generated_solution"},
            "generated_solution",
        ),
        (ORCA_MATH, {"prompt_field": "question", "answer_field": "answer"}, "answer"),
        (METAMATH, {"prompt_field": "query", "answer_field": "response"}, "response"),
    ],
)
def test_math_sets_are_hinted_their_columns_and_train_the_whole_solution(row, flags, reply):
    hint = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in flags.items())
    assert f"try: {hint}" in refusal(row)
    full, spans = trained(row, **flags)
    assert spans == [row[reply] + "<|im_end|>\n"] and row[flags["prompt_field"]] in full
    # the other question (MetaMathQA's original), the gold alone: never shown
    assert "Yesterday" not in full and "augmented_math" not in full


# ---------------------------------------------------------------------------------- fixed

CAPYBARA = {  # LDJnr/Capybara: `conversation`, a list of {input, output} exchanges
    "source": "Airoboros",
    "conversation": [
        {"input": "What is 7 x 8?", "output": "7 x 8 = 56."},
        {"input": "And 56 / 4?", "output": "56 / 4 = 14."},
    ],
}


def test_capybaras_input_output_exchanges_train_as_a_chat():
    # Refused before with no way out: no flag read {input, output} turns (--messages-field
    # conversation: "needs role/content or from/value; found: input, output").
    assert "try: --messages-field conversation" in refusal(CAPYBARA)
    full, spans = trained(CAPYBARA, messages_field="conversation")
    assert spans == ["7 x 8 = 56.<|im_end|>\n", "56 / 4 = 14.<|im_end|>\n"]
    assert "<|im_start|>user\nWhat is 7 x 8?<|im_end|>" in full
    assert "<|im_start|>user\nAnd 56 / 4?<|im_end|>" in full and "Airoboros" not in full
    from distill.examples import has_completion

    assert has_completion(CAPYBARA, Columns(messages_field="conversation"))
    # a code set's {input, output} test cases are no chat to hint
    cases = {"problem": "Add.", "examples": [{"input": "1 2", "output": "3"}], "solution": "..."}
    assert refusal(cases).endswith("try: --prompt-field problem --answer-field solution")


DOLPHIN_SYSTEM = (
    "You are an AI assistant. User will you give you a task. Your goal is to complete the task "
    "as faithfully as you can. While performing the task think step-by-step and justify your "
    "steps."
)
DOLPHIN = {  # cognitivecomputations/dolphin (flan1m-alpaca-uncensored): Orca's system prompt in
    # `instruction`, the FLAN request in `input`
    "instruction": DOLPHIN_SYSTEM,
    "input": "Translate to French: Good morning, how are you?",
    "output": "Bonjour, comment allez-vous ?",
}


def test_dolphins_system_prompt_is_not_trained_as_part_of_the_request():
    # Before, it trained as Alpaca's instruction + input: one user turn opening with Orca's
    # system prompt, which the student is served as a system message.
    message = refusal(DOLPHIN)
    assert "--system-field instruction --prompt-field input --answer-field output" in message
    full, spans = trained(
        DOLPHIN, system_field="instruction", prompt_field="input", answer_field="output"
    )
    assert spans == ["Bonjour, comment allez-vous ?<|im_end|>\n"]
    assert full.startswith(f"<|im_start|>system\n{DOLPHIN_SYSTEM}<|im_end|>\n<|im_start|>user\n")
    assert "<|im_start|>user\nTranslate to French: Good morning, how are you?<|im_end|>" in full
    # the Alpaca reading, asked for
    full, _ = trained(
        DOLPHIN, prompt_field="instruction", context_field="input", answer_field="output"
    )
    assert f"<|im_start|>user\n{DOLPHIN_SYSTEM}\n\nTranslate to French" in full
    # an Alpaca row whose instruction is a request, with an input, is Alpaca's as before
    alpaca = {"instruction": "Translate to French.", "input": "Good morning", "output": "Bonjour"}
    assert trained(alpaca)[1] == ["Bonjour<|im_end|>\n"]
