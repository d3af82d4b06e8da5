"""kd from a teacher of another tokenizer (distill/train/kd/xtok.py) renders each example in the
TEACHER's chat template too: a refusal there names the teacher's template, not the student's."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from distill.errors import DistillError
from tests.test_review_train_sft import gemma3_tokenizer
from tests.tiny import make_tokenizer

GREETING_FIRST = {
    "conversations": [
        {"from": "gpt", "value": "Hello!"},
        {"from": "human", "value": "1+1?"},
        {"from": "gpt", "value": "2"},
    ]
}


def gemma_teacher(tok=None):
    """What xtok_dataset reads of a local XTokTeacher before it aligns anything."""
    if tok is None:
        tok, eot = gemma3_tokenizer()
    else:
        eot = tok.eos_token_id
    model = SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=eot))
    return SimpleNamespace(
        local=SimpleNamespace(model=model), tok=tok, name="gemma", pair_ends=lambda *a: None
    )


def kd_cfg(tmp_path):
    from distill.train import TrainConfig

    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps(GREETING_FIRST) + "\n")
    return TrainConfig(
        data=str(data),
        model=str(tmp_path / "student"),
        output_dir=str(tmp_path / "out"),
        max_length=512,
    )


def test_a_chat_the_teachers_template_refuses_names_the_teacher(tmp_path):
    # A ChatML student renders a ShareGPT greeting first; a Gemma teacher's template raises
    # 'roles must alternate'. 2a4aa0f's line said "the student's chat template refuses this chat",
    # sending the user to fix a template that took the row.
    from distill.train.kd.xtok import xtok_dataset

    cfg = kd_cfg(tmp_path)
    with pytest.raises(DistillError) as e:
        xtok_dataset(cfg, make_tokenizer("qwen2"), None, gemma_teacher())
    msg = str(e.value)
    assert msg.startswith(f"{cfg.data} row 1: the teacher's chat template refuses this chat")
    assert "student" not in msg and "roles must alternate" in msg and "\n" not in msg


def test_a_teacher_without_a_chat_template_is_named_as_the_teacher(tmp_path):
    from distill.train.kd.xtok import xtok_dataset

    bare = make_tokenizer("qwen2")
    bare.chat_template = None
    with pytest.raises(DistillError, match="^the teacher's tokenizer has no chat template"):
        xtok_dataset(kd_cfg(tmp_path), make_tokenizer("qwen2"), None, gemma_teacher(bare))


def test_the_students_refusal_still_names_the_student(tmp_path):
    from distill.examples import Renderer, load_examples, tokenize_examples

    tok, eot = gemma3_tokenizer()
    cfg = kd_cfg(tmp_path)
    with pytest.raises(DistillError, match="row 1: the student's chat template refuses this chat"):
        tokenize_examples(load_examples(cfg.data), Renderer(tok, "r1", [eot]), 512)
