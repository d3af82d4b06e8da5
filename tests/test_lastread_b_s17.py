"""A last read of session 17's second fixes (47ebc60, ...).

- 47ebc60 refuses a served teacher of another tokenizer whose server puts its BOS before a text
  asked `add_special_tokens: false` (SGLang's completions endpoint has no such field). Its probe
  sent its text so whatever the run's rows ask: a run whose every prompt is sent with the field
  true (--format alpaca, raw text rows: no template writes their BOS, so the server's BOS is the
  one the teacher reads) was refused on such a server before it scored anything.

    .venv/bin/python -m pytest tests/test_lastread_b_s17.py -q
"""

from __future__ import annotations

import pytest


def test_a_server_that_always_adds_bos_scores_alpaca_rows_and_refuses_chats(
    tmp_path, tiny_qwen, tiny_llama
):
    from distill.errors import DistillError
    from distill.train import build_trainer
    from distill.train.kd.xtok import ServedXTok
    from tests.test_kd import kd_cfg
    from tests.xtokserver import TextScoringServer

    srv = TextScoringServer(str(tiny_llama), str(tiny_llama), honours_special=False).start()
    try:
        # alpaca rows are sent with add_special_tokens true: the server's BOS is the one asked
        kw = dict(teacher_url=srv.url, teacher_model=str(tiny_llama))
        trainer = build_trainer(kd_cfg(tmp_path, tiny_qwen, format="alpaca", **kw))[0]
        assert isinstance(trainer.teacher, ServedXTok)
        assert any(any(t >= 0 for t in pos) for pos in trainer.train_dataset[0]["teacher_ids"])
        # a rendered chat (its template writes BOS) is still refused, before training
        with pytest.raises(DistillError, match=r"though asked add_special_tokens false"):
            build_trainer(kd_cfg(tmp_path, tiny_qwen, **kw))
        # on policy from a prompt source alike: its prompts' rows, before any sample is drawn
        kw.update(method="onpolicy", data="builtin:arithmetic?n=4", max_new_tokens=6)
        build_trainer(kd_cfg(tmp_path, tiny_qwen, format="alpaca", **kw))
        with pytest.raises(DistillError, match=r"though asked add_special_tokens false"):
            build_trainer(kd_cfg(tmp_path, tiny_qwen, **kw))
    finally:
        srv.stop()
