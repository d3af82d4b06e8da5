"""The tokens under the loss for chats the student's chat template renders apart from a plain
user/assistant exchange: a tool result the template answers without a pre-fill (DeepSeek-R1-Distill
writes no `<｜Assistant｜><think>\\n` after `<｜tool▁outputs▁end｜>`), and a message the template
leaves out of its text (Qwen2.5's and R1-Distill's templates drop a role they do not know, such as
OpenAI's legacy `function` result, and R1-Distill keeps only the last of two system messages).

    .venv/bin/python -m pytest tests/test_masks_s10.py -q

Templates: the real checkpoints' strings of tests/fixtures/chat_templates on a tiny tokenizer.
"""

from __future__ import annotations

import pytest

from distill.errors import DistillError
from distill.examples import Renderer, from_row, tokenize_examples
from tests.test_datasets import template_tokenizer
from tests.test_third_read_sft import FIXTURES as TEMPLATES
from tests.test_third_read_sft import marked, tokenizer

CALL = '<tool_call>\n{"name": "weather", "arguments": {"city": "Paris"}}\n</tool_call>'
RESULT = "TOOLRESULT 18C and sunny"


def chat(*turns):
    return {"messages": [{"role": r, "content": c} for r, c in turns]}


def rows(template, row):
    tok = template_tokenizer(template)
    ex = from_row(row, "data.jsonl row 1")
    cols, _ = tokenize_examples([ex], Renderer(tok, "r1"), 8192)
    return tok, [
        marked(tok, ids, mask) for ids, mask in zip(cols["input_ids"], cols["completion_mask"])
    ]


@pytest.mark.parametrize(
    "answer",
    ["<think>\nThe tool says 18C.\n</think>\n\nIt is 18C in Paris.", "It is 18C in Paris."],
)
def test_r1_distill_trains_the_reply_to_a_tool_result_as_its_template_writes_it(answer):
    # After a tool result R1-Distill's generation prompt is `<｜tool▁outputs▁end｜>` alone: the model
    # writes the whole reply itself, its own `<think>` included. The pre-fill rule of a turn after
    # a user message (strip the '<think>\n' the prompt holds, or close an empty block) trained a
    # stray '\n</think>\n\n' (the student learnt to close a block it never opened) or a reasoning
    # without its '<think>' (the student never learnt to open it).
    tok, out = rows(
        "deepseek-r1-distill-qwen",
        chat(
            ("user", "Weather in Paris?"),
            ("assistant", CALL),
            ("tool", RESULT),
            ("assistant", answer),
        ),
    )
    last = out[-1]
    head, trained = last.rsplit("[[", 1)
    assert head.endswith(
        f"<｜tool▁output▁begin｜>{RESULT}<｜tool▁output▁end｜><｜tool▁outputs▁end｜>"
    )
    assert trained == answer + "<｜end▁of▁sentence｜>]]"
    # What the student sees is what the template renders for the finished chat, token for token.
    msgs = chat(
        ("user", "Weather in Paris?"), ("assistant", CALL), ("tool", RESULT), ("assistant", answer)
    )
    assert (
        last.replace("[[", "")
        .replace("]]", "")
        .endswith(
            tok.apply_chat_template(msgs["messages"], tokenize=False).split(
                "<｜tool▁outputs▁end｜>"
            )[-1]
        )
    )
    # The call itself, after the user's message, still answers under the pre-fill.
    assert out[0].endswith(
        "<｜Assistant｜><think>\n[[\n</think>\n\n" + CALL + "<｜end▁of▁sentence｜>]]"
    )


def test_the_pre_fill_rule_still_holds_after_a_user_message():
    _, [out] = rows(
        "deepseek-r1-distill-qwen", chat(("user", "Q?"), ("assistant", "<think>\nR\n</think>\n\nA"))
    )
    assert out.endswith("<｜Assistant｜><think>\n[[R\n</think>\n\nA<｜end▁of▁sentence｜>]]")


@pytest.mark.parametrize(
    "template, turns, missing",
    [
        # Llama-3.1's own role for a tool result: Qwen2.5's and R1-Distill's templates render
        # user, system, assistant and tool, and nothing of any other role (OpenAI's legacy
        # `function` result is read as the `tool` message: tests/test_last_read_s14a.py)
        (
            "qwen2.5-instruct",
            [
                ("user", "Weather?"),
                ("assistant", CALL),
                ("ipython", RESULT),
                ("assistant", "18C."),
            ],
            "message 3 (ipython)",
        ),
        (
            "deepseek-r1-distill-qwen",
            [
                ("user", "Weather?"),
                ("assistant", CALL),
                ("ipython", RESULT),
                ("assistant", "18C."),
            ],
            "message 3 (ipython)",
        ),
        # a retrieval chat's own role for its documents
        (
            "qwen2.5-instruct",
            [
                ("document", "The tower is 330 m tall."),
                ("user", "How tall?"),
                ("assistant", "330 m."),
            ],
            "message 1 (document)",
        ),
        # R1-Distill writes the last system message only
        (
            "deepseek-r1-distill-qwen",
            [
                ("system", "Be brief."),
                ("system", "Answer in French."),
                ("user", "Hi"),
                ("assistant", "Salut."),
            ],
            "message 1 (system)",
        ),
    ],
)
def test_a_message_the_template_leaves_out_is_refused_not_trained_without(template, turns, missing):
    # Before: the reply was trained under a prompt that never showed the tool result (or the
    # document, or the instruction): the student learnt to answer from what it was never given.
    with pytest.raises(DistillError) as e:
        rows(template, chat(*turns))
    message = str(e.value)
    assert "\n" not in message and message.startswith("data.jsonl row 1: ")
    assert missing in message and "student's chat template" in message


FIXTURES = sorted(p.stem for p in TEMPLATES.glob("*.jinja"))
ROLES = [
    ("user", "assistant"),
    ("system", "user", "assistant"),
    ("system", "user", "assistant", "user", "assistant"),
    ("assistant", "user", "assistant"),  # a ShareGPT greeting first
    ("user", "assistant", "tool", "assistant"),
]


@pytest.mark.parametrize("template", FIXTURES)
def test_a_chat_every_message_of_which_the_template_renders_trains(template):
    # No false refusal: every public template of the fixtures renders these chats whole (or
    # refuses them itself, as Gemma does a system message or a tool turn, named by that refusal);
    # only Phi-3's and Phi-4's leave a tool result out.
    tok = tokenizer(template)
    renderer = Renderer(tok, "r1")
    for roles in ROLES:
        row = chat(*[(r, f"TEXT{i} of {r}") for i, r in enumerate(roles)])
        ex = from_row(row, "data.jsonl row 1")
        try:
            cols, _ = tokenize_examples([ex], renderer, 8192)
        except DistillError as e:
            if "leaves message" in str(e):
                assert template in ("phi-3", "phi-4") and "message 3 (tool)" in str(e), str(e)
            else:
                assert "refuses this chat" in str(e), str(e)
            continue
        text = "".join(tok.decode(ids) for ids in cols["input_ids"])
        assert all(f"TEXT{i} of {r}" in text for i, r in enumerate(roles)), (roles, text)


def record(messages, answer="A2", reasoning="R2"):
    """A trace record (DESIGN.md): `messages` is the chat its teacher was sent."""
    return {
        "id": "s1",
        "prompt_id": "p1",
        "sample": 0,
        "messages": [{"role": r, "content": c} for r, c in messages],
        "reasoning": reasoning,
        "answer": answer,
        "teacher": {"backend": "openai", "model": "m"},
    }


@pytest.mark.parametrize("template", ["qwen2.5-instruct", "gemma-3", "deepseek-r1-distill-qwen"])
def test_a_trace_of_a_multi_turn_prompt_trains_its_answer_under_the_chat_the_teacher_saw(template):
    # A record whose teacher was sent [user, assistant, user]: the earlier reply was dropped from
    # the student's prompt, which showed two requests in a row (gemma-3 refused the row: roles
    # must alternate); it is the history the teacher answered after, context, not trained.
    row = record([("user", "Q1 first"), ("assistant", "A1 earlier reply"), ("user", "Q2 second")])
    tok, [out] = rows(template, row)
    prompt, trained = out.split("[[")
    assert prompt.index("Q1 first") < prompt.index("A1 earlier reply") < prompt.index("Q2 second")
    assert trained.count("]]") == 1 and "A1" not in trained and "R2\n</think>\n\nA2" in trained


def test_a_record_whose_messages_hold_its_reply_trains_it_once():
    row = record([("user", "Q1"), ("assistant", "<think>\nR2\n</think>\n\nA2")])
    _, [out] = rows("qwen2.5-instruct", row)
    assert out.count("A2") == 1 and out.endswith("[[<think>\nR2\n</think>\n\nA2<|im_end|>\n]]")
