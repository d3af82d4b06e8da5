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


def test_the_reward_of_samples_that_fell_back_is_logged_at_their_own_step(
    tmp_path, tiny_qwen, monkeypatch
):
    """--reward + --mask-truncated: a batch that fell back to the traces had its samples verified
    but ran no pg term, and log() reported the reward only with a pg term: steps 1-2's rewards
    (wrong, run-on samples: 0) went unlogged and into step 3's mean (1/3 for its right ones)."""
    from trl.experimental.gkd import GKDTrainer

    from tests.test_kd_reward import as_sampled, cfg_of
    from tests.test_train import kept_file

    cfg = cfg_of(tmp_path, tiny_qwen, tiny_qwen, data=str(kept_file(tmp_path, n=8)),
                 mask_truncated=True, max_steps=3)  # fmt: skip
    trainer, tok = build_trainer(cfg)
    steps = []

    def generate(model, inputs, generation_config):  # noqa: ARG001
        steps.append(1)
        last = len(steps) == 3  # steps 1-2: wrong and run on; step 3: right and ended
        comps = [
            tok(f"\\boxed{{{g if last else -1}}}", add_special_tokens=False)["input_ids"]
            + ([tok.eos_token_id] if last else [])
            for g in inputs["gold"]
        ]
        return as_sampled(inputs, comps, tok.pad_token_id)

    monkeypatch.setattr(GKDTrainer, "generate_on_policy_outputs", staticmethod(generate))
    trainer.train()
    rows = [json.loads(x) for x in (tmp_path / "out" / "loss.jsonl").read_text().splitlines()]
    assert [r["onpolicy_fallback"] for r in rows] == [1, 1, 0]
    assert [r.get("reward") for r in rows] == [0.0, 0.0, 1.0]
    assert "pg" not in rows[0] and "pg" in rows[2]  # no pg term trained at steps 1-2
