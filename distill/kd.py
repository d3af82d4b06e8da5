"""Token-level distillation: `distill train --method kd` and `--method onpolicy`.

    distill train --recipe recipes/kd-smoke.yaml        # on-policy from the base (make smoke-kd: SFT first)
    distill train --data kept.jsonl --model S --output-dir out --method kd        # stored top-K
    distill train --data kept.jsonl --model S --output-dir out --method kd --teacher-model T
    distill train --data kept.jsonl --model S --output-dir out --method onpolicy \\
        --teacher-url http://localhost:8000/v1 --teacher-model NAME

Both methods train the same examples, rendering and completion mask as SFT (distill.examples);
only the loss changes:

- kd (off-policy, Hinton/DistillKit): kd_alpha * T^2 * KL(teacher || student) at temperature T
  + (1 - kd_alpha) * cross-entropy, over the completion tokens of the kept traces.
- onpolicy (GKD, Agarwal et al. 2024): with probability `lmbda` a batch's completions are
  replaced by the student's own samples; the loss is the generalized JSD with `beta` between
  student and teacher on those tokens (beta = 1: reverse KL, the on-policy-distillation default).

The teacher's next-token distribution comes from one of three places:
(a) the top-K log-probs `distill generate --logprobs K` stored beside the traces (kd only: on
    policy the tokens are new), (b) a local model (`teacher_model`, frozen, full vocabulary),
(c) an OpenAI-compatible vLLM server (`teacher_url`, `teacher_model` = its served name) that
    scores the tokens with `prompt_logprobs` on its completions endpoint.

Top-K tail mass: the K listed tokens rarely hold all of the teacher's mass. We keep the rest as
one extra "rest" bucket (DistillKit's symmetric-uniform handling, TRL's server tail bucket), so
the loss is the exact divergence between teacher and student coarsened to K + 1 outcomes: it is
zero exactly when the student agrees with everything the teacher told us, and it never pushes the
student to put all its mass on K tokens (which renormalising over the top-K would: at small K it
inflates the teacher's confidence).

Why not TRL's trainers as they are: `trl.DistillationTrainer` renders a `prompt` column with the
chat template itself (no Alpaca format, no kept completions for lmbda < 1) and takes a local
teacher only; its server variant speaks TRL's own `trl vllm-serve`, not an OpenAI-compatible
server; `trl.experimental.gkd.GKDTrainer` needs a local teacher model in its constructor and
re-renders `messages` with its own collator. So `DistillTrainer` below is TRL's SFTTrainer with
its loss overridden, reusing GKD's generalized JSD and its on-policy sampling step verbatim.
"""

from __future__ import annotations

import math
import random
from typing import Any

from distill.errors import DistillError

METHODS = ("sft", "kd", "onpolicy")
LOG_FLOOR = -1e4  # log-probs are clamped here: exp() is 0, and 0 * (LOG_FLOOR - x) stays finite


# =========================================================================== losses


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


# =========================================================================== teachers


def vocab_check(student_tok: Any, teacher_tok: Any, student: str, teacher: str) -> None:
    """One clear error when the two tokenizers do not share a vocabulary."""
    from distill.logprobs import vocab_hash

    a, b = vocab_hash(student_tok), vocab_hash(teacher_tok)
    if a != b:
        raise DistillError(
            f"student tokenizer '{student}' (vocab {len(student_tok)}, hash {a}) and teacher tokenizer "
            f"'{teacher}' (vocab {len(teacher_tok)}, hash {b}) differ: kd/onpolicy compare next-token "
            "distributions over one vocabulary; pick a teacher of the student's family "
            "(cross-tokenizer distillation is not built)"
        )


class LocalTeacher:
    """A frozen model on the student's device: full-vocabulary logits for the same tokens."""

    def __init__(self, name: str, student_tok: Any, student_name: str, dtype: Any):
        from transformers import AutoModelForCausalLM

        from distill.models import load_tokenizer, resolve_model

        vocab_check(student_tok, load_tokenizer(name), student_name, name)
        try:
            self.model = AutoModelForCausalLM.from_pretrained(resolve_model(name), dtype=dtype)
        except OSError as e:
            raise DistillError(f"cannot load teacher '{name}': {str(e).splitlines()[0]}") from None
        self.model.eval().requires_grad_(False)
        self.name, self.vocab = name, len(student_tok)

    def logits(self, input_ids: Any, attention_mask: Any, position_ids: Any) -> Any:
        import torch

        if self.model.device != input_ids.device:
            self.model.to(input_ids.device)
        with torch.no_grad():
            out = self.model(
                input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids
            )
        return out.logits


class ServedTeacher:
    """An OpenAI-compatible vLLM server scoring token ids: POST /v1/completions with the ids as
    the prompt, `max_tokens` 1 and `prompt_logprobs` K (vLLM's extension, sent as extra_body).
    Each prompt position comes back with the top-K tokens and the actual token."""

    def __init__(self, url: str, name: str, k: int, student_tok: Any, student_name: str):
        import os

        from openai import OpenAI

        self.url, self.name, self.k, self.tok = url, name, k, student_tok
        key = self.key = os.environ.get("OPENAI_API_KEY") or "EMPTY"
        self.client = OpenAI(base_url=url, api_key=key, max_retries=2, timeout=600)
        self.student_name = student_name
        self.scored = 0
        self.decoded: dict[int, str | None] = {}

    def score(self, seqs: list[list[int]]) -> list[list[dict[int, float] | None]]:
        """Per sequence, per position: {token id: log-prob} (None at position 0)."""
        import openai

        try:
            r = self.client.completions.create(
                model=self.name,
                prompt=seqs,
                max_tokens=1,
                temperature=1.0,
                extra_body={"prompt_logprobs": self.k},
            )
        except openai.APIConnectionError:
            raise DistillError(f"teacher URL {self.url}: cannot connect") from None
        except openai.APIStatusError as e:
            from distill.teachers.openai import _scrub

            # The server's reason (vLLM: prompt_logprobs above its --max-logprobs, an unknown
            # model) is what the user acts on.
            why = _scrub(str(e.message).splitlines()[0] if e.message else "", self.key)
            raise DistillError(
                f"teacher URL {self.url}: HTTP {e.status_code} for model '{self.name}': {why}"
            ) from None
        out: list[Any] = [None] * len(seqs)
        for ch in r.choices:
            plp = (ch.model_extra or {}).get("prompt_logprobs")
            if not plp:
                raise DistillError(
                    f"teacher URL {self.url} returned no prompt_logprobs for model '{self.name}': "
                    "kd/onpolicy need an OpenAI-compatible vLLM server (completions endpoint with "
                    "prompt_logprobs)"
                )
            out[ch.index] = [
                None if pos is None else {int(t): float(v["logprob"]) for t, v in pos.items()}
                for pos in plp
            ]
            for pos in plp[1:]:  # the server's own text of each token, for the vocabulary check
                self.decoded.update(
                    {int(t): v.get("decoded_token") for t, v in (pos or {}).items()}
                )
        return out

    def probe(self, ids: list[int]) -> None:
        """Refuse a server whose prompt log-probs are not reproducible or not over our vocabulary.

        vLLM with prefix caching on gave crashing or non-deterministic prompt log-probs (axolotl
        refuses such servers); the server does not tell us its flags, so we score the same text
        twice (the second request would hit a cached prefix) and compare."""
        first, second = self.score([ids, ids])
        again = self.score([ids])[0]
        for a, b in ((first, second), (first, again)):
            for pa, pb in zip(a[1:], b[1:], strict=True):
                if pa.keys() != pb.keys() or any(abs(pa[t] - pb[t]) > 1e-3 for t in pa):
                    raise DistillError(
                        f"teacher URL {self.url}: the same text scored twice gave different prompt "
                        "log-probs; restart vLLM with --no-enable-prefix-caching (prefix caching "
                        "breaks prompt_logprobs)"
                    )
        # Same ids, same text: the teacher's detokenizer must read the student's ids as the
        # student does (vLLM returns each token's text as `decoded_token`).
        for i in range(1, len(ids)):
            theirs, ours = self.decoded.get(ids[i]), self.tok.decode([ids[i]])
            # Partial UTF-8 pieces read as '' or U+FFFD on either side: no evidence either way.
            known = theirs and "\ufffd" not in theirs + ours
            if ids[i] not in first[i] or (known and theirs != ours):
                raise DistillError(
                    f"student tokenizer '{self.student_name}' and teacher tokenizer of '{self.name}' "
                    f"at {self.url} differ: token {ids[i]} is {ours!r} to the student and "
                    f"{theirs!r} to the teacher; kd/onpolicy compare next-token distributions over "
                    "one vocabulary (cross-tokenizer distillation is not built)"
                )

    def topk(self, seqs: list[list[int]], width: int, starts: list[int]) -> tuple[Any, Any]:
        """-> (ids, log-probs) [B, width, K] aligned to token positions (row b's sequence starts
        at starts[b]; position i: the teacher's distribution for token i given tokens < i);
        padding id -1."""
        import torch

        ids = torch.full((len(seqs), width, self.k), -1, dtype=torch.long)
        lps = torch.zeros((len(seqs), width, self.k))
        for b, per_pos in enumerate(self.score(seqs)):
            for i, pos in enumerate(per_pos):
                if not pos:
                    continue
                # vLLM adds the actual token when it is outside the top-K: keep the K best.
                best = sorted(pos.items(), key=lambda kv: -kv[1])[: self.k]
                ids[b, starts[b] + i, : len(best)] = torch.tensor([t for t, _ in best])
                lps[b, starts[b] + i, : len(best)] = torch.tensor([v for _, v in best])
        self.scored += sum(len(s) for s in seqs)
        return ids, lps


# =========================================================================== stored top-K


def stored_topk(
    rows: list[dict[str, Any]],
    data_path: str,
    completions: list[list[int]],
    stops: set[int],
    student_tok: Any,
    student_name: str,
) -> tuple[list[list[int]], list[Any], list[Any], dict[str, int]]:
    """Align each record's stored teacher top-K with the student's tokenized completion.

    The stored ids are the teacher's own generated tokens. When the student's tokenization of
    the rendered completion starts with them (same tokenizer, the usual case) the completion is
    kept as is; otherwise the teacher's ids + the template's end of turn replace it, so every
    stored distribution still sits on the token it was computed for. Positions past the teacher's
    tokens (an end of turn the teacher did not generate) get cross-entropy only.
    -> (completion ids, per-example ids [C, K], log-probs [C, K], counts)."""
    import numpy as np

    from distill.logprobs import load_many, vocab_hash

    for row in rows:
        if not isinstance(row.get("logprobs"), dict):
            raise DistillError(
                f"{data_path}: record {row.get('id')} has no teacher log-probs (generate with "
                "--logprobs K, or give --teacher-model / --teacher-url)"
            )
    mine = vocab_hash(student_tok)
    for ptr in {(r["logprobs"].get("tokenizer"), r["logprobs"].get("vocab_hash")) for r in rows}:
        if ptr[1] and ptr[1] != mine:
            raise DistillError(
                f"student tokenizer '{student_name}' (vocab hash {mine}) and the teacher tokenizer "
                f"'{ptr[0]}' of the stored log-probs (vocab hash {ptr[1]}) differ: kd compares "
                "next-token distributions over one vocabulary (cross-tokenizer distillation is not built)"
            )
    out_c, out_ids, out_lp = [], [], []
    counts = {"aligned": 0, "realigned": 0, "kd_positions": 0}
    stored = load_many(rows, data_path)
    # Records of two generate runs may keep different K: all get the widest, padded with id -1
    # (no token: bucket_logprobs leaves it out), so they batch together.
    k = max((tl.k for tl in stored), default=0)
    vocab = len(student_tok)
    for row, tl in zip(rows, stored, strict=True):
        # Without a vocab hash (a served teacher's tokenizer is not known at generate time) an id
        # the student has no row for is the one sign of another vocabulary left to check.
        worst = max(int(tl.topk_ids.max(initial=-1)), int(tl.token_ids.max(initial=-1)))
        if worst >= vocab:
            raise DistillError(
                f"{data_path}: record {row.get('id')} stores token id {worst}, outside the "
                f"vocabulary of student tokenizer '{student_name}' ({vocab} tokens): its teacher "
                f"tokenizer '{row['logprobs'].get('tokenizer')}' differs (cross-tokenizer "
                "distillation is not built)"
            )
    for comp, tl in zip(completions, stored, strict=True):
        t = tl.token_ids.tolist()
        core = list(t)
        while core and core[-1] in stops:
            core.pop()
        if comp[: len(core)] == core:
            counts["aligned"] += 1
        else:
            comp = core + _end_of_turn(comp, stops)
            counts["realigned"] += 1
        n = next(
            (j for j in range(min(len(t), len(comp))) if comp[j] != t[j]), min(len(t), len(comp))
        )
        ids = np.full((len(comp), k), -1, dtype=np.int64)
        lp = np.zeros((len(comp), k), dtype=np.float32)
        ids[:n, : tl.k], lp[:n, : tl.k] = tl.topk_ids[:n], tl.topk_logprobs[:n]
        counts["kd_positions"] += n
        out_c.append(comp)
        out_ids.append(ids)
        out_lp.append(lp)
    return out_c, out_ids, out_lp, counts


def _end_of_turn(comp: list[int], stops: set[int]) -> list[int]:
    """The completion's tail from its first stop token (the template's end of turn)."""
    for j, x in enumerate(comp):
        if x in stops:
            return comp[j:]
    return []


# =========================================================================== data


class Collator:
    """Pads pre-tokenized examples: input_ids/attention_mask/labels right-padded (loss on the
    completion only, as SFT), the prompt alone left-padded for on-policy sampling, and the
    stored teacher top-K aligned to token positions."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, feats: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        width = max(len(f["input_ids"]) for f in feats)
        # A prompt-only example (on-policy from a prompt source) is all prompt.
        plen = [
            f["completion_mask"].index(1) if 1 in f["completion_mask"] else len(f["input_ids"])
            for f in feats
        ]
        pwidth = max(plen)
        b = len(feats)
        ids = torch.full((b, width), self.pad_id, dtype=torch.long)
        attn = torch.zeros((b, width), dtype=torch.long)
        labels = torch.full((b, width), -100, dtype=torch.long)
        prompts = torch.full((b, pwidth), self.pad_id, dtype=torch.long)
        pattn = torch.zeros((b, pwidth), dtype=torch.long)
        for i, f in enumerate(feats):
            x, m, n = f["input_ids"], f["completion_mask"], len(f["input_ids"])
            ids[i, :n] = torch.tensor(x)
            attn[i, :n] = 1
            labels[i, :n] = torch.tensor([t if k else -100 for t, k in zip(x, m, strict=True)])
            prompts[i, pwidth - plen[i] :] = torch.tensor(x[: plen[i]])
            pattn[i, pwidth - plen[i] :] = 1
        batch = {
            "input_ids": ids,
            "attention_mask": attn,
            "labels": labels,
            "prompts": prompts,
            "prompt_attention_mask": pattn,
        }
        if "teacher_ids" in feats[0]:
            k = len(feats[0]["teacher_ids"][0])
            tids = torch.full((b, width, k), -1, dtype=torch.long)
            tlp = torch.zeros((b, width, k))
            for i, f in enumerate(feats):
                c = len(f["teacher_ids"])
                tids[i, plen[i] : plen[i] + c] = torch.tensor(f["teacher_ids"])
                tlp[i, plen[i] : plen[i] + c] = torch.tensor(f["teacher_logprobs"])
            batch["teacher_ids"], batch["teacher_logprobs"] = tids, tlp
        return batch


# =========================================================================== trainer


def make_trainer_class() -> type:
    """TRL's SFTTrainer with the distillation loss (defined lazily: trl imports torch)."""
    import torch
    import torch.nn.functional as F
    from transformers import GenerationConfig
    from trl import SFTTrainer
    from trl.experimental.gkd import GKDTrainer
    from trl.models.utils import unwrap_model_for_generation

    class DistillTrainer(SFTTrainer):
        # compute_loss normalises by the tokens of the whole accumulated batch itself.
        loss_is_scaled_for_ga = True

        def __init__(self, *a: Any, kd: dict[str, Any], teacher: Any, **kw: Any):
            super().__init__(*a, **kw)
            self.kd, self.teacher = kd, teacher
            self._micro, self._micro_step = 0, None
            self.teacher_tokens = 0  # completion tokens the teacher scored during training
            self._sums: dict[str, float] = {"kl": 0.0, "ce": 0.0, "n": 0}
            self.gen_kwargs = {
                "max_new_tokens": kd["max_new_tokens"],
                "temperature": kd["onpolicy_temperature"],
                "do_sample": True,
                "top_k": 0,
                "top_p": 1.0,
                "pad_token_id": self.processing_class.pad_token_id,
                "eos_token_id": self.model.generation_config.eos_token_id,
            }
            self.gen_config = GenerationConfig(**self.gen_kwargs)

        # -------------------------------------------------------------- on-policy sampling
        def _coin(self) -> float:
            """GKD's per-micro-batch draw (sample on policy when < lmbda), a function of (seed,
            optimizer step, micro-batch): a resumed run draws what the uninterrupted one drew."""
            step = self.state.global_step
            self._micro = self._micro + 1 if self._micro_step == step else 0
            self._micro_step = step
            return random.Random(f"{self.args.seed}:{step}:{self._micro}").random()

        def training_step(self, model, inputs, num_items_in_batch=None):  # noqa: ANN001
            inputs["on_policy"] = False
            if self.kd["method"] == "onpolicy" and self._coin() < self.kd["lmbda"]:
                # Generation turns gradient checkpointing off and back on: with the run's own
                # kwargs (TRL's GKD does the same), not the library default.
                with unwrap_model_for_generation(
                    model,
                    self.accelerator,
                    generation_kwargs=self.gen_kwargs,
                    gradient_checkpointing_kwargs=self.args.gradient_checkpointing_kwargs,
                ) as unwrapped:
                    # The policy samples without dropout (eval mode). A LoRA student on fp32
                    # weights samples with its adapter merged: one matmul per layer instead of
                    # three per decode step (~1/3 of the sampling time on CPU); the unmerge puts
                    # the base back within float rounding. Never merged: bf16/fp16 or quantized
                    # (uint8/int8) bases, which the round trip changes, and sharded weights.
                    merge = (
                        hasattr(unwrapped, "merge_adapter")
                        and not (self.is_fsdp_enabled or self.is_deepspeed_enabled)
                        and all(
                            p.dtype == torch.float32
                            for n, p in unwrapped.named_parameters()
                            if "lora_" not in n
                        )
                    )
                    was_training = unwrapped.training
                    unwrapped.eval()
                    if merge:
                        unwrapped.merge_adapter()
                    try:
                        ids, attn, labels = GKDTrainer.generate_on_policy_outputs(
                            unwrapped, inputs, self.gen_config
                        )
                    finally:
                        if merge:
                            unwrapped.unmerge_adapter()
                        unwrapped.train(was_training)
                inputs.update(input_ids=ids, attention_mask=attn, labels=labels, on_policy=True)
                inputs.pop("teacher_ids", None)
                inputs.pop("teacher_logprobs", None)
            return super().training_step(model, inputs, num_items_in_batch)

        # -------------------------------------------------------------- the loss
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # noqa: ANN001
            method, temp = self.kd["method"], self.kd["kd_temperature"]
            on_policy = inputs.pop("on_policy", False)
            ids, attn, labels = inputs["input_ids"], inputs["attention_mask"], inputs["labels"]
            # Left-padded on-policy rows need positions counted from their first real token.
            pos = (attn.cumsum(-1) - 1).clamp(min=0)
            out = model(input_ids=ids, attention_mask=attn, position_ids=pos, use_cache=False)
            tgt = labels[:, 1:]
            mask = tgt != -100
            n_local = mask.sum()
            # GA-correct normalisation as SFT's; on-policy batches changed their token count after
            # the Trainer counted them, so they normalise locally per accumulation step.
            if num_items_in_batch is None or on_policy:
                denom = n_local.clamp(min=1) * (
                    self.current_gradient_accumulation_steps if self.model.training else 1
                )
            else:
                denom = torch.as_tensor(num_items_in_batch, device=ids.device).clamp(min=1)
            logits = out.logits[:, :-1][mask]
            ce = F.cross_entropy(logits.float(), tgt[mask], reduction="sum") / denom
            if method == "kd" and self.kd["kd_alpha"] == 0.0:
                kl = torch.zeros((), device=ids.device)
            else:
                s_lp, t_lp = self._teacher_logprobs(inputs, logits, mask, pos, temp)
                beta = 0.0 if method == "kd" else self.kd["beta"]
                kl = divergence(s_lp, t_lp, beta).sum() / denom
            if self.model.training:
                self.teacher_tokens += int(n_local)
            if method == "kd":
                a = self.kd["kd_alpha"]
                loss = a * temp**2 * kl + (1 - a) * ce
            else:
                loss = kl
            # The Trainer's count is global across processes (DDP averages gradients): scale back,
            # except on-policy batches, which were divided by their own local tokens.
            if (
                self.args.average_tokens_across_devices
                and num_items_in_batch is not None
                and not on_policy
            ):
                loss = loss * self.accelerator.num_processes
            # Logged per token: undo the accumulation scaling of this micro-batch's share.
            scale = self.current_gradient_accumulation_steps if self.model.training else 1
            self._sums["kl"] += float(kl) * scale
            self._sums["ce"] += float(ce) * scale
            self._sums["n"] += 1
            return (loss, out) if return_outputs else loss

        def _teacher_logprobs(self, inputs, logits, mask, pos, temp):  # noqa: ANN001
            """(student, teacher) normalised log-probs at the completion positions."""
            ids, attn = inputs["input_ids"], inputs["attention_mask"]
            if isinstance(self.teacher, LocalTeacher):
                t_logits = self.teacher.logits(ids, attn, pos)[:, :-1][mask]
                v = min(self.teacher.vocab, logits.shape[-1], t_logits.shape[-1])
                # Models pad their embeddings past the tokenizer differently (Qwen 1.5B vs 7B):
                # the padding rows are never real tokens.
                s_lp = torch.log_softmax(logits[:, :v].float() / temp, -1)
                t_lp = torch.log_softmax(t_logits[:, :v].float() / temp, -1)
                return s_lp, t_lp
            if isinstance(self.teacher, ServedTeacher):
                # Each row's real tokens are contiguous (left padding on policy, right padding
                # off policy): send them alone, put the answers back at their positions.
                starts = attn.argmax(-1).tolist()
                seqs = [row[m.bool()].tolist() for row, m in zip(ids, attn, strict=True)]
                t_ids, t_lps = self.teacher.topk(seqs, ids.shape[1], starts)
            else:  # stored top-K from the collator
                t_ids, t_lps = inputs["teacher_ids"], inputs["teacher_logprobs"]
            t_ids = t_ids.to(logits.device)[:, 1:][mask]
            t_lps = t_lps.to(logits.device)[:, 1:][mask]
            s_b, t_b = bucket_logprobs(logits, t_ids, t_lps, temp)
            # A position with no stored distribution (an end of turn the teacher never generated)
            # gets no divergence: both sides collapse onto the rest bucket.
            none = (t_ids < 0).all(-1)
            s_b = torch.where(none.unsqueeze(-1), t_b.detach(), s_b)
            return s_b, t_b

        def log(self, logs, start_time=None):  # noqa: ANN001
            if self._sums["n"] and "loss" in logs:
                n = self._sums["n"]
                logs["kl"] = round(self._sums["kl"] / n, 6)
                logs["ce"] = round(self._sums["ce"] / n, 6)
                logs["teacher_tokens"] = self.teacher_tokens
                self._sums = {"kl": 0.0, "ce": 0.0, "n": 0}
            return super().log(logs, start_time)

    return DistillTrainer


# =========================================================================== the stage


def _stored_dataset(cfg: Any, tok: Any, model_eos: Any) -> tuple[Any, dict[str, int]]:
    """SFT's examples (same rendering, same mask) + the stored teacher top-K per completion token."""
    import itertools

    from datasets import Dataset

    from distill.data import iter_source
    from distill.examples import Renderer, load_examples

    renderer = Renderer(tok, cfg.format, model_eos, "last", cfg.chat)
    exs = list(load_examples(cfg.data, cfg.split, cfg.limit, cfg, cfg.keep_markers))
    rows = list(itertools.islice(iter_source(cfg.data, cfg.split), cfg.limit))
    prompts, comps = zip(*(renderer.encode(ex) for ex in exs), strict=True) if exs else ((), ())
    comps, t_ids, t_lps, counts = stored_topk(
        rows, cfg.data, list(comps), renderer.stops, tok, cfg.model
    )
    cols: dict[str, list] = {
        "input_ids": [],
        "completion_mask": [],
        "teacher_ids": [],
        "teacher_logprobs": [],
    }
    for p, c, ti, tl in zip(prompts, comps, t_ids, t_lps, strict=True):
        if len(p) + len(c) > cfg.max_length:
            if cfg.overlong == "drop":
                continue
            c = c[: max(0, cfg.max_length - len(p))]
            ti, tl = ti[: len(c)], tl[: len(c)]
            if not c:
                continue
        cols["input_ids"].append(p + c)
        cols["completion_mask"].append([0] * len(p) + [1] * len(c))
        cols["teacher_ids"].append(ti.tolist())
        cols["teacher_logprobs"].append(tl.tolist())
    if not cols["input_ids"]:
        raise DistillError(f"{cfg.data}: no training examples left for kd")
    return Dataset.from_dict(cols), counts


def prompt_source(cfg: Any) -> bool:
    """Whether the run trains on prompts alone: a template, prompt field or system prompt is
    named (then a row's completion, if any, is never read: OpenR1-Math's `messages`), or
    `cfg.data`'s first row carries no completion."""
    from distill.data import iter_source
    from distill.examples import has_completion

    if cfg.template or (cfg.prompt_field and not cfg.answer_field) or cfg.system_prompt:
        return True
    first = next(iter(iter_source(cfg.data, cfg.split)), None)
    return first is not None and not has_completion(first, cfg)


def prompt_dataset(cfg: Any, tok: Any, model_eos: Any) -> tuple[Any, dict[str, Any]]:
    """On-policy examples from a prompt source (no teacher text anywhere): each prompt rendered
    as `distill generate` sends it (prompt field + template, or a chat ending with a user turn),
    then as training renders a prompt (the student's chat template + generation prompt). The
    completion mask is empty: every batch is the student's own samples (lmbda 1.0)."""
    import itertools

    from datasets import Dataset

    from distill.data import iter_source
    from distill.examples import Example, Renderer, TokenStats, chat_prompt, with_system
    from distill.generate import prompt_messages

    if cfg.lmbda < 1.0:
        raise DistillError(
            f"{cfg.data}: prompts alone (no completion in its first row, or a template, prompt "
            f"field or system prompt named); lmbda {cfg.lmbda} mixes in the teacher's traces: give kept traces, "
            "or lmbda 1.0 to train on prompts alone"
        )
    rows = itertools.islice(iter_source(cfg.data, cfg.split), cfg.limit)
    first = next(iter(iter_source(cfg.data, cfg.split)), {})
    # (chat messages, the row's own fields): a chat, unless a prompt field or template is named
    # (then the row's prompt field is rendered, whatever else the row holds, as generate does).
    chats: Any
    if not (cfg.prompt_field or cfg.template) and chat_prompt(first, f"{cfg.data} row 1", cfg):
        chats = (
            (
                with_system(
                    chat_prompt(r, f"{cfg.data} row {i + 1}", cfg) or [], cfg.system_prompt
                ),
                {},
            )
            for i, r in enumerate(rows)
        )
    else:
        chats = (
            (m, row.fields)
            for row, m in prompt_messages(
                cfg.data,
                cfg.split,
                cfg.prompt_field,
                cfg.template,
                cfg.system_prompt,
                limit=cfg.limit,
            )
        )
    renderer = Renderer(tok, cfg.format, model_eos)
    st, ids = TokenStats(), []
    for i, (msgs, fields) in enumerate(chats):
        st.examples += 1
        if not msgs or msgs[-1]["role"] != "user":
            raise DistillError(f"{cfg.data} row {i + 1}: a prompt must end with a user message")
        # Alpaca students see the row's own instruction and input, as a trace of it would carry
        # them (generate keeps the row's fields in the record's meta).
        inst, inp = fields.get("instruction"), fields.get("input")
        ex = Example(
            prompt=msgs,
            completion="",
            instruction=msgs[-1]["content"] if inst is None else str(inst),
            input="" if inp is None else str(inp),
        )
        p = renderer.prompt_ids(ex)
        if len(p) + cfg.max_new_tokens > cfg.max_length:  # the samples would not fit
            st.dropped_overlong += 1
            continue
        ids.append(p)
        st.kept += 1
        st.prompt_tokens += len(p)
    if not ids:
        raise DistillError(
            f"{cfg.data}: no prompts left ({st.examples} read, {st.dropped_overlong} longer than "
            f"max_length {cfg.max_length} - max_new_tokens {cfg.max_new_tokens})"
        )
    data = {"input_ids": ids, "completion_mask": [[0] * len(p) for p in ids]}
    return Dataset.from_dict(data), {**st.__dict__, "prompts_only": True}


def probe_ids(tok: Any) -> list[int]:
    """What a served teacher scores once before training, to show it reads the student's ids as
    the student does: plain text, a chat example in the student's own template (its turn markers,
    `<think>`), and every added or special token of the student's tokenizer. Families that share
    a BPE vocabulary can still give the added ids other meanings (DeepSeek-R1-Distill-Qwen's
    151644 is `<｜User｜>` where Qwen2.5's is `<|im_start|>`); plain text alone never shows that."""
    ids = tok("What is 12 + 34? The answer is 46.", add_special_tokens=False)["input_ids"]
    if tok.chat_template:
        chat = [
            {"role": "user", "content": "What is 12 + 34?"},
            {
                "role": "assistant",
                "content": "<think>\n12 + 34 = 46\n</think>\n\nThe answer is 46.",
            },
        ]
        try:
            text = tok.apply_chat_template(chat, tokenize=False)
        except Exception:  # noqa: BLE001 - a template that refuses this chat: text and added ids still
            text = ""
        ids += tok(text, add_special_tokens=False)["input_ids"]
    return ids + sorted(tok.added_tokens_decoder)


def teacher_for(cfg: Any, tok: Any, dtype: Any) -> Any:
    """The teacher the config names: served, local, or None (stored top-K in the records)."""
    if cfg.teacher_url:
        teacher = ServedTeacher(
            cfg.teacher_url, cfg.teacher_model, cfg.teacher_top_k, tok, cfg.model
        )
        teacher.probe(probe_ids(tok))
        return teacher
    if cfg.teacher_model:
        return LocalTeacher(cfg.teacher_model, tok, cfg.model, dtype)
    return None


def build_distill_trainer(
    cfg: Any, model: Any, tok: Any, args: Any, dataset: Any, peft_config: Any, out: Any
) -> Any:
    """A DistillTrainer with SFT's model, arguments, LoRA and examples (train.build_trainer
    dispatches here for --method kd/onpolicy)."""
    import json

    from transformers import TrainerCallback

    from distill.records import write_atomic
    from distill.train import loss_log_callback

    teacher = teacher_for(cfg, tok, model.dtype)
    if teacher is None:
        if cfg.method == "onpolicy":
            raise DistillError(
                "--method onpolicy needs a teacher: --teacher-model or --teacher-url"
            )
        dataset, counts = _stored_dataset(cfg, tok, model.generation_config.eos_token_id)
        print(
            f"kd: stored teacher top-K on {counts['kd_positions']:,} completion tokens "
            f"({counts['aligned']} examples aligned as tokenized, {counts['realigned']} via the "
            "teacher's own token ids)"
        )
    args.remove_unused_columns = False
    args.dataset_kwargs = {"skip_prepare_dataset": True}
    state_file = out / "kd.json"
    done = 0
    if cfg.resume and state_file.is_file():
        done = json.loads(state_file.read_text()).get("teacher_tokens_scored", 0)

    class KDState(TrainerCallback):
        """kd.json: method, teacher and the tokens the teacher scored (kept across resumes)."""

        def write(self) -> None:
            write_atomic(
                state_file,
                json.dumps(
                    {
                        "method": cfg.method,
                        "teacher": cfg.teacher_url or cfg.teacher_model or "stored top-K",
                        "teacher_model": cfg.teacher_model,
                        "teacher_url": cfg.teacher_url,
                        "teacher_tokens_scored": trainer.teacher_tokens,
                    },
                    indent=2,
                )
                + "\n",
            )

        def on_save(self, args, state, control, **kw):  # noqa: ANN001
            self.write()

        def on_train_end(self, args, state, control, **kw):  # noqa: ANN001
            self.write()

    trainer = make_trainer_class()(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=Collator(tok.pad_token_id),
        processing_class=tok,
        peft_config=peft_config,
        callbacks=[loss_log_callback(out / "loss.jsonl"), KDState()],
        kd={
            "method": cfg.method,
            "kd_alpha": cfg.kd_alpha,
            "kd_temperature": cfg.kd_temperature,
            "beta": cfg.beta,
            "lmbda": cfg.lmbda,
            "max_new_tokens": cfg.max_new_tokens,
            "onpolicy_temperature": cfg.onpolicy_temperature,
        },
        teacher=teacher,
    )
    trainer.teacher_tokens = done
    return trainer


def check_config(cfg: Any) -> None:
    """TrainConfig's checks of the distillation keys (called from its __post_init__)."""
    if cfg.method not in METHODS:
        raise DistillError(f"unknown --method '{cfg.method}' (have: {', '.join(METHODS)})")
    for key in ("kd_alpha", "beta", "lmbda"):
        if not 0.0 <= getattr(cfg, key) <= 1.0:
            raise DistillError(f"{key} must be within [0, 1], got {getattr(cfg, key)}")
    if cfg.kd_temperature <= 0 or cfg.onpolicy_temperature <= 0:
        raise DistillError("kd_temperature and onpolicy_temperature must be > 0")
    if cfg.teacher_top_k < 1 or cfg.max_new_tokens < 1:
        raise DistillError("teacher_top_k and max_new_tokens must be >= 1")
    # a prompt field with an answer column maps a dataset's columns (any method); without one it
    # names a prompt source (as generate's), which only onpolicy trains on
    named = [
        k
        for k in ("template", "prompt_field", "system_prompt")
        if getattr(cfg, k) and not (k == "prompt_field" and cfg.answer_field)
    ]
    if named and cfg.method != "onpolicy":
        raise DistillError(
            f"{', '.join(named)}: for --method onpolicy on prompts alone (a prompt field with "
            f"--answer-field maps a dataset's columns); --method {cfg.method} trains on the "
            "completions' own prompts"
        )
    if cfg.method == "sft":
        return
    if cfg.teacher_url and not cfg.teacher_model:
        raise DistillError("--teacher-url needs --teacher-model (the served model's name)")
    if cfg.method == "onpolicy" and not cfg.teacher_model:
        raise DistillError("--method onpolicy needs a teacher: --teacher-model or --teacher-url")
    if cfg.packing:
        raise DistillError(f"--packing is for --method sft only (method {cfg.method})")


def card_lines(train: dict[str, Any], state: dict[str, Any] | None) -> list[str]:
    """The model card's lines on the training method and its teacher (publish lineage)."""
    method = train.get("method") or "sft"
    if method == "sft":
        return ["\nMethod: sft (sequence-level: the student learned the teacher's text)."]
    if train.get("teacher_url"):
        teacher = f"`{train.get('teacher_model')}` served at {train['teacher_url']}"
    elif train.get("teacher_model"):
        teacher = f"`{train['teacher_model']}` (local)"
    else:
        teacher = "the teacher's top-K log-probs stored with the traces"
    if method == "kd":
        how = (
            f"kd (token-level, off-policy): {train.get('kd_alpha')} x T^2 x KL(teacher || student) "
            f"at T={train.get('kd_temperature')} + {1 - float(train.get('kd_alpha', 0.5)):.2f} x "
            "cross-entropy on the kept traces"
        )
    else:
        how = (
            f"onpolicy (GKD): the student sampled its own completions (lmbda={train.get('lmbda')}), "
            f"loss = generalized JSD with beta={train.get('beta')} to the teacher's distribution"
        )
    lines = [f"\nMethod: {how}.", f"Teacher distribution: {teacher}."]
    if state:
        lines.append(
            f"Completion tokens the teacher scored in training: {state.get('teacher_tokens_scored'):,}."
        )
    return lines
