"""fused_head_loss (kd/loss.py) against autograd at its edges: no rows, fp16 autocast with a loss
scale, a head with dropout."""

import pytest
import torch

from distill.train.kd import loss as kd_loss


def test_no_rows_give_the_head_zero_gradients_as_chunked_sum():
    """A micro-batch without completion tokens: autograd through chunked_sum gives the head's
    parameters zero gradients; None instead leaves DDP's reducer waiting for them."""
    torch.manual_seed(0)
    head = torch.nn.Linear(8, 20)
    h = torch.randn(0, 8, requires_grad=True)
    y, adv, gate = torch.zeros(0, dtype=torch.long), torch.zeros(0), torch.ones(0)
    t_head = torch.nn.Linear(8, 20).requires_grad_(False)
    loss, parts = kd_loss.fused_head_loss(
        h, head, y, adv, gate, (0.5, 0.5, 0.1), 4, teacher=(torch.randn(0, 8), t_head, 20)
    )
    loss.backward()
    assert float(loss) == 0.0 and parts.tolist() == [0.0, 0.0, 0.0]
    assert h.grad is not None and h.grad.shape == (0, 8)
    for p in head.parameters():
        assert p.grad is not None and not p.grad.any()


def test_fp16_autocast_gradients_survive_as_under_a_loss_scale():
    """fp16 AMP: the logits' gradient (coef / tokens x probabilities) is computed in forward,
    before GradScaler's scale: cast to fp16 as it is, most of it underflows in the head's backward.
    The fused gradients must be as close to fp32's as autograd's under the same loss scale."""
    torch.manual_seed(0)
    n, hid, vocab, tokens = 64, 32, 4000, 4000.0
    head = torch.nn.Linear(hid, vocab, bias=False)
    t_head = torch.nn.Linear(hid, vocab, bias=False).requires_grad_(False)
    with torch.no_grad():  # peaked distributions: many tiny probabilities
        head.weight.mul_(8)
        t_head.weight.mul_(8)
    h0, t_rows = torch.randn(n, hid), torch.randn(n, hid)
    y, adv, gate = torch.randint(0, vocab, (n,)), torch.zeros(n), torch.ones(n)
    coef, scale = (0.5 / tokens, 0.5 / tokens, 0.0), 65536.0

    def grads(fused, amp):
        head.zero_grad(set_to_none=True)
        h = h0.clone().requires_grad_(True)
        with torch.autocast("cpu", dtype=torch.float16, enabled=amp):
            if fused:
                loss = kd_loss.fused_head_loss(
                    h, head, y, adv, gate, coef, 16, teacher=(t_rows, t_head, vocab)
                )[0]
            else:
                logits = head(h).float()
                s_lp = torch.log_softmax(logits, -1)
                t_lp = torch.log_softmax(t_head(t_rows).float(), -1)
                kl = kd_loss.divergence(s_lp, t_lp, 0.0).sum()
                ce = torch.nn.functional.cross_entropy(logits, y, reduction="sum")
                loss = coef[0] * kl + coef[1] * ce
        (loss * scale).backward()  # GradScaler's scaled loss
        return h.grad / scale, head.weight.grad / scale

    true_h, true_w = grads(fused=False, amp=False)
    ref_h, ref_w = grads(fused=False, amp=True)
    got_h, got_w = grads(fused=True, amp=True)

    def err(a, b):
        return float((a - b).norm() / b.norm())

    assert err(got_w, true_w) <= 1.3 * err(ref_w, true_w)
    assert err(got_h, true_h) <= 1.3 * err(ref_h, true_h)
    assert float((got_w == 0).float().mean()) < 1e-3  # no vocabulary row's gradient flushed to 0


def test_a_head_with_dropout_gets_the_gradient_of_the_loss_it_returned():
    """A LoRA head's dropout: the value and the gradient come from one forward (one mask): a
    central difference of the loss under the same seed equals the returned gradient."""
    torch.manual_seed(0)
    n, hid, vocab = 12, 8, 30
    head = torch.nn.Sequential(torch.nn.Dropout(0.5), torch.nn.Linear(hid, vocab))
    t_head = torch.nn.Linear(hid, vocab).requires_grad_(False)
    h0, v, t_rows = torch.randn(n, hid), torch.randn(n, hid), torch.randn(n, hid)
    y, adv, gate = torch.randint(0, vocab, (n,)), torch.randn(n), torch.ones(n)

    def f(h):
        torch.manual_seed(5)
        return kd_loss.fused_head_loss(
            h, head, y, adv, gate, (0.3, 0.5, 0.2), 100, teacher=(t_rows, t_head, vocab),
            beta=0.5, temperature=2.0,
        )[0]  # fmt: skip

    h = h0.clone().requires_grad_(True)
    f(h).backward()
    eps = 1e-3
    fd = (float(f(h0 + eps * v)) - float(f(h0 - eps * v))) / (2 * eps)
    assert fd == pytest.approx(float((h.grad * v).sum()), rel=2e-3, abs=1e-4)


@pytest.mark.parametrize("beta", [0.2, 0.9])
def test_an_asymmetric_beta_matches_autograd_through_trls_jsd(beta):
    """beta = 0.5 cannot tell the mixture's weights apart (log beta = log(1 - beta)): 0.2, 0.9."""
    torch.manual_seed(1)
    n, hid, vocab, temp = 9, 8, 40, 1.5
    head = torch.nn.Linear(hid, vocab)
    t_head = torch.nn.Linear(hid, vocab).requires_grad_(False)
    h, t_rows = torch.randn(n, hid, requires_grad=True), torch.randn(n, hid)
    y, adv, gate = torch.randint(0, vocab, (n,)), torch.zeros(n), torch.ones(n)
    s_lp = torch.log_softmax(head(h) / temp, -1)
    t_lp = torch.log_softmax(t_head(t_rows) / temp, -1)
    ref = kd_loss.divergence(s_lp, t_lp, beta).sum()
    want = torch.autograd.grad(ref, [h, head.weight])
    loss = kd_loss.fused_head_loss(
        h, head, y, adv, gate, (1.0, 0.0, 0.0), 4, teacher=(t_rows, t_head, vocab), beta=beta,
        temperature=temp,
    )[0]  # fmt: skip
    loss.backward()
    assert float(loss) == pytest.approx(float(ref), rel=1e-5)
    for got, w in zip((h.grad, head.weight.grad), want, strict=True):
        assert torch.allclose(got, w, atol=1e-6, rtol=1e-4)


def test_tied_embeddings_get_both_paths_gradients_once():
    """A head whose weight is also the input embedding: its gradient from the fused loss adds
    to the embedding's own, once (as autograd through the head does)."""
    torch.manual_seed(0)
    vocab, hid = 30, 8
    emb = torch.nn.Embedding(vocab, hid)
    head = torch.nn.Linear(hid, vocab, bias=False)
    head.weight = emb.weight
    ids, y = torch.randint(0, vocab, (21,)), torch.randint(0, vocab, (21,))

    def grad(fused):
        emb.zero_grad(set_to_none=True)
        h = torch.tanh(emb(ids))
        if fused:
            loss = kd_loss.fused_head_loss(
                h, head, y, torch.zeros(21), torch.ones(21), (0, 1, 0), 5
            )
            loss[0].backward()
        else:
            torch.nn.functional.cross_entropy(head(h), y, reduction="sum").backward()
        return emb.weight.grad.clone()

    assert torch.allclose(grad(True), grad(False), atol=1e-6)
