"""A second read of ed0dbd0 (a prompt field holding a chat is sent as that chat): a text prompt's
messages and sample ids are exactly what they were before it (a traces file written then resumes,
nothing asked again), and one chat written as ShareGPT from/value turns, with keys the API does not
take (name, weight), or with its content as a list of text parts is the role/content chat it holds:
the same messages sent, the same id.

    .venv/bin/python -m pytest tests/test_chat_prompts_s14b.py -q
"""

from __future__ import annotations

import json

import pytest

from distill.generate.stage import prompt_messages
from distill.records import stable_hash


def jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


# the prompt ids generate gave these text prompts before ed0dbd0 (computed with ed0dbd0^)
BEFORE = {
    "builtin:arithmetic?n=3": ({}, ["8baffa3701397846", "488c078ce2d77745", "0b5a79503b115513"]),
    "builtin:countdown?n=2": ({}, ["08099b3d26c0ee59", "b7dab6504a9aeca0"]),
}


@pytest.mark.parametrize("data", sorted(BEFORE))
def test_a_builtin_text_prompt_keeps_its_id(data):
    kw, ids = BEFORE[data]
    assert [stable_hash(m) for _, m in prompt_messages(data, **kw)] == ids


def test_a_text_prompt_keeps_its_messages_and_id(tmp_path):
    # text, a number, JSON text of a list that is no chat: each still the text it was
    rows = [
        {"problem": "What is 1+1?", "answer": "2"},
        {"problem": 42},
        {"problem": "[1, 2]"},
        {"problem": '["a"]'},
    ]
    data = jsonl(tmp_path / "t1.jsonl", rows)
    sent = [m for _, m in prompt_messages(data)]
    assert [m[-1]["content"] for m in sent] == ["What is 1+1?", "42", "[1, 2]", '["a"]']
    assert [stable_hash(m) for m in sent] == [
        "711f2d08e0293023",
        "67e79c95227bc250",
        "0987e41ebb89bf3f",
        "47e152788682bf95",
    ]
    alpaca = jsonl(tmp_path / "t2.jsonl", [{"instruction": "Sum", "input": "1 2", "output": "3"}])
    assert stable_hash(next(prompt_messages(alpaca))[1]) == "cb3a7cf20f8bb70b"
    assert stable_hash(next(prompt_messages(alpaca, template="alpaca"))[1]) == "53347eeba2b1061d"
    # --system-prompt before a text prompt: the same two messages a chat of them is
    text = jsonl(tmp_path / "t3.jsonl", [{"prompt": "Q"}])
    assert stable_hash(next(prompt_messages(text, system_prompt="S"))[1]) == "deed7fc84c3c7227"


CHAT = [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}]


@pytest.mark.parametrize(
    "chat",
    [
        [{"from": "system", "value": "S"}, {"from": "human", "value": "Q"}],
        [
            {"role": "system", "content": "S", "name": "x"},
            {"role": "user", "content": "Q", "weight": 0},
        ],
        [
            {"role": "system", "content": "S"},
            {"role": "user", "content": [{"type": "text", "text": "Q"}]},
        ],
    ],
    ids=["sharegpt", "extra-keys", "parts"],
)
def test_one_chat_however_written_is_one_prompt(tmp_path, chat):
    data = jsonl(tmp_path / "p.jsonl", [{"prompt": chat}])
    [(_, sent)] = prompt_messages(data)
    assert sent == CHAT  # role/content only: what an OpenAI server takes
    # the same id as a text prompt 'Q' after --system-prompt S (and the role/content chat)
    assert stable_hash(sent) == "deed7fc84c3c7227"
