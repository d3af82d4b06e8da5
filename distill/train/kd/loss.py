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
    # Granite divides by logits_scaling
    scale = getattr(config, "logit_scale", None) or 1.0
    scale = scale / (getattr(config, "logits_scaling", None) or 1.0)
    if not cap and scale == 1.0:
        return head

    def logits(h: Any) -> Any:
        out = head(h) * scale if scale != 1.0 else head(h)
        return torch.tanh(out / cap) * cap if cap else out

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
