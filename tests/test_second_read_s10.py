"""Second read of train --mask-truncated (aeb0df2): what a batch of run-on samples trains on when
there are no kept traces to fall back to, and the flag outside --method onpolicy."""

import json

import pytest

from distill.errors import DistillError
from distill.train import build_trainer
from tests.test_kd import kd_cfg
from tests.test_kd_mask_truncated_s10 import sampler, spy, teacher  # noqa: F401 - the fixture


def test_a_prompt_source_has_no_traces_to_fall_back_to_and_counts_no_fallback(
    tmp_path,
    tiny_qwen,
    teacher,  # noqa: F811
    monkeypatch,
):
    """On prompts alone (lmbda 1) the 'kept traces' batch is the prompts with no completion: the
    fallback trained nothing and loss.jsonl still counted onpolicy_fallback 1 at every step."""
    data = tmp_path / "prompts.jsonl"
    rows = [{"messages": [{"role": "user", "content": f"What is {i} + {i}?"}]} for i in range(4)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = kd_cfg(tmp_path, tiny_qwen, data=str(data), method="onpolicy",
                 teacher_model=str(teacher), output_dir=str(tmp_path / "p"),
                 per_device_train_batch_size=2, max_new_tokens=8, lora_dropout=0.0,
                 mask_truncated=True, max_steps=2)  # fmt: skip
    trainer, tok = build_trainer(cfg)
    sampler(monkeypatch, tok, ends=[False, False])
    seen = spy(trainer)
    trainer.train()
    assert [s["on_policy"] for s in seen] == [True, True]  # the samples' batch, all masked
    assert all((s["labels"] == -100).all() for s in seen)
    out = [json.loads(x) for x in (tmp_path / "p" / "loss.jsonl").read_text().splitlines()]
    assert [r["onpolicy_fallback"] for r in out] == [0, 0]
    assert [r["samples_ended"] for r in out] == [0.0, 0.0]


@pytest.mark.parametrize("method", ["kd", "sft"])
def test_mask_truncated_outside_onpolicy_is_refused(tmp_path, tiny_qwen, method):
    """It masks the student's samples: kd/sft have none, and the run took the flag, did nothing
    and listed mask_truncated True in the model card."""
    kw = {"teacher_model": str(tiny_qwen)} if method == "kd" else {}
    with pytest.raises(DistillError, match="--mask-truncated: for --method onpolicy"):
        kd_cfg(tmp_path, tiny_qwen, method=method, mask_truncated=True, **kw)
