"""--mask-truncated (TRL GRPO's mask_truncated_completions, DAPO's overlong filtering): an
on-policy sample that ran to --max-new-tokens without ending its turn gets no loss, and a batch
whose samples all ran on trains on its kept traces instead. Measured on make smoke-xtok seed 1:
a student that has not learned its end of turn samples run-on text at every on-policy step and
the teacher's scores of that text pulled it from 0.39 to 0.05 (README, "Any teacher")."""

import json

import pytest
import torch

from distill.train import build_trainer
from tests.test_kd import first_batch, kd_cfg
from tests.test_kd_reward import as_sampled

TEXT = "So it is 12"


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    """Another tiny Qwen2 (as tests/test_kd.py's): a teacher that disagrees."""
    from tests.tiny import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny-teacher"), "qwen2", seed=1)


def sampler(monkeypatch, tok, ends):
    """The student's samples, as GKD's generate_on_policy_outputs shapes them: row i is the
    tokens of TEXT, then EOS when ends[i] (it ended its turn), else one more token of text."""
    from trl.experimental.gkd import GKDTrainer

    def generate(model, inputs, generation_config):  # noqa: ARG001
        text = tok(TEXT, add_special_tokens=False)["input_ids"]
        more = tok("x", add_special_tokens=False)["input_ids"][:1]
        comps = [text + ([tok.eos_token_id] if e else more) for e in ends[: len(inputs["prompts"])]]
        return as_sampled(inputs, comps, tok.pad_token_id)

    monkeypatch.setattr(GKDTrainer, "generate_on_policy_outputs", staticmethod(generate))


def spy(trainer):
    """Every compute_loss call's inputs (labels, on_policy) and loss."""
    seen = []
    real = trainer.compute_loss

    def compute_loss(model, inputs, *a, **kw):
        seen.append({"labels": inputs["labels"].clone(), "on_policy": inputs.get("on_policy")})
        loss = real(model, inputs, *a, **kw)
        seen[-1]["loss"] = float(loss)
        return loss

    trainer.compute_loss = compute_loss
    return seen


def onpolicy(tmp_path, tiny_qwen, teacher, name, **kw):
    cfg = kd_cfg(tmp_path, tiny_qwen, method="onpolicy", teacher_model=str(teacher),
                 output_dir=str(tmp_path / name), per_device_train_batch_size=2,
                 max_new_tokens=8, lora_dropout=0.0, **kw)  # fmt: skip
    return build_trainer(cfg)


def test_a_run_on_sample_gets_no_loss_and_an_ended_one_keeps_its_own(
    tmp_path,
    tiny_qwen,
    teacher,
    monkeypatch,
):
    trainer, tok = onpolicy(tmp_path, tiny_qwen, teacher, "m", mask_truncated=True)
    sampler(monkeypatch, tok, ends=[True, False])
    seen = spy(trainer)
    trainer.current_gradient_accumulation_steps = 1  # set by the Trainer's loop
    trainer.training_step(trainer.model, first_batch(trainer, 2))
    labels = seen[0]["labels"]
    assert seen[0]["on_policy"] is True
    assert (labels[1] == -100).all()  # the run-on row: no teacher term, no reward term
    assert (labels[0] != -100).sum() == len(
        tok(TEXT, add_special_tokens=False)["input_ids"]
    ) + 1  # + EOS
    # the loss is the ended sample's alone (per-token mean over its tokens)
    from trl.experimental.gkd import GKDTrainer

    batch = first_batch(trainer, 2)
    ids, attn, full = GKDTrainer.generate_on_policy_outputs(None, batch, None)
    one = dict(batch, input_ids=ids[:1], attention_mask=attn[:1], labels=full[:1], on_policy=True)
    one = {k: v[:1] if isinstance(v, (torch.Tensor, list)) else v for k, v in one.items()}
    trainer.model.train()
    with torch.no_grad():
        alone = float(trainer.compute_loss(trainer.model, one))
    assert seen[0]["loss"] == pytest.approx(alone, rel=1e-5)


def test_without_the_flag_a_run_on_sample_is_scored(tmp_path, tiny_qwen, teacher, monkeypatch):
    trainer, tok = onpolicy(tmp_path, tiny_qwen, teacher, "d")
    sampler(monkeypatch, tok, ends=[True, False])
    seen = spy(trainer)
    trainer.current_gradient_accumulation_steps = 1  # set by the Trainer's loop
    trainer.training_step(trainer.model, first_batch(trainer, 2))
    assert (seen[0]["labels"][1] != -100).sum() == len(
        tok(TEXT, add_special_tokens=False)["input_ids"]
    ) + 1


def test_a_batch_of_run_on_samples_trains_on_its_kept_traces_and_is_counted(
    tmp_path,
    tiny_qwen,
    teacher,
    monkeypatch,
):
    trainer, tok = onpolicy(tmp_path, tiny_qwen, teacher, "f", mask_truncated=True, max_steps=2,
                            learning_rate=1e-3)  # fmt: skip
    sampler(monkeypatch, tok, ends=[False, False])
    seen = spy(trainer)
    data = trainer.data_collator(
        [trainer.train_dataset[i] for i in range(len(trainer.train_dataset))]
    )
    kept = {tuple(r[r != -100].tolist()) for r in data["labels"]}  # the traces' completions
    trainer.train()
    assert [s["on_policy"] for s in seen] == [False, False]  # lmbda 1, yet the traces' batches
    for s in seen:  # each row a kept completion, none the samples' text
        assert all(tuple(r[r != -100].tolist()) in kept for r in s["labels"])
    rows = [json.loads(x) for x in (tmp_path / "f" / "loss.jsonl").read_text().splitlines()]
    assert [r["onpolicy_fallback"] for r in rows] == [1, 1]
    assert [r["samples_ended"] for r in rows] == [0.0, 0.0]
    assert all(r["kl"] > 0 for r in rows)  # the teacher still scored the traces
