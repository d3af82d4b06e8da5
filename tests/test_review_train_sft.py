"""Second read of SFT's training data: the tokens the student's loss is on, as the real chat
templates (tests/fixtures/chat_templates) and TRL's SFTTrainer render them."""

from __future__ import annotations

import pytest

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


# =========================================================================== counts


def _r1_chat(second_user: str) -> Example:
    return Example(
        prompt=[
            USER,
            {"role": "assistant", "content": "2"},
            {"role": "user", "content": second_user},
        ],
        completion="4",
    )


@pytest.mark.parametrize("overlong", ["drop", "truncate"])
def test_counts_are_examples_when_a_chat_trains_one_row_per_turn(overlong):
    # R1-Distill renders every turn of a chat as its own row: the counts train_data.json, the train
    # line and the card give as examples counted rows ("1 example trained on (3 dropped as too
    # long)" from 2 chats); a chat that lost a turn to max_length said nothing.
    tok = real_template_tokenizer("deepseek-r1-distill-qwen")
    fits = _r1_chat("And 2 + 2?")
    half = _r1_chat("And 2 + 2? " + "0 1 2 3 " * 60)  # turn 1 fits, turn 2's row does not
    long = Example(prompt=[{"role": "user", "content": "q " * 300}], completion="4")  # no row fits
    cols, st = tokenize_examples([fits, half, long], Renderer(tok, "r1"), 128, overlong)
    assert st.examples == 3 == st.kept + st.dropped_overlong + st.dropped_all_masked
    assert (st.kept, st.sequences, st.turns, st.turns_left_out) == (2, 3, 3, 1)
    assert (st.dropped_overlong, st.dropped_all_masked) == (
        (1, 0) if overlong == "drop" else (0, 1)
    )
    assert len(cols["input_ids"]) == 3


# =========================================================================== refusals


def gemma3_tokenizer():
    """A tiny tokenizer wearing distill's Gemma-3 template (builtin:gemma3-270m's)."""
    from pathlib import Path

    from tests.tiny import make_tokenizer

    tok = make_tokenizer("qwen2")
    tok.add_special_tokens(
        {
            "bos_token": "<bos>",
            "eos_token": "<eos>",
            "additional_special_tokens": ["<start_of_turn>", "<end_of_turn>"],
        }
    )
    tok.chat_template = (
        Path(__file__).parent.parent / "distill" / "chat_templates" / "gemma3.jinja"
    ).read_text()
    return tok, tok.convert_tokens_to_ids("<end_of_turn>")


def test_a_chat_the_template_refuses_is_one_line_naming_the_row(tmp_path):
    # Gemma's template raises on roles that do not alternate (a ShareGPT greeting first, two
    # user turns): the run stopped on jinja's 'TemplateError: Conversation roles must
    # alternate', naming neither the row nor what to do.
    import json

    from distill.errors import DistillError
    from distill.examples import load_examples

    tok, eot = gemma3_tokenizer()
    rows = [
        {"conversations": [{"from": "human", "value": "1+1?"}, {"from": "gpt", "value": "2"}]},
        {
            "conversations": [
                {"from": "gpt", "value": "Hello!"},
                {"from": "human", "value": "1+1?"},
                {"from": "gpt", "value": "2"},
            ]
        },
    ]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DistillError) as e:
        tokenize_examples(load_examples(str(data)), Renderer(tok, "r1", [eot]), 512)
    assert str(e.value).startswith(f"{data} row 2: the student's chat template refuses this chat")
    assert "roles must alternate" in str(e.value) and "\n" not in str(e.value)
    assert "assistant, user" in str(e.value)


# =========================================================================== CPU sft loss


@pytest.mark.parametrize("packing", [False, True])
def test_chunked_sft_logs_the_metrics_trl_logs(tmp_path, tiny_qwen, packing):
    # ChunkedSFTTrainer (sft on CPU, the default --loss-chunk-size) counted num_tokens only from
    # an attention_mask: packed (padding-free) batches have none, so loss.jsonl's num_tokens
    # stayed unlogged under --packing, where TRL counts the packed row's positions.
    from distill.train import build_trainer
    from tests.test_kd import kd_cfg

    def metrics(chunk):
        cfg = kd_cfg(
            tmp_path, tiny_qwen, method="sft", lora=False, loss_chunk_size=chunk, packing=packing
        )
        trainer = build_trainer(cfg)[0]
        batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
        trainer.model.train()
        trainer.compute_loss(trainer.model, dict(batch))
        return {k: v[-1] for k, v in trainer._metrics["train"].items()}

    trl, chunked = metrics(0), metrics(5)
    assert chunked.keys() == trl.keys() and trl["num_tokens"] > 0
    assert chunked["num_tokens"] == trl["num_tokens"]
    for key in ("mean_token_accuracy", "entropy"):
        assert chunked[key] == pytest.approx(trl[key], rel=1e-4, abs=1e-5)
