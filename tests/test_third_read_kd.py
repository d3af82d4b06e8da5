"""Third read of token-level distillation (distill/train/kd/, distill/logprobs.py): the numbers
the loss and its logs hold, computed by hand on tiny tensors where they can be."""

import pytest
import torch

from distill.train import build_trainer
from tests.test_kd import first_batch, kd_cfg, teacher  # noqa: F401 - the fixture


def test_logged_kl_and_ce_under_several_processes_are_the_per_token_means(
    tmp_path,
    tiny_qwen,
    teacher,
    monkeypatch,  # noqa: F811
):
    """Off policy under N processes the Trainer's token count is global and the loss is
    multiplied back by N (DDP averages the gradients); the kl and ce loss.jsonl logs were the
    same sums divided by the global count and never multiplied back: 1/N of the per-token means
    on N GPUs (kl 0.5 on one GPU read 0.0625 on eight) beside a loss that was right."""
    trainer = build_trainer(kd_cfg(tmp_path, tiny_qwen, teacher_model=str(teacher)))[0]
    batch = first_batch(trainer)
    trainer.model.eval()

    def logged(processes):
        monkeypatch.setattr(
            type(trainer.accelerator), "num_processes", property(lambda s: processes)
        )
        items = int((batch["labels"][:, 1:] != -100).sum()) * processes
        trainer._sums = {"kl": 0.0, "ce": 0.0, "n": 0}
        with torch.no_grad():
            loss = float(trainer.compute_loss(trainer.model, dict(batch), num_items_in_batch=items))
        return loss, trainer._sums["kl"], trainer._sums["ce"]

    one, two = logged(1), logged(2)
    assert two == pytest.approx(one, rel=1e-6)
    loss, kl, ce = one
    assert loss == pytest.approx(0.5 * kl + 0.5 * ce, rel=1e-6)  # kd_alpha 0.5, T = 1
