"""Qwen3-*-Thinking-2507 students (Qwen/Qwen3-4B-Thinking-2507, Qwen3-30B-A3B-Thinking-2507):
their generation prompt pre-fills '<|im_start|>assistant\\n<think>\\n' and a finished assistant
turn writes '<think>\\n' itself too (tests/fixtures/chat_templates/qwen3-thinking-2507.jinja).
What the student sees at inference is the prompt up to that '<think>\\n'; it must write the
reasoning, '\\n</think>\\n\\n', the answer and '<|im_end|>'. Rows go through `distill train`'s
path (build_dataset: the data file, the Renderer, the tokenized rows) and its pre-flight."""

from __future__ import annotations

import json

import pytest

from distill.examples import Renderer, spans
from tests.test_examples import real_template_tokenizer

USER = {"role": "user", "content": "What is 1 + 1?"}
WITH_REASONING = {"role": "assistant", "content": "2", "reasoning_content": "one and one"}
WITHOUT_REASONING = {"role": "assistant", "content": "2"}


def train_rows(tmp_path, tok, rows):
    """[(full text, [each trained span's text])] of `distill train`'s tokenized rows, after its
    pre-flight (which raises on a problem)."""
    from distill.train import TrainConfig, build_dataset
    from distill.train.sft import show_examples

    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = TrainConfig(
        data=str(data),
        model=str(tmp_path / "student"),
        output_dir=str(tmp_path / "out"),
        max_length=512,
        show_example=len(rows),
    )
    ds, _ = build_dataset(cfg, tok)
    show_examples(cfg, tok, ds)
    return [
        (tok.decode(ids), [tok.decode(ids[a:b]) for a, b in spans(mask)])
        for ids, mask in zip(ds["input_ids"], ds["completion_mask"])
    ]


@pytest.fixture(scope="module")
def tok():
    return real_template_tokenizer("qwen3-thinking-2507")


def test_the_fixture_is_the_thinking_2507_template(tok):
    # the generation prompt opens the think block; a finished turn writes it too
    gen = tok.apply_chat_template([USER], tokenize=False, add_generation_prompt=True)
    assert gen.endswith("<|im_start|>assistant\n<think>\n")
    done = tok.apply_chat_template([USER, WITHOUT_REASONING], tokenize=False)
    assert done.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n2<|im_end|>\n")


@pytest.mark.parametrize("reply", [WITH_REASONING, WITHOUT_REASONING], ids=["reasoning", "none"])
def test_trained_text_is_the_finished_turn_after_the_generation_prompt(tmp_path, tok, reply):
    # The pre-fill went unseen (the finished turn writes '<think>\n' too): a row with reasoning
    # trained a second '<think>' (the pre-flight stopped the run), and one without trained the
    # bare answer inside the think block the prompt opened, never closing it.
    chat = [USER, reply]
    [(text, trained)] = train_rows(tmp_path, tok, [{"messages": chat}])
    gen = tok.apply_chat_template([USER], tokenize=False, add_generation_prompt=True)
    done = tok.apply_chat_template(chat, tokenize=False)
    assert done.startswith(gen)
    assert trained == [done[len(gen) :]]
    assert text == done
    assert text.count("<think>") == 1


def test_the_renderer_sees_the_prefill_and_no_empty_think_block_of_its_own(tok):
    r = Renderer(tok, "r1")
    assert r.prefill == "<think>\n"
    assert r.suffix == "<|im_end|>\n"


def test_a_chat_trains_each_turn_under_the_history_its_template_renders(tmp_path, tok):
    # the template drops the think block of turns before the last request: one row per turn,
    # each exactly the template's rendering of the chat up to that turn
    chat = [
        USER,
        WITH_REASONING,
        {"role": "user", "content": "And 2 + 2?"},
        {"role": "assistant", "content": "4", "reasoning_content": "two and two"},
    ]
    got = train_rows(tmp_path, tok, [{"messages": chat}])
    for (text, trained), end in zip(got, (2, 4)):
        gen = tok.apply_chat_template(chat[: end - 1], tokenize=False, add_generation_prompt=True)
        done = tok.apply_chat_template(chat[:end], tokenize=False)
        assert (text, trained) == (done, [done[len(gen) :]])
        assert text[len(gen) - len("<think>\n") :].count("<think>") == 1
    assert len(got) == 2
