# ruff: noqa: F811 - the teacher fixture, imported from tests/test_kd.py
"""Third read of token-level distillation (distill/train/kd/, distill/logprobs.py): the numbers
the loss and its logs hold, computed by hand on tiny tensors where they can be."""

import math

import pytest
import torch

from distill.train import build_trainer
from tests.test_kd import first_batch, kd_cfg, teacher  # noqa: F401 - the fixture


def test_logged_kl_and_ce_under_several_processes_are_the_per_token_means(
    tmp_path,
    tiny_qwen,
    teacher,
    monkeypatch,
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


def _hand_kd(logits, labels, t_ids, t_lps, alpha, temp):
    """kd's loss by hand, one position at a time in float64: alpha * T^2 * KL(teacher || student)
    over the teacher's listed tokens + the rest bucket (the teacher's p_i^(1/T) and its leftover
    mass raised the same way, renormalised; the student's exact softmax(z / T) gathered, its rest
    1 - their sum) + (1 - alpha) * cross-entropy at T = 1, each a mean over completion tokens."""
    kl = ce = 0.0
    n = 0
    for b in range(labels.shape[0]):
        for i in range(1, labels.shape[1]):
            y = int(labels[b, i])
            if y == -100:
                continue
            n += 1
            z = logits[b, i - 1].double()
            ce += float(torch.logsumexp(z, -1) - z[y])
            listed = [(int(t), float(v)) for t, v in zip(t_ids[b, i], t_lps[b, i]) if t >= 0]
            if not listed:
                continue
            q_all = torch.softmax(z / temp, -1)
            p = [math.exp(v) ** (1 / temp) for _, v in listed]
            p.append(max(0.0, 1 - sum(math.exp(v) for _, v in listed)) ** (1 / temp))
            p = [x / sum(p) for x in p]
            q = [float(q_all[t]) for t, _ in listed]
            q.append(1 - sum(q))
            kl += sum(pi * math.log(pi / qi) for pi, qi in zip(p, q) if pi > 0)
    return alpha * temp**2 * kl / n + (1 - alpha) * ce / n, kl / n, ce / n


@pytest.mark.parametrize("chunk", [0, 2])
def test_kd_on_stored_topk_is_the_hand_computed_mix_at_temperature_2(
    tmp_path, tiny_qwen, teacher, chunk
):
    """Stored top-K of two widths (4 and 8: the narrower padded with id -1), T = 2, kd_alpha 0.3:
    the loss is alpha T^2 KL + (1 - alpha) CE computed position by position by hand."""
    from tests.test_kd import write_stored_logprobs

    data = write_stored_logprobs(tmp_path, teacher, k=4, k_odd=8)
    cfg = kd_cfg(
        tmp_path, tiny_qwen, data=str(data), kd_alpha=0.3, kd_temperature=2.0,
        loss_chunk_size=chunk,
    )  # fmt: skip
    trainer = build_trainer(cfg)[0]
    batch = first_batch(trainer)
    assert (batch["teacher_ids"] < 0).any()  # a padded row is in the batch
    trainer.model.eval()
    trainer._sums = {"kl": 0.0, "ce": 0.0, "n": 0}
    with torch.no_grad():
        got = float(trainer.compute_loss(trainer.model, dict(batch)))
        logits = trainer.model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        ).logits
    want, kl, ce = _hand_kd(
        logits, batch["labels"], batch["teacher_ids"], batch["teacher_logprobs"], 0.3, 2.0
    )
    assert got == pytest.approx(want, rel=1e-4)
    assert trainer._sums["kl"] == pytest.approx(kl, rel=1e-4)
    assert trainer._sums["ce"] == pytest.approx(ce, rel=1e-4)


@pytest.mark.parametrize(("overlong", "max_length"), [("truncate", 40), ("drop", 50)])
def test_the_printed_stored_topk_count_is_of_the_completions_kept(
    tmp_path, tiny_qwen, teacher, capsys, overlong, max_length
):
    """`kd: stored teacher top-K on N completion tokens (A aligned, R realigned)` counted the
    records before --max-length cut or dropped them: the tokens cut off and the examples dropped
    were still in N (and in A), beside a kd.json / loss.jsonl count of the positions trained."""
    import re

    from tests.test_kd import write_stored_logprobs

    data = write_stored_logprobs(tmp_path, teacher, k=4)
    cfg = kd_cfg(tmp_path, tiny_qwen, data=str(data), max_length=max_length, overlong=overlong)
    trainer = build_trainer(cfg)[0]
    out = capsys.readouterr().out
    m = re.search(r"stored teacher top-K on ([\d,]+) completion tokens \((\d+) examples aligned "
                  r"as tokenized, (\d+) via", out)  # fmt: skip
    ds = trainer.train_dataset
    listed = sum(sum(1 for row in ex if row[0] >= 0) for ex in ds["teacher_ids"])
    assert 1 <= len(ds) < 8 if overlong == "drop" else len(ds) == 8
    assert listed > 0
    assert int(m.group(1).replace(",", "")) == listed
    assert int(m.group(2)) + int(m.group(3)) == len(ds)


def test_the_onpolicy_card_names_the_temperature_its_divergence_was_taken_at():
    """--method onpolicy with --kd-temperature 2 compares the student and teacher softened at
    T = 2 (trainer.compute_loss; no T^2 factor on policy): the card's loss line left T out, so
    its formula was another run's loss."""
    from types import SimpleNamespace

    from distill.train.kd import card_lines

    train = SimpleNamespace(
        method="onpolicy", teacher_model="T", teacher_url=None, beta=1.0, lmbda=1.0,
        kd_temperature=2.0, kd_alpha=0.5, reward="none", teacher_route_field=None,
    )  # fmt: skip
    line = card_lines(train, {"teacher_tokens_scored": 10})[0]
    assert "generalized JSD with beta=1.0" in line and "T=2" in line
    train.kd_temperature = 1.0
    assert "T=" not in card_lines(train, None)[0]
