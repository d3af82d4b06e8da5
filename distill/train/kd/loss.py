"""The distillation losses: the teacher's top-K plus a "rest" bucket, and the generalized JSD.

distill train --recipe recipes/kd-smoke.yaml      # --method kd / onpolicy use these
"""

from __future__ import annotations

import math
from typing import Any

LOG_FLOOR = -1e4  # log-probs are clamped here: exp() is 0, and 0 * (LOG_FLOOR - x) stays finite


def bucket_logprobs(
    student_logits: Any, topk_ids: Any, topk_logprobs: Any, temperature: float = 1.0
) -> tuple[Any, Any]:
    """Student and teacher log-probs over the teacher's K listed tokens + one "rest" bucket.

    student_logits [N, V]; topk_ids / topk_logprobs [N, K] (the teacher's log-probs at T=1,
    padding ids < 0). The student is softened exactly (logits / T); the teacher only told us K
    log-probs, so its softened distribution is p_i^(1/T) over the K tokens and its leftover mass
    raised the same way, renormalised (DistillKit's approach). -> ([N, K+1], [N, K+1])."""
    import torch

    valid = topk_ids >= 0
    ids = topk_ids.clamp(min=0)
    s_lp = torch.log_softmax(student_logits.float() / temperature, dim=-1).gather(-1, ids)
    s_lp = torch.where(valid, s_lp, torch.full_like(s_lp, -math.inf))
    t_lp = torch.where(valid, topk_logprobs.float(), torch.full_like(s_lp, -math.inf))
    t_lp = (t_lp / temperature) if temperature != 1.0 else t_lp
    t_rest = _log1mexp(torch.logsumexp(topk_logprobs.float().masked_fill(~valid, -math.inf), -1))
    t_all = torch.cat([t_lp, (t_rest / temperature).unsqueeze(-1)], dim=-1)
    t_all = t_all - torch.logsumexp(t_all, dim=-1, keepdim=True)  # no-op at T = 1
    s_all = torch.cat([s_lp, _log1mexp(torch.logsumexp(s_lp, -1)).unsqueeze(-1)], dim=-1)
    return s_all.clamp(min=LOG_FLOOR), t_all.clamp(min=LOG_FLOOR)


def _log1mexp(x: Any) -> Any:
    """log(1 - exp(x)) for x <= 0, stable at both ends."""
    import torch

    x = x.clamp(max=-1e-7)
    return torch.where(x > -0.693, torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def divergence(student_lp: Any, teacher_lp: Any, beta: float) -> Any:
    """Per-position generalized JSD (TRL's GKD formula) between two normalised log-prob tensors
    [N, S] -> [N]. beta = 0: KL(teacher || student) (forward, the kd loss); 1: reverse KL."""
    from trl.experimental.gkd import GKDTrainer

    return GKDTrainer.generalized_jsd_loss(
        student_lp, teacher_lp, beta=beta, temperature=1.0, reduction="none"
    ).sum(-1)


# =========================================================================== memory-bounded


def lm_head(model: Any) -> Any:
    """hidden states [N, H] -> the model's logits [N, V], as its own forward computes them: the
    output embedding (a LoRA-wrapped head included), Cohere's logit_scale, Granite's
    logits_scaling and Gemma-style final soft-capping."""
    import torch

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    head = base.get_output_embeddings()
    config = (
        base.config.get_text_config() if hasattr(base.config, "get_text_config") else base.config
    )
    cap = getattr(config, "final_logit_softcapping", None)
    # what other families' forwards do to the head's output: Cohere multiplies by logit_scale,
    # Falcon-H1 by lm_head_multiplier; Granite (and MiniCPM3, on the hidden states) divides by
    # logits_scaling, which HyperCLOVA X multiplies by
    scale = getattr(config, "logit_scale", None) or 1.0
    scale *= getattr(config, "lm_head_multiplier", None) or 1.0
    mup = getattr(config, "logits_scaling", None) or 1.0
    scale = scale * mup if getattr(config, "model_type", "") == "hyperclovax" else scale / mup
    if not cap and scale == 1.0:
        return head

    def logits(h: Any) -> Any:
        out = head(h) * scale if scale != 1.0 else head(h)
        return torch.tanh(out / cap) * cap if cap else out

    logits.module = head  # its parameters, for fused_head_loss
    return logits


def chunked_sum(fn: Any, chunk: int, *rows: Any) -> Any:
    """sum over chunks of `fn(*(r[i : i + chunk] for r in rows))`, each chunk under activation
    checkpointing: its forward keeps only its inputs (hidden states, a few ints per token), and its
    backward recomputes the chunk's logits one chunk at a time, so no [tokens, vocab] tensor ever
    exists. chunk <= 0: one call on all rows, no checkpoint (the full-logits path)."""
    from torch.utils.checkpoint import checkpoint

    n = rows[0].shape[0]
    if chunk <= 0 or n == 0:
        return fn(*rows)
    total = None
    for i in range(0, n, chunk):
        part = checkpoint(fn, *(r[i : i + chunk] for r in rows), use_reentrant=False)
        total = part if total is None else total + part
    return total


# =========================================================================== fused (local teacher)

# fused_head_loss's [rows, vocab] temporaries exist for this many elements of rows at a time
# (2 MB in fp32 on CPU, where resident memory is what bounds the step; on GPUs the block is larger
# so the kernels stay few)
BLOCK = 1 << 19
BLOCK_CUDA = 1 << 23


def head_params(head: Any) -> list:
    """The trainable parameters lm_head(model) reads (its module's; a LoRA head's adapters)."""
    module = getattr(head, "module", head)
    params = module.parameters() if hasattr(module, "parameters") else ()
    return [p for p in params if p.requires_grad]


def fused_head_loss(
    h: Any,
    head: Any,
    y: Any,
    adv: Any,
    gate: Any,
    coef: tuple[float, float, float],
    chunk: int,
    teacher: tuple[Any, Any, int] | None = None,
    beta: float = 0.0,
    temperature: float = 1.0,
) -> tuple[Any, Any]:
    """coef . [kl, ce, pg] summed over the rows of h [N, H] with its gradients, as Liger's fused
    linear JSD / cross-entropy: per chunk of rows the head's logits (and the local teacher's, from
    teacher = (its rows [N, H'], its head, its vocabulary)) give the sums and, analytically, their
    gradient w.r.t. the logits, turned at once into the gradient of h and of the head's trainable
    parameters; no [chunk, vocab] tensor outlives its chunk, none is recomputed in backward.

    kl: the generalized JSD (beta; TRL's GKD formula, as divergence()) of the softened (1/T)
    student and teacher over the shared vocabulary, times gate per row; ce: the sampled token's
    negative log-prob at T = 1; pg: adv x that. -> (loss, [kl, ce, pg] sums, detached)."""
    import torch

    params = head_params(head)
    spec = (head, y, adv, gate, coef, chunk, teacher, beta, temperature, params)
    if not torch.is_grad_enabled() or not (h.requires_grad or params):
        with torch.no_grad():
            sums = _fused_pass(h, spec, with_grad=False)[0]
        return (sums * torch.tensor(coef, device=sums.device)).sum(), sums
    return _function().apply(h, spec, *params)


def _fused_pass(h: Any, spec: tuple, with_grad: bool) -> tuple[Any, Any, list]:
    """([kl, ce, pg] sums, d loss / d h, d loss / d params) over all chunks of h."""
    import torch

    head, y, adv, gate, coef, chunk, teacher, beta, temp, params = spec
    sums = torch.zeros(3, dtype=torch.float32, device=h.device)
    g_h = torch.zeros_like(h) if with_grad else None
    g_p: list = [None] * len(params)
    n = h.shape[0]
    step = chunk if chunk > 0 else max(n, 1)
    # no rows: one empty chunk all the same, so the head's parameters get zero gradients as
    # autograd through chunked_sum gives them, not None (which an optimizer step skips)
    for i in range(0, max(n, 1), step):
        rows = slice(i, i + step)
        h_c = h[rows].detach()
        if with_grad:
            h_c.requires_grad_(True)
        with torch.enable_grad() if with_grad else torch.no_grad():
            out = head(h_c)
        logits = out.detach().float()  # overwritten in place: the head's graph saves no logits
        t_c = None if teacher is None else (teacher[0][rows], teacher[1], teacher[2])
        sums += _fused_rows(logits, t_c, y[rows], adv[rows].float(), gate[rows].float(),
                            coef, beta, temp, with_grad)  # fmt: skip
        if with_grad:
            grads = _head_grads(out, [h_c, *params], logits)
            del out, logits
            g_h[rows] = grads[0]
            for k, g in enumerate(grads[1:]):
                if g is not None:
                    g_p[k] = g if g_p[k] is None else g_p[k].add_(g)
    return sums, g_h, g_p


def _head_grads(out: Any, inputs: list, g: Any) -> list:
    """d(g . out) / d inputs through the head's graph. fp16 (autocast): g (coef / tokens x
    probabilities, before the caller's loss scale) would mostly underflow in the head's fp16
    backward, which GradScaler's scaled loss exists to prevent: the chunk's g is scaled by a power
    of two to a max of ~1 and the results divided back in fp32 (unscaled again on overflow).
    (DistillTrainer applies the head outside accelerate's autocast, on fp32 weights under fp16:
    this is for callers that don't.)"""
    import torch

    scale = 1.0
    if out.dtype == torch.float16 and g.numel():
        amax = float(g.abs().max())
        scale = 2.0 ** min(24, max(0, -math.frexp(amax)[1])) if amax > 0 else 1.0
    if scale != 1.0:
        grads = torch.autograd.grad(
            out, inputs, grad_outputs=g.mul_(scale).to(out.dtype), allow_unused=True,
            retain_graph=True,
        )  # fmt: skip
        g.div_(scale)
        if all(x is None or bool(torch.isfinite(x).all()) for x in grads):
            out_grads = []
            for x in grads:
                if x is not None:  # fp32 (AMP's weights and hidden states): in place
                    x = (
                        x.div_(scale)
                        if x.dtype == torch.float32
                        else (x.float() / scale).to(x.dtype)
                    )
                out_grads.append(x)
            return out_grads
    return list(torch.autograd.grad(out, inputs, grad_outputs=g.to(out.dtype), allow_unused=True))


def _fused_rows(logits, teacher, y, adv, gate, coef, beta, temp, with_grad):  # noqa: ANN001, ANN202
    """One chunk's [kl, ce, pg] sums, a block of rows (BLOCK elements) at a time, the teacher's
    logits too; with_grad, logits [c, V] (fp32) is overwritten by d(coef . [kl, ce, pg]) / d logits."""
    import torch

    c_kl, c_ce, c_pg = coef
    sums = torch.zeros(3, dtype=torch.float32, device=logits.device)
    rows = max(1, (BLOCK_CUDA if logits.is_cuda else BLOCK) // logits.shape[-1])
    for j in range(0, logits.shape[0], rows):
        b = slice(j, j + rows)
        x = logits[b]  # raw student logits
        lse = torch.logsumexp(x, -1, keepdim=True)
        yj = y[b].unsqueeze(-1)
        nll = (lse - x.gather(-1, yj)).squeeze(-1)
        sums[1] += nll.sum()
        sums[2] += (adv[b] * nll).sum()
        grad_s = v = None
        if teacher is not None:
            t_rows, t_head, vocab = teacher
            with torch.no_grad():
                t = t_head(t_rows[b]).float()
            v = min(vocab, x.shape[-1], t.shape[-1])
            # Models pad their embeddings past the tokenizer differently: not real tokens.
            t = t[:, :v] / temp
            t = t - torch.logsumexp(t, -1, keepdim=True)
            s = x[:, :v] / temp
            s = s - torch.logsumexp(s, -1, keepdim=True)
            kl, grad_s = _jsd_rows(s, t, beta, with_grad)
            del s, t
            sums[0] += (kl * gate[b]).sum()
        if with_grad:  # w x (softmax(x) - onehot(y)) + the divergence's, at 1/T
            w = (c_ce + c_pg * adv[b]).unsqueeze(-1)
            x.sub_(lse).exp_().mul_(w)
            x.scatter_add_(-1, yj, -w)
            if grad_s is not None:
                x[:, :v].add_(grad_s.mul_((c_kl / temp) * gate[b].unsqueeze(-1)))
    return sums


def _jsd_rows(s: Any, t: Any, beta: float, with_grad: bool) -> tuple[Any, Any]:
    """TRL's generalized JSD of normalised log-probs s (student), t (teacher) per row, and its
    gradient w.r.t. the student's logits at T = 1 (the caller divides by T):
    beta 0: KL(t || s), grad p_s - p_t; beta 1: KL(s || t), grad p_s (s - t - KL);
    else with log m = logaddexp(s + log(1 - beta), t + log beta): beta KL(t || m) +
    (1 - beta) KL(s || m), grad (1 - beta) p_s (s - m - KL(s || m))."""
    import torch

    p_s = s.exp()
    if beta == 0:
        p_t = t.exp()
        kl = (p_t * (t - s)).sum(-1)
        return kl, (p_s.sub_(p_t) if with_grad else None)
    if beta == 1:
        d = s - t
        kl = (p_s * d).sum(-1)
        return kl, (d.sub_(kl[:, None]).mul_(p_s) if with_grad else None)
    m = torch.logaddexp(s + math.log1p(-beta), t + math.log(beta))
    d = s - m
    kl_s = (p_s * d).sum(-1)
    kl = beta * (t.exp() * (t - m)).sum(-1) + (1 - beta) * kl_s
    return kl, (d.sub_(kl_s[:, None]).mul_(p_s).mul_(1 - beta) if with_grad else None)


def _function() -> Any:
    """The torch.autograd.Function of fused_head_loss: the gradients come from its forward."""
    import torch

    global _FN
    if _FN is None:

        class FusedHeadLoss(torch.autograd.Function):
            @staticmethod
            def forward(ctx, h, spec, *params):  # noqa: ANN001, ANN205
                sums, g_h, g_p = _fused_pass(h, spec, with_grad=True)
                ctx.save_for_backward(g_h, *[g for g in g_p if g is not None])
                ctx.present = [g is not None for g in g_p]
                coef = torch.tensor(spec[4], dtype=sums.dtype, device=sums.device)
                ctx.mark_non_differentiable(sums)
                return (sums * coef).sum(), sums

            @staticmethod
            def backward(ctx, go, _):  # noqa: ANN001, ANN205 - once (no retain_graph)
                g_h, *rest = ctx.saved_tensors
                it = iter(rest)
                g_p = [next(it).mul_(go) if p else None for p in ctx.present]
                return (g_h.mul_(go), None, *g_p)

        _FN = FusedHeadLoss
    return _FN


_FN: Any = None
