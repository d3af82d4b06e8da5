"""Second read of session 12's trimmed replies (280023c: the student's template writes
`content | trim`, and distill trains the reply so): what reads that completion beside another
rendering of it.

    .venv/bin/python -m pytest tests/test_trimmed_replies_s12.py -q
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from tests.test_datasets import template_tokenizer
from tests.test_review_train_sft import gemma3_tokenizer


def local_teacher(tok):
    """What xtok_dataset reads of a local XTokTeacher (its model is never run here)."""
    model = SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=tok.eos_token_id))
    return SimpleNamespace(
        local=SimpleNamespace(model=model),
        tok=tok,
        name="smollm2",
        pair_ends=lambda *a: None,
        t_vocab=len(tok),
        shared=0,
        kind="uld",
    )


def compared(tmp_path, answer):
    """How many of the trace's completion tokens a Gemma-3 student compares with a SmolLM2
    teacher (kd across tokenizers), and how many it trains."""
    from distill.train import TrainConfig
    from distill.train.kd.xtok import xtok_dataset

    data = tmp_path / "kept.jsonl"
    chat = [
        {"role": "user", "content": "What is 12 + 34?"},
        {"role": "assistant", "content": answer},
    ]
    data.write_text(json.dumps({"messages": chat}) + "\n")
    cfg = TrainConfig(
        data=str(data),
        model=str(tmp_path / "student"),
        output_dir=str(tmp_path / "out"),
        max_length=512,
        method="kd",
        teacher_model="teacher",
    )
    stok, eot = gemma3_tokenizer()
    ds, _ = xtok_dataset(cfg, stok, eot, local_teacher(template_tokenizer("smollm2")))
    pos = ds[0]["xtok_pos"]
    return sum(p >= 0 for p in pos), len(pos)


@pytest.mark.parametrize("answer", ["\nThe answer is 46.", " The answer is 46.\n"])
def test_a_reply_one_template_trims_is_compared_across_tokenizers(tmp_path, answer):
    # Gemma's template trims the reply, SmolLM2's writes it as it is: the student's text was
    # "The answer..." and the teacher's "\nThe answer...", which share no first character, so
    # the whole completion paired nothing but its first token (kd: 1 of 8 tokens compared)
    # the first token only may pair nothing: the teacher's (" The") starts in the whitespace
    n, of = compared(tmp_path, answer)
    trimmed, _ = compared(tmp_path, "The answer is 46.")
    assert trimmed == of - 1 and n >= trimmed - 1, (n, of)


# =========================================================================== content parts (1da60b2)


def test_a_text_part_without_text_is_refused_as_such(tmp_path):
    # a {"type": "text"} part whose text is missing or null was refused as "a content part of
    # type 'text'; distill trains text only", which names the one type distill reads
    from distill.errors import DistillError
    from distill.examples import load_examples

    data = tmp_path / "d.jsonl"
    user = {"role": "user", "content": [{"type": "text", "text": None}]}
    data.write_text(json.dumps({"messages": [user, {"role": "assistant", "content": "4"}]}) + "\n")
    with pytest.raises(DistillError) as e:
        list(load_examples(str(data)))
    assert "messages[0] (user) has a text part whose 'text' is null" in str(e.value)
    assert "of type 'text'" not in str(e.value)
