"""Second read of SFT's training data: the tokens the student's loss is on, as the real chat
templates (tests/fixtures/chat_templates) and TRL's SFTTrainer render them."""

from __future__ import annotations

from distill.examples import Example, Renderer, spans, tokenize_examples
from tests.test_examples import real_template_tokenizer

USER = {"role": "user", "content": "What is 1 + 1?"}
CHAT = [
    {"role": "user", "content": "What is 1 + 1?"},
    {"role": "assistant", "content": "2"},
    {"role": "user", "content": "And 2 + 2?"},
    {"role": "assistant", "content": "4"},
]


def rows(tok, examples, **kw):
    """[(full text, [each trained span's text])] of every tokenized row."""
    cols, st = tokenize_examples(examples, Renderer(tok, "r1", **kw), 1024)
    out = [
        (tok.decode(ids), [tok.decode(ids[a:b]) for a, b in spans(mask)])
        for ids, mask in zip(cols["input_ids"], cols["completion_mask"])
    ]
    return out, st


# =========================================================================== Qwen3


def test_qwen3_answer_without_reasoning_trains_the_empty_think_block_its_template_writes():
    # Qwen3's template renders a final assistant turn without reasoning as
    # '<think>\n\n</think>\n\n' + answer (its non-thinking format; enable_thinking=False pre-fills
    # exactly that), and TRL's SFTTrainer trains that text (qwen3_training.jinja always writes the
    # block). It was trained as the bare answer right after '<|im_start|>assistant\n'.
    tok = real_template_tokenizer("qwen3")
    msgs = [USER, {"role": "assistant", "content": "2"}]
    [(text, trained)], _ = rows(tok, [Example(prompt=msgs[:1], completion="2")])
    assert trained == ["<think>\n\n</think>\n\n2<|im_end|>\n"]
    assert text == tok.apply_chat_template(msgs, tokenize=False)


def test_qwen3_answer_with_reasoning_is_unchanged():
    tok = real_template_tokenizer("qwen3")
    done = "<think>\none and one\n</think>\n\n2"
    [(text, trained)], _ = rows(tok, [Example(prompt=[USER], completion=done)])
    assert trained == [done + "<|im_end|>\n"]
    assert text == tok.apply_chat_template(
        [USER, {"role": "assistant", "content": done}], tokenize=False
    )


def test_qwen3_every_turn_of_a_chat_trains_under_the_history_its_template_renders():
    # Qwen3 drops the think block of turns before the last request: each turn is its own row,
    # each row exactly the template's rendering of the chat up to that turn.
    tok = real_template_tokenizer("qwen3")
    ex = Example(prompt=CHAT[:3], completion="4")
    got, st = rows(tok, [ex])
    assert [t for _, t in got] == [
        ["<think>\n\n</think>\n\n2<|im_end|>\n"],
        ["<think>\n\n</think>\n\n4<|im_end|>\n"],
    ]
    assert [text for text, _ in got] == [
        tok.apply_chat_template(CHAT[:2], tokenize=False),
        tok.apply_chat_template(CHAT, tokenize=False),
    ]
    assert (st.sequences, st.turns) == (2, 2)
