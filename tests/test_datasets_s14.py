"""Public chat, reasoning and preference sets not in tests/test_datasets.py train what their
authors meant: each row copies its dataset card's public example shape (column names, nesting,
the extra keys its turns carry), goes through what `distill train` reads (from_row) and, where the
text matters, is rendered on the real chat templates of tests/fixtures/chat_templates.

    .venv/bin/python -m pytest tests/test_datasets_s14.py -q

Read as they are: HuggingFaceH4/no_robots (`prompt` and `messages` with their system turn),
allenai/WildChat-1M (`--messages-field conversation`; a turn's language/toxic/timestamp/... never
rendered), BAAI/Infinity-Instruct, a-m-team/AM-DeepSeek-R1-Distilled-1.4M (a message's `info`),
qihoo360/Light-R1-SFTData, HuggingFaceH4/ultrafeedback_binarized (`messages`, never `rejected`).
Fixed here: a chat column kept as JSON text was refused; the refusal's hint for nvidia/
OpenCodeReasoning named `solution` (the code alone) over `output` (R1's reasoning and the code),
for a preference set without `messages` it could name `rejected`, and for a text preference set
(Intel/orca_dpo_pairs) it named no answer column.
"""

from __future__ import annotations

import functools
import json

import pytest

from distill.errors import DistillError
from distill.examples import Columns, Renderer, from_row, has_completion, tokenize_examples
from tests.test_examples import real_template_tokenizer


@functools.cache
def tok_of(name: str):
    return real_template_tokenizer(name)


def trained(row, template="qwen2.5-instruct", **columns):
    """(prompt text, [each trained span]) of a row's first sequence, as train renders it."""
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


# ------------------------------------------------------------------------- read as they are

NO_ROBOTS = {  # its card: prompt, prompt_id, messages (a system turn in some), category
    "prompt": "Write a haiku about autumn.",
    "prompt_id": "4c6b3b8e0f",
    "messages": [
        {"role": "system", "content": "You are a poet who writes only haiku."},
        {"role": "user", "content": "Write a haiku about autumn."},
        {
            "role": "assistant",
            "content": "Red leaves drift and fall\ncool wind hums\nthe year exhales",
        },
    ],
    "category": "Generation",
}


@pytest.mark.parametrize("template", ["qwen2.5-instruct", "llama-3.1-instruct"])
def test_no_robots_trains_its_messages_under_their_system_turn(template):
    full, spans = trained(NO_ROBOTS, template)
    end = "<|im_end|>\n" if template.startswith("qwen") else "<|eot_id|>"
    assert spans == ["Red leaves drift and fall\ncool wind hums\nthe year exhales" + end]
    assert "You are a poet who writes only haiku." in full
    # the `prompt` column is the user turn's copy, not a second request
    assert full.count("Write a haiku about autumn.") == 1
    assert "Generation" not in full


WILDCHAT = {  # allenai/WildChat-1M's features: each turn carries the user's metadata
    "conversation_hash": "c9ec5b440fbdd2a269333dd241f32f64",
    "model": "gpt-4-0314",
    "timestamp": "2023-04-09 00:02:53+00:00",
    "conversation": [
        {
            "content": "Hey there! Are you familiar with reality shifting?",
            "country": "United Kingdom",
            "hashed_ip": "1f3a9b7e",
            "header": {"accept-language": "en-GB,en;q=0.9", "user-agent": "Mozilla/5.0"},
            "language": "English",
            "redacted": False,
            "role": "user",
            "state": "Essex",
            "timestamp": None,
            "toxic": False,
            "turn_identifier": 101180,
        },
        {
            "content": "Yes, I am familiar with the concept of reality shifting.",
            "country": None,
            "hashed_ip": None,
            "header": None,
            "language": "English",
            "redacted": False,
            "role": "assistant",
            "state": None,
            "timestamp": "2023-04-09 00:02:53+00:00",
            "toxic": False,
            "turn_identifier": 101180,
        },
    ],
    "turn": 1,
    "language": "English",
    "openai_moderation": [{"categories": {"harassment": False}, "flagged": False}],
    "detoxify_moderation": [{"identity_attack": 0.0001, "toxicity": 0.0005}],
    "toxic": False,
    "redacted": False,
    "state": "Essex",
    "country": "United Kingdom",
    "hashed_ip": "1f3a9b7e",
    "header": {"accept-language": "en-GB,en;q=0.9", "user-agent": "Mozilla/5.0"},
}


def test_wildchat_is_one_flag_away_and_its_turn_metadata_is_never_rendered():
    assert "try: --messages-field conversation" in refusal(WILDCHAT)
    full, spans = trained(WILDCHAT, messages_field="conversation")
    assert spans == ["Yes, I am familiar with the concept of reality shifting.<|im_end|>\n"]
    assert "Are you familiar with reality shifting?" in full
    for leak in ("United Kingdom", "Essex", "1f3a9b7e", "Mozilla", "101180", "English", "2023"):
        assert leak not in full


INFINITY = {  # BAAI/Infinity-Instruct: ShareGPT conversations beside its label columns
    "id": 7,
    "conversations": [
        {"from": "human", "value": "Name three primary colours."},
        {"from": "gpt", "value": "Red, yellow and blue."},
        {"from": "human", "value": "And the secondary ones?"},
        {"from": "gpt", "value": "Orange, green and purple."},
    ],
    "label": {
        "ability_en": ["knowledge of art"],
        "ability_zh": ["艺术知识"],
        "cate_ability_en": ["open knowledge q&a"],
        "cate_ability_zh": ["开放知识问答"],
    },
    "langdetect": "en",
    "source": "Subjective",
}


def test_infinity_instruct_trains_every_gpt_turn_and_no_label():
    full, spans = trained(INFINITY)
    assert spans == ["Red, yellow and blue.<|im_end|>\n", "Orange, green and purple.<|im_end|>\n"]
    assert "knowledge of art" not in full and "Subjective" not in full


AM_THINK = "Okay, let's see. The antiderivative of e^{-x} is -e^{-x}."
AM_ANSWER = "<answer>The integral is $-e^{-x} + C$.</answer>"
AM = {  # a-m-team/AM-DeepSeek-R1-Distilled-1.4M: each message has an `info` dict
    "messages": [
        {
            "role": "user",
            "content": "Find the integral of \\(e^{-x}\\) dx.",
            "info": {"source": "natural_reasoning", "reference_answer": "-e^{-x} + C"},
        },
        {
            "role": "assistant",
            "content": f"<think>{AM_THINK}</think>\n{AM_ANSWER}",
            "info": {
                "source": "am-0309",
                "think_content": AM_THINK,
                "answer_content": "The integral is $-e^{-x} + C$.",
                "verify_score": 1.0,
                "model_name": "am-0309",
                "ppl": 1.80,
            },
        },
    ]
}


def test_am_distilled_trains_its_think_and_answer_blocks_and_never_its_info():
    # The set's own format, trained as its authors wrote it: the reasoning in the think block,
    # then the answer in its <answer> tags; `info` (the source, the reference answer) unseen.
    full, spans = trained(AM)
    assert spans == [f"<think>{AM_THINK}</think>\n{AM_ANSWER}<|im_end|>\n"]
    assert "am-0309" not in full and "natural_reasoning" not in full
    assert full.count("-e^{-x} + C") == 1  # the answer's, never the reference answer's
    # R1-Distill's pre-filled <think>\n: the reasoning goes on after it, opened once
    full, spans = trained(AM, "deepseek-r1-distill-qwen")
    assert full.count("<think>") == 1
    assert spans == [f"{AM_THINK}</think>\n{AM_ANSWER}<｜end▁of▁sentence｜>"]


LIGHT_R1 = {  # qihoo360/Light-R1-SFTData: conversations from user/assistant, <think> in value
    "conversations": [
        {"from": "user", "value": "What is $1+1$?"},
        {
            "from": "assistant",
            "value": "<think>\n1 plus 1 is 2.\n</think>\n\nThe answer is $\\boxed{2}$.",
        },
    ]
}


def test_light_r1_trains_its_reasoning_in_the_students_think_block():
    _, spans = trained(LIGHT_R1)
    assert spans == ["<think>\n1 plus 1 is 2.\n</think>\n\nThe answer is $\\boxed{2}$.<|im_end|>\n"]
    _, spans = trained(LIGHT_R1, "deepseek-r1-distill-qwen")
    assert spans == ["1 plus 1 is 2.\n</think>\n\nThe answer is $\\boxed{2}$.<｜end▁of▁sentence｜>"]


CHOSEN = [
    {"role": "user", "content": "What is 3 * 3?"},
    {"role": "assistant", "content": "3 * 3 = 9."},
]
REJECTED = [
    {"role": "user", "content": "What is 3 * 3?"},
    {"role": "assistant", "content": "3 * 3 = 6."},
]
ULTRAFEEDBACK = {  # HuggingFaceH4/ultrafeedback_binarized (train_sft): messages = chosen
    "prompt": "What is 3 * 3?",
    "prompt_id": "86a2ec3f",
    "chosen": CHOSEN,
    "rejected": REJECTED,
    "messages": CHOSEN,
    "score_chosen": 8.0,
    "score_rejected": 3.0,
}


def test_ultrafeedback_binarized_trains_the_chosen_reply_never_the_rejected_one():
    full, spans = trained(ULTRAFEEDBACK)
    assert spans == ["3 * 3 = 9.<|im_end|>\n"] and "3 * 3 = 6." not in full


# ---------------------------------------------------------------------------------- fixed


def test_a_chat_column_kept_as_json_text_trains_as_the_chat_it_holds():
    # Some Hub conversions (and CSV exports written with json) keep the chat as its JSON text:
    # refused before ("'messages' must be a list of messages, got str"), with no way past it.
    row = {**ULTRAFEEDBACK, "messages": json.dumps(CHOSEN)}
    full, spans = trained(row)
    assert spans == ["3 * 3 = 9.<|im_end|>\n"] and "What is 3 * 3?" in full
    # the same text as a ShareGPT `conversations` column, and under --messages-field
    sharegpt = {"conversations": json.dumps(INFINITY["conversations"])}
    assert trained(sharegpt)[1][-1] == "Orange, green and purple.<|im_end|>\n"
    named = {"conversation": json.dumps(WILDCHAT["conversation"])}
    assert "try: --messages-field conversation" in refusal(named)
    assert (
        trained(named, messages_field="conversation")[1]
        == trained(WILDCHAT, messages_field="conversation")[1]
    )
    # a prompt source's chat (kd / onpolicy) kept so is still a prompt, with no completion
    assert not has_completion({"messages": json.dumps(CHOSEN[:1])})
    assert has_completion({"messages": json.dumps(CHOSEN)})
    # text that is no JSON chat is still refused in one line, naming the column
    assert "'messages'" in refusal({"messages": "3 * 3 = 9."})


OCR = {  # nvidia/OpenCodeReasoning (split_0): `output` is R1's reply, `solution` its code alone
    "id": "d5a8a8e2b2",
    "input": "Read two integers a and b and print their sum.",
    "output": (
        "<think>\nRead a and b from one line, print a + b.\n</think>\n\n"
        "```python\na, b = map(int, input().split())\nprint(a + b)\n```"
    ),
    "source": "codeforces",
    "license": "cc-by-4.0",
    "dataset": "code_contests",
    "split": "train",
    "difficulty": "1",
    "solution": "a, b = map(int, input().split())\nprint(a + b)",
}


def test_open_code_reasoning_hint_names_the_reply_with_its_reasoning_not_the_bare_code():
    # The hint named --answer-field solution: followed, the student learned the code with no
    # reasoning, where the set exists to teach R1's reasoning before it.
    assert "try: --prompt-field input --answer-field output" in refusal(OCR)
    _, spans = trained(OCR, prompt_field="input", answer_field="output")
    assert spans == [OCR["output"] + "<|im_end|>\n"]
    _, spans = trained(OCR, "deepseek-r1-distill-qwen", prompt_field="input", answer_field="output")
    assert spans == [OCR["output"].removeprefix("<think>\n") + "<｜end▁of▁sentence｜>"]


def test_a_preference_set_without_messages_is_never_hinted_to_train_its_rejected_replies():
    # trl-lib-style rows (chosen / rejected chats, no `messages`) in a file whose columns come
    # rejected first: the hint was --messages-field rejected.
    row = {"rejected": REJECTED, "chosen": CHOSEN, "score_chosen": 8.0, "score_rejected": 3.0}
    message = refusal(row)
    assert "try: --messages-field chosen" in message and "rejected" not in message.split("try:")[1]
    assert trained(row, messages_field="chosen")[1] == ["3 * 3 = 9.<|im_end|>\n"]


def test_a_text_preference_set_is_hinted_to_train_its_chosen_reply():
    # Intel/orca_dpo_pairs: system, question, chosen, rejected (text): the hint named no
    # answer column, so no flags at all.
    row = {
        "system": "You are an AI assistant.",
        "question": "Translate to French: good morning",
        "chosen": "Bonjour.",
        "rejected": "Bonsoir.",
    }
    message = refusal(row)
    assert "--prompt-field question" in message and "--answer-field chosen" in message
    assert "--system-field system" in message
    full, spans = trained(
        row, prompt_field="question", answer_field="chosen", system_field="system"
    )
    assert spans == ["Bonjour.<|im_end|>\n"] and "You are an AI assistant." in full


# glaive-function-calling-v2, refused here before, trains now: tests/test_glaive_s15.py
