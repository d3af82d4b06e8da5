"""On-policy loss under gradient accumulation: the mean over every token the student sampled in
the optimizer step, as one batch of them all gives (not the mean of each micro-batch's mean)."""

import pytest
import torch
from trl.experimental.gkd import GKDTrainer

from distill.train import build_trainer
from tests.test_kd import kd_cfg


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    from tests.tiny import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny-teacher"), "qwen2", seed=1)


def step_grads(trainer, batches):
    """The gradients of one optimizer step over these micro-batches, as the Trainer's loop runs
    it (get_batch_samples, then training_step per micro-batch)."""
    trainer.model.zero_grad(set_to_none=True)
    got, n = trainer.get_batch_samples(iter(batches), len(batches), "cpu")
    trainer.current_gradient_accumulation_steps = len(got)
    for b in got:
        trainer.training_step(trainer.model, b, n)
    return {k: p.grad.clone() for k, p in trainer.model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_two_accumulated_onpolicy_micro_batches_train_as_one_batch(
    tmp_path, tiny_qwen, teacher, monkeypatch, beta
):
    # The student's "samples": a short one alone, two long ones together (the kept traces'
    # completions, so that the two runs sample the same tokens).
    def traces(model, inputs, config):
        return inputs["input_ids"], inputs["attention_mask"], inputs["labels"]

    monkeypatch.setattr(GKDTrainer, "generate_on_policy_outputs", staticmethod(traces))
    cfg = kd_cfg(
        tmp_path, tiny_qwen, teacher_model=str(teacher), method="onpolicy", lmbda=1.0,
        beta=beta, lora=False,
    )  # fmt: skip
    trainer = build_trainer(cfg)[0]
    for m in trainer.model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    feats = [trainer.train_dataset[i] for i in (0, 5, 6)]
    tokens = [sum(f["completion_mask"]) for f in feats]
    collate = trainer.data_collator
    one = step_grads(trainer, [collate(feats)])
    # a first micro-batch of 1 sequence, a second of 2: a step of 3 samples
    two = step_grads(trainer, [collate(feats[:1]), collate(feats[1:])])
    assert 2 * tokens[0] < sum(tokens)  # a third of the tokens: micro-batch means gave it half
    assert one.keys() == two.keys() and "lm_head.weight" in one
    for name, g in one.items():
        assert torch.allclose(two[name], g, atol=1e-6, rtol=1e-4), name
    assert max(float(g.abs().max()) for g in one.values()) > 1e-5
