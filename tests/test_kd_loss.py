"""The memory-bounded kd/onpolicy loss (--loss-chunk-size): the LM head applied per chunk of
completion positions from the hidden states gives the full-logits loss and gradients."""

import pytest
import torch

from distill.errors import DistillError
from distill.train import build_trainer
from tests.test_kd import first_batch, kd_cfg, write_stored_logprobs


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    from tests.tiny import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny-teacher"), "qwen2", seed=1)


def loss_and_grads(trainer, batch, chunk):
    """The loss and every parameter's gradient of one compute_loss at this chunk size."""
    trainer.kd.loss_chunk_size = chunk
    model = trainer.model
    model.eval()  # no dropout: the two paths see the same network
    model.zero_grad(set_to_none=True)
    loss = trainer.compute_loss(model, dict(batch))
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return float(loss), grads


def assert_same(trainer, batch, chunk=5):
    tokens = int((batch["labels"][:, 1:] != -100).sum())
    assert tokens > 3 * chunk  # several chunks, the last one partial or not
    full, g_full = loss_and_grads(trainer, batch, 0)
    part, g_part = loss_and_grads(trainer, batch, chunk)
    assert full > 1e-3
    assert part == pytest.approx(full, abs=1e-5, rel=1e-5)
    assert g_full.keys() == g_part.keys()
    assert "lm_head.weight" in g_full and len(g_full) > 10  # the head and the body get gradients
    for name, g in g_full.items():
        assert torch.allclose(g_part[name], g, atol=1e-5, rtol=1e-4), name
    assert max(float(g.abs().max()) for g in g_full.values()) > 1e-4


@pytest.mark.parametrize(
    "kw",
    [
        dict(method="kd", kd_alpha=0.5, kd_temperature=2.0),
        dict(method="kd", kd_alpha=1.0, kd_temperature=0.7),
        dict(method="onpolicy", beta=0.0, kd_temperature=2.0),
        dict(method="onpolicy", beta=0.5, kd_temperature=1.0),
        dict(method="onpolicy", beta=1.0, kd_temperature=1.5),
    ],
    ids=["kd-a0.5-T2", "kd-a1-T0.7", "onpolicy-b0-T2", "onpolicy-b0.5", "onpolicy-b1-T1.5"],
)
def test_chunked_local_teacher_loss_and_grads_equal_the_full_logits(
    tmp_path, tiny_qwen, teacher, kw
):
    cfg = kd_cfg(tmp_path, tiny_qwen, teacher_model=str(teacher), lora=False, **kw)
    trainer = build_trainer(cfg)[0]
    assert_same(trainer, first_batch(trainer))


@pytest.mark.parametrize("temp", [1.0, 2.0])
def test_chunked_stored_topk_loss_and_grads_equal_the_full_logits(
    tmp_path, tiny_qwen, teacher, temp
):
    data = write_stored_logprobs(tmp_path, teacher, k=5)  # K << vocab: the rest bucket is used
    cfg = kd_cfg(tmp_path, tiny_qwen, data=str(data), kd_alpha=0.7, kd_temperature=temp, lora=False)
    trainer = build_trainer(cfg)[0]
    assert_same(trainer, first_batch(trainer))


def test_chunked_lora_student_gets_the_same_adapter_grads(tmp_path, tiny_qwen, teacher):
    cfg = kd_cfg(tmp_path, tiny_qwen, teacher_model=str(teacher), method="onpolicy", beta=0.5)
    trainer = build_trainer(cfg)[0]
    with torch.no_grad():  # B = 0 at init gives A no gradient: make the adapter do something
        for n, p in trainer.model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.05)
    batch = first_batch(trainer)
    trainer.kd.loss_chunk_size = 0
    full, g_full = loss_and_grads(trainer, batch, 0)
    part, g_part = loss_and_grads(trainer, batch, 4)
    assert part == pytest.approx(full, abs=1e-5, rel=1e-5)
    assert any("lora_A" in n for n in g_full) and g_full.keys() == g_part.keys()
    for name, g in g_full.items():
        assert torch.allclose(g_part[name], g, atol=1e-5, rtol=1e-4), name


def test_chunked_path_never_builds_full_vocabulary_logits(
    tmp_path, tiny_qwen, teacher, monkeypatch
):
    """Neither head ever sees more than one chunk of positions (the forward's own logits are one
    position per row), and the teacher's full-logits method is not called."""
    from distill.teachers.scorers import LocalTeacher

    cfg = kd_cfg(tmp_path, tiny_qwen, teacher_model=str(teacher), lora=False, kd_alpha=0.5)
    trainer = build_trainer(cfg)[0]

    def refuse(*a, **k):
        raise AssertionError("the chunked path asked the teacher for [B, L, V] logits")

    monkeypatch.setattr(LocalTeacher, "logits", refuse)
    rows: list[int] = []
    hooks = [
        m.get_output_embeddings().register_forward_hook(
            lambda mod, inp, out: rows.append(out.numel() // out.shape[-1])
        )
        for m in (trainer.model, trainer.teacher.model)
    ]
    batch = first_batch(trainer)
    try:
        loss_and_grads(trainer, batch, 6)
    finally:
        for h in hooks:
            h.remove()
    assert rows and max(rows) <= 6
    # every completion position went through both heads (once each, fused_head_loss)
    tokens = int((batch["labels"][:, 1:] != -100).sum())
    assert sum(r for r in rows if r != batch["input_ids"].shape[0]) >= 2 * tokens


def test_loss_chunk_size_is_checked(tmp_path, tiny_qwen):
    with pytest.raises(DistillError, match="--loss-chunk-size -1: must be >= 0"):
        kd_cfg(tmp_path, tiny_qwen, loss_chunk_size=-1)


# --------------------------------------------------------------------------- sft


def test_chunked_sft_loss_and_grads_equal_trls(tmp_path, tiny_qwen):
    """--method sft on CPU: ChunkedSFTTrainer gives TRL's SFTTrainer loss and gradients."""
    from distill.train.sft_loss import ChunkedSFTTrainer

    def step(chunk):
        cfg = kd_cfg(tmp_path, tiny_qwen, method="sft", lora=False, loss_chunk_size=chunk)
        trainer = build_trainer(cfg)[0]
        assert isinstance(trainer, ChunkedSFTTrainer) == bool(chunk)
        batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
        trainer.model.eval()
        loss = trainer.compute_loss(trainer.model, dict(batch))
        loss.backward()
        grads = {n: p.grad for n, p in trainer.model.named_parameters() if p.grad is not None}
        return float(loss), grads, int((batch["labels"] != -100).sum())

    full, g_full, tokens = step(0)
    part, g_part, _ = step(5)
    assert tokens > 15 and full > 1.0
    assert part == pytest.approx(full, abs=1e-5, rel=1e-5)
    assert g_full.keys() == g_part.keys() and "lm_head.weight" in g_full
    for name, g in g_full.items():
        assert torch.allclose(g_part[name], g, atol=1e-5, rtol=1e-4), name


@pytest.mark.parametrize("family", ["granite", "cohere", "gemma2"])
def test_the_chunked_head_computes_the_models_own_logits(family):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from distill.train.kd.loss import lm_head

    extra = {
        "granite": {"logits_scaling": 4.0},
        "cohere": {"logit_scale": 0.25},
        "gemma2": {"final_logit_softcapping": 3.0, "head_dim": 8},
    }[family]
    config = AutoConfig.for_model(
        family, vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=4, num_key_value_heads=2, **extra,
    )  # fmt: skip
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config).eval()
    ids = torch.randint(0, 64, (1, 7))
    with torch.no_grad():
        out = model(ids, output_hidden_states=True)
        assert torch.allclose(lm_head(model)(out.hidden_states[-1]), out.logits, atol=1e-5)


# --------------------------------------------------------------------------- fused


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("temp", [1.0, 2.0])
def test_fused_head_loss_matches_autograd_through_trls_jsd(beta, temp):
    """fused_head_loss's analytic gradients (h, the head's weight and bias) equal autograd's
    through TRL's generalized_jsd_loss + cross-entropy + the pg term, with a teacher whose
    vocabulary is shorter than the student's (the padding columns get only CE's gradient)."""
    from distill.train.kd import loss as kd_loss

    torch.manual_seed(0)
    n, hid, vocab = 37, 8, 50
    head = torch.nn.Linear(hid, vocab)
    t_head = torch.nn.Linear(hid, vocab - 3).requires_grad_(False)
    h = torch.randn(n, hid, requires_grad=True)
    t_rows = torch.randn(n, hid)
    y = torch.randint(0, vocab, (n,))
    adv = torch.randn(n)
    gate = (torch.rand(n) > 0.2).float()
    coef = (0.7, 0.4, 0.3)

    logits = head(h)
    v = vocab - 3
    s_lp = torch.log_softmax(logits[:, :v] / temp, -1)
    t_lp = torch.log_softmax(t_head(t_rows) / temp, -1)
    kl = (kd_loss.divergence(s_lp, t_lp, beta) * gate).sum()
    nll = torch.nn.functional.cross_entropy(logits, y, reduction="none")
    ref = coef[0] * kl + coef[1] * nll.sum() + coef[2] * (adv * nll).sum()
    want = torch.autograd.grad(ref, [h, head.weight, head.bias])

    old = kd_loss.BLOCK
    kd_loss.BLOCK = 4 * vocab  # 4 rows a block: several per chunk, the last one partial
    try:
        loss, parts = kd_loss.fused_head_loss(
            h, head, y, adv, gate, coef, 10, teacher=(t_rows, t_head, v), beta=beta,
            temperature=temp,
        )  # fmt: skip
        with torch.no_grad():  # evaluation: the values alone, no gradient pass
            loss_eval, _ = kd_loss.fused_head_loss(
                h, head, y, adv, gate, coef, 10, teacher=(t_rows, t_head, v), beta=beta,
                temperature=temp,
            )  # fmt: skip
    finally:
        kd_loss.BLOCK = old
    assert float(loss) == pytest.approx(float(ref), rel=1e-6, abs=1e-5)
    assert float(loss_eval) == pytest.approx(float(loss), rel=1e-6, abs=1e-6)
    assert float(parts[0]) == pytest.approx(float(kl), rel=1e-6, abs=1e-5)
    assert float(parts[1]) == pytest.approx(float(nll.sum()), rel=1e-6, abs=1e-5)
    (2.0 * loss).backward()  # the upstream gradient scales all three
    for got, w in zip((h.grad, head.weight.grad, head.bias.grad), want, strict=True):
        assert torch.allclose(got, 2.0 * w, atol=1e-5, rtol=1e-4)
    assert float(want[1].abs().max()) > 1e-3


def test_fused_local_teacher_loss_applies_each_head_once_per_position(tmp_path, tiny_qwen, teacher):
    """A local teacher's chunked loss takes its gradient in the forward (fused_head_loss): the
    student's head sees each completion position once, not again in a recomputing backward."""
    cfg = kd_cfg(tmp_path, tiny_qwen, teacher_model=str(teacher), lora=False, kd_alpha=0.5)
    trainer = build_trainer(cfg)[0]
    rows: list[int] = []
    hook = trainer.model.get_output_embeddings().register_forward_hook(
        lambda mod, inp, out: rows.append(out.numel() // out.shape[-1])
    )
    batch = first_batch(trainer)
    try:
        loss_and_grads(trainer, batch, 6)
    finally:
        hook.remove()
    tokens = int((batch["labels"][:, 1:] != -100).sum())
    assert sum(r for r in rows if r != batch["input_ids"].shape[0]) == tokens
