"""The KD / on-policy trainer: TRL's SFTTrainer with the distillation loss.

    distill train --recipe recipes/kd-smoke.yaml

Imported by distill.train.sft only for --method kd/onpolicy (it imports torch and trl).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from transformers import GenerationConfig, TrainerCallback
from trl import SFTTrainer
from trl.experimental.gkd import GKDTrainer
from trl.models.utils import unwrap_model_for_generation

from distill.errors import DistillError
from distill.records import write_atomic
from distill.teachers.scorers import LocalTeacher, ServedTeacher, teacher_for
from distill.train.callbacks import loss_log_callback
from distill.train.kd.data import (
    Collator,
    own_prompt_dataset,
    own_sampled,
    stored_dataset,
    teacher_template,
    trained_rows,
)
from distill.train.kd.loss import (
    bucket_logprobs,
    chunked_sum,
    divergence,
    fused_head_loss,
    lm_head,
)
from distill.train.kd.multi import RouteCollator, Teachers, several
from distill.train.kd.reward import (
    WithReferences,
    attach_references,
    repeat_rows,
    score_rollouts,
    verifier_in_the_loop,
)
from distill.train.kd.rollout import rollout_for
from distill.train.kd.xtok import (
    XTokTeacher,
    served_xtok,
    stored_xtok,
    stored_xtok_dataset,
    xtok_dataset,
)
from distill.urls import redact_urls

# =========================================================================== trainer


class DistillTrainer(SFTTrainer):
    """TRL's SFTTrainer with the distillation loss: kd (the teacher's distribution on the traces)
    or onpolicy (GKD: the student samples, the teacher scores), mixed as in TrainConfig."""

    # compute_loss normalises by the tokens of the whole accumulated batch itself.
    loss_is_scaled_for_ga = True

    def __init__(self, *a: Any, kd: Any, teacher: Any, **kw: Any):
        super().__init__(*a, **kw)
        # The Trainer counts the step's completion tokens (num_items_in_batch) only for a model
        # whose forward takes loss kwargs; Gemma 4 / Gemma 3n (AutoModelForCausalLM's
        # *ForConditionalGeneration) say they do not, and compute_loss then fell back to the mean
        # of each micro-batch's mean under --gradient-accumulation-steps. The loss is ours
        # (compute_loss), not the model's: always count, as it reads them (labels[:, 1:]).
        self.model_accepts_loss_kwargs = True
        self._loss_shifts_labels = True
        self.kd, self.teacher = kd, teacher  # kd: the run's TrainConfig (its distillation keys)
        self.rollout: Any = None  # --rollout vllm: distill.train.kd.rollout (set by the build)
        self._micro, self._micro_step = 0, None
        self._step: Any = None  # on policy: the step's micro-batches, not yet sampled
        self._step_items: Any = None  # and their completion tokens, once sampled
        self.teacher_tokens = 0  # completion tokens the teacher scored during training
        self._sums: dict[str, float] = {"kl": 0.0, "ce": 0.0, "n": 0}
        # --reward / --gate-teacher (kd/reward.py): the pg term and the rewards since the last
        # log, the prompt ids the gate leaves out of the teacher term, code's sandbox
        self._rl: dict[str, float] = {"pg": 0.0, "n": 0, "reward": 0.0, "samples": 0}
        self.gated: set[str] = set()
        self.sandbox: str | None = None
        self.kd_state: Any = None  # KDState, kd.json's writer (set by the build)
        # a teacher reading its own prompt: kd/data.own_prompt_dataset's counts (the build's)
        self.own_prompts: dict[str, int] | None = None
        self.gen_kwargs = {
            "max_new_tokens": kd.max_new_tokens,
            "temperature": kd.onpolicy_temperature,
            "do_sample": True,
            "top_k": 0,
            "top_p": 1.0,
            # generate fills what is left unset from the model's generation_config.json
            # (Qwen2.5-Instruct: repetition_penalty 1.1): samples of another policy than the
            # one the loss treats them as; vLLM is asked for the same (rollout.py)
            "repetition_penalty": 1.0,
            "min_p": 0.0,
            "pad_token_id": self.processing_class.pad_token_id,
            "eos_token_id": self.model.generation_config.eos_token_id,
        }
        self.gen_config = GenerationConfig(**self.gen_kwargs)
        eos = self.gen_kwargs["eos_token_id"]
        self._stops = set(eos if isinstance(eos, list) else [] if eos is None else [eos])
        self._ended = [0, 0]  # on-policy samples that ended their turn / all, since the last log
        self._fallback = 0  # --mask-truncated: on-policy micro-batches trained on the traces
        self._run_on_warned = False

    # -------------------------------------------------------------- on-policy sampling
    def _coin(self) -> float:
        """GKD's per-micro-batch draw (sample on policy when < lmbda), a function of (seed,
        optimizer step, micro-batch): a resumed run draws what the uninterrupted one drew."""
        step = self.state.global_step
        self._micro = self._micro + 1 if self._micro_step == step else 0
        self._micro_step = step
        return random.Random(f"{self.args.seed}:{step}:{self._micro}").random()

    def get_batch_samples(self, epoch_iterator, num_batches, device):  # noqa: ANN001, ANN201
        """The optimizer step's micro-batches; on policy, the student samples them all at the
        step's first training_step and their completion tokens are the step's count: an
        on-policy step's loss is the mean over every sampled token of the step (as an off-policy
        one's over every trace token), not the mean of each micro-batch's mean (which weighs a
        short sample's tokens more under --gradient-accumulation-steps). The weights do not
        change within a step, so sampling all of them first samples what sampling each before
        its backward did. Not here: a run resumed mid-epoch gets its checkpoint's RNG state
        back after this call (Trainer._run_epoch), and samples drawn before it are not the
        uninterrupted run's."""
        batches, n = super().get_batch_samples(epoch_iterator, num_batches, device)
        if self.kd.method == "onpolicy":  # (called by the training loop only)
            self._step = (batches, device)
        return batches, n

    def training_step(self, model, inputs, num_items_in_batch=None):  # noqa: ANN001
        step = self._step
        if step is not None and any(b is inputs for b in step[0]):  # the step's first
            self._step = None
            for b in step[0]:  # in place: the loop goes on with these dicts
                sampled = self._on_policy_batch(model, b)
                if sampled is not b:
                    b.clear()
                    b.update(sampled)
                b["kd_counted"] = True  # num_items_in_batch counts its tokens (compute_loss)
            self._step_items = self._get_num_items_in_batch(step[0], step[1])
        if inputs.get("kd_counted"):
            num_items_in_batch = self._step_items
        else:  # (a caller other than the Trainer's loop)
            inputs = self._on_policy_batch(model, inputs)
        return super().training_step(model, inputs, num_items_in_batch)

    def _on_policy_batch(self, model, inputs):  # noqa: ANN001, ANN202
        """The micro-batch to train on: GKD's coin (lmbda) says whether the student's samples
        replace its completions (the kept traces' batch where --mask-truncated falls back)."""
        inputs["on_policy"] = False
        on_policy = self.kd.method == "onpolicy" and self._coin() < self.kd.lmbda
        traces = dict(inputs)  # the kept traces' batch (--mask-truncated falls back to it)
        if on_policy and self.kd.rollouts_per_prompt > 1:  # GRPO's num_generations
            repeat_rows(inputs, self.kd.rollouts_per_prompt)  # k samples of each prompt
        if on_policy and self.rollout is not None:  # --rollout vllm: vLLM samples (rollout.py)
            ids, attn, labels = self.rollout.generate(self, model, inputs)
        elif on_policy:
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
        if on_policy:
            ended = self._count_ends(labels)
            inputs.update(input_ids=ids, attention_mask=attn, labels=labels, on_policy=True)
            if self.kd.reward != "none":  # (centred over every sample, as DAPO's groups)
                inputs["advantage"] = self._advantages(labels, inputs)
            if self.kd.mask_truncated and any(e is not None for e in ended):
                # every sample ran on: the kept traces' batch instead, where it has completions
                # (a prompt source has none: no loss, as any run-on sample)
                if not any(ended) and bool((traces["labels"] != -100).any()):
                    self._fallback += 1
                    return traces
                labels = labels.clone()
                labels[[e is False for e in ended]] = -100  # no teacher or reward term there
                inputs["labels"] = labels
            inputs.pop("teacher_ids", None)
            inputs.pop("teacher_logprobs", None)
            if "teacher_prompt" in inputs:  # a teacher reading its own prompt: the samples after it
                pad = self.processing_class.pad_token_id
                ends = getattr(self.teacher, "own_ends", None)  # (its end of turn's tokens)
                inputs.update(own_sampled(ids, inputs["labels"], inputs, pad, ends))
            if isinstance(self.teacher, (XTokTeacher, Teachers)):  # another tokenizer reads them
                inputs.update(self.teacher.sampled(ids, labels, inputs))
        return inputs

    def _count_ends(self, labels: Any) -> list[bool | None]:
        """Samples whose last token is a stop (the student ended its turn) against all: a sample
        that runs to --max-new-tokens is text after the answer the teacher is asked to score.
        -> per row, whether its sample ended (None: no sample, a stale rollout --rollout vllm
        dropped)."""
        ended: list[bool | None] = []
        for row in labels:
            c = row[row != -100]
            ended.append(int(c[-1]) in self._stops if len(c) else None)
            if len(c):
                self._ended[1] += 1
                self._ended[0] += bool(ended[-1])
        return ended

    # -------------------------------------------------------------- the loss
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # noqa: ANN001
        method, temp = self.kd.method, self.kd.kd_temperature
        chunk = self.kd.loss_chunk_size
        on_policy = inputs.pop("on_policy", False)
        # sampled before the step (get_batch_samples): the Trainer's count is of these tokens
        local = on_policy and not inputs.pop("kd_counted", False)
        ids, attn, labels = inputs["input_ids"], inputs["attention_mask"], inputs["labels"]
        # Left-padded on-policy rows need positions counted from their first real token.
        pos = (attn.cumsum(-1) - 1).clamp(min=0)
        tgt = labels[:, 1:]
        mask = tgt != -100
        n_local = mask.sum()
        # per completion position: --reward's advantage (0 off policy) and --gate-teacher's
        # weight of the teacher term (0 for a gated prompt)
        adv, keep = (w[:, None].expand_as(tgt)[mask] for w in self._row_weights(inputs, ids))
        if chunk:
            # The body once; the head later, per chunk of completion positions (chunked_sum).
            # Through the (DDP/PEFT) wrapper, so its hooks run; logits of one position only.
            out = model(
                input_ids=ids,
                attention_mask=attn,
                position_ids=pos,
                use_cache=False,
                output_hidden_states=True,
                logits_to_keep=1,
            )
            s_rows = out.hidden_states[-1][:, :-1][mask]
            s_head = lm_head(self.accelerator.unwrap_model(model))
        else:  # --loss-chunk-size 0: the full [B, L, V] logits (kept to compare against)
            out = model(input_ids=ids, attention_mask=attn, position_ids=pos, use_cache=False)
            s_rows, s_head = out.logits[:, :-1][mask], _same
        # GA-correct normalisation as SFT's; an on-policy batch sampled after the Trainer
        # counted the step's tokens (training_step called alone) normalises locally.
        if num_items_in_batch is None or local:
            denom = n_local.clamp(min=1) * (
                self.current_gradient_accumulation_steps if self.model.training else 1
            )
        else:
            denom = torch.as_tensor(num_items_in_batch, device=ids.device).clamp(min=1)
        with_kl = not (method == "kd" and self.kd.kd_alpha == 0.0)
        t_rows, pair = self._teacher_rows(inputs, mask, pos, chunk) if with_kl else ((), None)
        # a local teacher's completion positions with no row of its own (kd/data.own_end): none
        none = getattr(pair, "none", None)
        if none is not None:
            keep = keep.masked_fill(none, 0.0)
        beta = 0.0 if method == "kd" else self.kd.beta

        def sums(s_x, y, a, g, *t_x):  # noqa: ANN001, ANN202 - [kl, ce, pg] summed here
            logits = s_head(s_x)
            nll = F.cross_entropy(logits.float(), y, reduction="none")
            # pg: -(advantage x the sampled token's log-prob), the same head's log-probs
            ce, pg = nll.sum(), (a * nll).sum()
            if pair is None:
                return torch.stack([ce * 0, ce, pg])
            if isinstance(self.teacher, XTokTeacher):  # another tokenizer: its own loss
                return torch.stack([pair(logits, temp, *t_x), ce, pg])
            if isinstance(self.teacher, Teachers):  # several: their weighted divergences
                return torch.stack([pair(logits, temp, *t_x, gate=g), ce, pg])
            s_lp, t_lp = pair(logits, temp, *t_x)
            return torch.stack([(divergence(s_lp, t_lp, beta) * g).sum(), ce, pg])

        a = self.kd.kd_alpha
        sharded = getattr(self, "is_fsdp_enabled", False) or getattr(
            self, "is_deepspeed_enabled", False
        )
        if chunk and (pair is None or hasattr(pair, "local")) and not sharded:
            # CE / pg only or a local teacher: the head, the loss and its gradient in one pass
            # per chunk (fused_head_loss, ~ SFT's chunk memory), nothing recomputed in backward;
            # sharded heads (FSDP / ZeRO) keep chunked_sum's autograd
            coef = (
                (a * temp**2, 1 - a, 0.0) if method == "kd" else (1.0, 0.0, self.kd.reward_weight)
            )
            d = float(denom)
            loss, parts = fused_head_loss(
                s_rows, s_head, tgt[mask], adv, keep, tuple(c / d for c in coef), chunk,
                teacher=None if pair is None else (t_rows[pair.local[0]], *pair.local[1:]),
                beta=beta,
                temperature=temp,
            )  # fmt: skip
            kl, ce, pg = parts / denom
        else:
            kl, ce, pg = chunked_sum(sums, chunk, s_rows, tgt[mask], adv, keep, *t_rows) / denom
            if method == "kd":
                loss = a * temp**2 * kl + (1 - a) * ce
            else:
                loss = kl + self.kd.reward_weight * pg
        if self.model.training:  # every process's tokens (DDP: each trains its own rows)
            n_all = n_local.detach()
            if pair is None:  # --kd-alpha 0: cross-entropy only, no teacher asked
                n_all = n_all * 0
            elif pair is _topk_pair:  # stored / served top-K: the positions it has a row for
                n_all = (~(t_rows[0] < 0).all(-1)).sum()  # (not an end it never generated)
            elif none is not None:  # a local one: the same
                n_all = (~none).sum()
            elif getattr(pair, "scored", None) is not None:  # several: those any one scored
                n_all = pair.scored
            if self.accelerator.num_processes > 1:  # (every process computes its loss here)
                n_all = self.accelerator.gather(n_all.reshape(1)).sum()
            self.teacher_tokens += int(n_all)
        # The Trainer's count is global across processes (DDP averages gradients): scale back,
        # except on-policy batches divided by their own local tokens.
        procs = 1
        if self.args.average_tokens_across_devices and num_items_in_batch is not None and not local:
            procs = self.accelerator.num_processes
            loss = loss * procs
        # Logged per token: undo the accumulation scaling of this micro-batch's share (and, as
        # the loss, the global token count's: kl and ce were 1/N of their means on N processes).
        scale = (self.current_gradient_accumulation_steps if self.model.training else 1) * procs
        self._sums["kl"] += float(kl) * scale
        self._sums["ce"] += float(ce) * scale
        self._sums["n"] += 1
        if on_policy and self.kd.reward != "none":
            self._rl["pg"] += float(pg) * scale
            self._rl["n"] += 1
        return (loss, out) if return_outputs else loss

    def _teacher_rows(self, inputs, mask, pos, chunk):  # noqa: ANN001
        """The teacher's per-completion-position rows and the function that turns a chunk of
        (student logits, those rows) into (student, teacher) normalised log-probs. Rows are the
        local teacher's hidden states (its head is applied per chunk) or its logits when chunk is
        0, or the stored / served top-K ids and log-probs [N, K]: never [N, vocab] when chunked."""
        ids, attn = inputs["input_ids"], inputs["attention_mask"]
        if isinstance(self.teacher, Teachers):  # each one's rows as below (kd/multi.py)
            return self.teacher.rows(self, inputs, mask, pos, chunk)
        if isinstance(self.teacher, XTokTeacher):
            return self.teacher.rows(inputs, mask, chunk, lm_head)
        own = _own_rows(inputs, mask)  # a teacher reading its own prompt (kd/data.own_row)
        # another template's end of turn: its end token the student's (kd/data.end_pair), in
        # the rows it reads in its own rendering (`swap`: per position, None: every one); a row
        # read in the student's rendering ends with the student's end, compared as it is
        ends, swap = _end_rows(inputs, mask, getattr(self.teacher, "end_pair", None))
        if isinstance(self.teacher, LocalTeacher):
            none = None
            if own is not None:  # its rows at the positions predicting the same tokens
                t_ids, t_attn, pick, none = own
                t_pos = (t_attn.cumsum(-1) - 1).clamp(min=0)
            else:
                t_ids, t_attn, t_pos = ids, attn, pos

                def pick(out):  # noqa: ANN001, ANN202
                    return out[:, :-1][mask]

            if chunk:
                t_rows = pick(self.teacher.hidden(t_ids, t_attn, t_pos))
                t_head = _swapped(lm_head(self.teacher.model), ends, swap is not None)
            else:
                t_rows = pick(self.teacher.logits(t_ids, t_attn, t_pos))
                t_head = _swapped(_same, ends, swap is not None)
            if swap is not None:  # each position's exchange rides with its row (_swapped)
                t_rows = torch.cat([t_rows, swap[:, None].to(t_rows.dtype)], -1)
            vocab = self.teacher.vocab

            def full(logits, temp, t_x):  # noqa: ANN001, ANN202
                with torch.no_grad():
                    t_logits = t_head(t_x)
                v = min(vocab, logits.shape[-1], t_logits.shape[-1])
                # Models pad their embeddings past the tokenizer differently (Qwen 1.5B vs 7B):
                # the padding rows are never real tokens.
                s_lp = torch.log_softmax(logits[:, :v].float() / temp, -1)
                t_lp = torch.log_softmax(t_logits[:, :v].float() / temp, -1)
                return s_lp, t_lp

            full.local = (0, t_head, vocab)  # for fused_head_loss: which rows, head, vocab
            # positions it has no row for: no teacher term there (compute_loss's gate)
            full.none = none if none is not None and bool(none.any()) else None
            return (t_rows,), full
        if isinstance(self.teacher, ServedTeacher) and own is not None:
            # its own rows scored, each position's answer put at the student's position of the
            # token it predicts (the rest: none)
            t_in, t_attn, _, _ = own
            seqs = [row[m.bool()].tolist() for row, m in zip(t_in, t_attn, strict=True)]
            got = self.teacher.topk(seqs, t_in.shape[1], [0] * len(seqs))
            where = inputs["teacher_pos"].to(ids.device)
            t_ids, t_lps = (x.to(ids.device)[_rows_of(where), where.clamp(min=0)] for x in got)
            t_ids = t_ids.masked_fill((where < 0)[..., None], -1)
        elif isinstance(self.teacher, ServedTeacher):
            # Each row's real tokens are contiguous (left padding on policy, right padding
            # off policy): send them alone, put the answers back at their positions.
            starts = attn.argmax(-1).tolist()
            seqs = [row[m.bool()].tolist() for row, m in zip(ids, attn, strict=True)]
            t_ids, t_lps = self.teacher.topk(seqs, ids.shape[1], starts)
        else:  # stored top-K from the collator
            t_ids, t_lps = inputs["teacher_ids"], inputs["teacher_logprobs"]
        t_ids = _swap_ids(t_ids.to(ids.device)[:, 1:][mask], ends, swap)
        t_lps = t_lps.to(ids.device)[:, 1:][mask]
        return (t_ids, t_lps), _topk_pair

    def _advantages(self, labels, inputs):  # noqa: ANN001, ANN202
        """--reward: each sample verified, its advantage centred per prompt (kd/reward.py)."""
        k = self.kd.rollouts_per_prompt
        adv, rewards = score_rollouts(
            self.processing_class, labels, inputs["gold"], inputs["verify_meta"], k,
            self.kd.reward, self.sandbox, inputs.get("problem"), inputs.get("prompts"),
            (self.kd.verify_timeout, self.kd.code_memory_mb),
        )  # fmt: skip
        seen = [r for r in rewards if r is not None]
        self._rl["reward"] += sum(seen)
        self._rl["samples"] += len(seen)
        return torch.tensor(adv, dtype=torch.float32)

    def _row_weights(self, inputs, ids):  # noqa: ANN001, ANN202
        """([B] advantage, [B] teacher weight) of this batch's rows, popped from inputs."""
        adv = inputs.pop("advantage", None)
        adv = torch.zeros(ids.shape[0]) if adv is None else adv
        pids = inputs.get("prompt_id") or [""] * ids.shape[0]
        keep = torch.tensor([0.0 if p in self.gated else 1.0 for p in pids])
        return adv.to(ids.device), keep.to(ids.device)

    # ---------------------------------------------------------- kd.json across resumes
    def _save_checkpoint(self, model, trial):  # noqa: ANN001
        # kd.json as of this checkpoint, inside it and before its trainer_state.json (which
        # marks it complete): a resume from it, not from the newest save, counts from there
        if self.kd_state is not None and self.args.should_save:
            run_dir = Path(self._get_output_dir(trial=trial))
            self.kd_state.write(run_dir / f"checkpoint-{self.state.global_step}" / "kd.json")
        super()._save_checkpoint(model, trial)

    def train(self, resume_from_checkpoint=None, *a, **kw):  # noqa: ANN001, ANN002, ANN003
        saved = (
            Path(resume_from_checkpoint) / "kd.json"
            if isinstance(resume_from_checkpoint, (str, Path))
            else None
        )
        if saved is not None and saved.is_file():  # (checkpoints before it: the folder's kd.json)
            state = json.loads(saved.read_text())
            self.teacher_tokens = int(state.get("teacher_tokens_scored") or 0)
            if isinstance(self.teacher, Teachers):
                self.teacher.restore(state)
        elif not resume_from_checkpoint:  # a fresh start (--resume with nothing to resume):
            self.teacher_tokens = 0  # not the counts of the kd.json another run left
            if isinstance(self.teacher, Teachers):
                self.teacher.restore({"teachers": [{}] * len(self.teacher.tokens)})
        return super().train(resume_from_checkpoint, *a, **kw)

    def log(self, logs, start_time=None):  # noqa: ANN001
        # --reward: the pg term and the mean reward apart (samples of a batch --mask-truncated
        # trained on the traces instead were verified, with no pg term: their window's reward)
        if (self._rl["n"] or self._rl["samples"]) and "loss" in logs:
            if self._rl["n"]:
                logs["pg"] = round(self._rl["pg"] / self._rl["n"], 6)
            if self._rl["samples"]:
                logs["reward"] = round(self._rl["reward"] / self._rl["samples"], 4)
            self._rl = {"pg": 0.0, "n": 0, "reward": 0.0, "samples": 0}
        if self._sums["n"] and "loss" in logs:
            n = self._sums["n"]
            logs["kl"] = round(self._sums["kl"] / n, 6)
            logs["ce"] = round(self._sums["ce"] / n, 6)
            logs["teacher_tokens"] = self.teacher_tokens
            if self.rollout is not None:
                logs.update(self.rollout.logs())
            if self._ended[1]:  # on policy: the share of samples that ended their turn
                share = self._ended[0] / self._ended[1]
                logs["samples_ended"] = round(share, 4)
                if share < 0.5 and not self._run_on_warned:
                    self._run_on_warned = True
                    print(
                        f"onpolicy: warning: {1 - share:.0%} of the student's samples ran to "
                        f"--max-new-tokens {self.kd.max_new_tokens} without ending their turn; "
                        + (
                            "they get no loss (--mask-truncated). "
                            if self.kd.mask_truncated
                            else "the teacher scores the text they run on with. "
                        )
                        + "Give the student a longer SFT start (it has not learned its end of "
                        "turn) or more --max-new-tokens",
                        file=sys.stderr,
                    )
                self._ended = [0, 0]
            if self.kd.mask_truncated:
                logs["onpolicy_fallback"] = self._fallback
                self._fallback = 0
            if isinstance(self.teacher, XTokTeacher):
                logs["aligned_share"] = self.teacher.window_share()
            elif isinstance(self.teacher, Teachers):  # each of another tokenizer, by its index
                for i in self.teacher.xtok:  # (kd.json's teachers list, in the order given)
                    logs[f"aligned_share_{i}"] = self.teacher.teachers[i].window_share()
            self._sums = {"kl": 0.0, "ce": 0.0, "n": 0}
        return super().log(logs, start_time)


def _same(x: Any) -> Any:
    return x


def _rows_of(where: Any) -> Any:
    """[B, L] -> each position's row index, as `where`'s shape."""
    return torch.arange(where.shape[0], device=where.device)[:, None].expand_as(where)


def _own_rows(inputs: dict[str, Any], mask: Any) -> tuple[Any, Any, Any, Any] | None:
    """A teacher reading its own prompt (kd/data.own_prompt_dataset): (its ids, attention
    mask, out -> its rows at the student's completion positions, [N] the completion positions
    it has no row for: the student's end-of-turn tokens past its own, kd/data.own_end), None
    where it reads the student's rows. The student's logits at position i predict token i + 1,
    whose teacher index is teacher_pos[i + 1]: the teacher's logits one before it predict the
    same token."""
    if "teacher_input_ids" not in inputs:
        return None
    t_ids = inputs["teacher_input_ids"].to(mask.device)
    t_attn = inputs["teacher_attention_mask"].to(mask.device)
    where = inputs["teacher_pos"].to(mask.device)[:, 1:]
    rows, at = _rows_of(where)[mask], (where[mask] - 1).clamp(min=0)

    def pick(out: Any) -> Any:
        return out[rows, at]

    return t_ids, t_attn, pick, where[mask] < 0


def _end_rows(
    inputs: dict[str, Any], mask: Any, pair: tuple[int, int] | None
) -> tuple[tuple[int, int] | None, Any]:
    """(the end pair to exchange, None: none; [N] per completion position whether its row is
    read in the teacher's own rendering, None: every one is): kd/data.own_prompt_dataset's
    teacher_own_row. A row its template refuses is the student's row, ending with the student's
    end of turn, as is each sample after its prompt on policy: no exchange there."""
    own = inputs.get("teacher_own_row")
    if pair is None or own is None:
        return pair, None
    own = own.to(mask.device)[_rows_of(mask)[mask]]
    if bool(own.all()):
        return pair, None
    return (pair, own) if bool(own.any()) else (None, None)


def _swapped(head: Any, pair: tuple[int, int] | None, per_row: bool = False) -> Any:
    """A local teacher's head with its end-of-turn token's logit and the student's exchanged
    (kd/data.end_pair: one outcome); the head as it is for no pair. `per_row`: each row it is
    given ends with one more column, 1 where the exchange is due (_end_rows), 0 where not."""
    if pair is None:
        return head

    def swap(x: Any) -> Any:
        out = head(x[..., :-1] if per_row else x)
        idx = torch.arange(out.shape[-1], device=out.device)
        s, t = pair
        if max(s, t) < len(idx):
            idx[s], idx[t] = t, s
        swapped = out.index_select(-1, idx)
        return torch.where(x[..., -1:] > 0.5, swapped, out) if per_row else swapped

    return swap


def _swap_ids(t_ids: Any, pair: tuple[int, int] | None, where: Any = None) -> Any:
    """A served teacher's listed top-K ids with its end-of-turn token and the student's
    exchanged (kd/data.end_pair), at every position or those `where` says ([N] bool)."""
    if pair is None:
        return t_ids
    s, t = pair
    swapped = torch.where(t_ids == t, s, torch.where(t_ids == s, t, t_ids))
    return swapped if where is None else torch.where(where[:, None], swapped, t_ids)


def _topk_pair(logits: Any, temp: float, t_ids: Any, t_lps: Any) -> tuple[Any, Any]:
    """(student, teacher) log-probs over the teacher's top-K + the rest bucket."""
    s_b, t_b = bucket_logprobs(logits, t_ids, t_lps, temp)
    # A position with no stored distribution (an end of turn the teacher never generated)
    # gets no divergence: both sides collapse onto the rest bucket.
    none = (t_ids < 0).all(-1)
    s_b = torch.where(none.unsqueeze(-1), t_b.detach(), s_b)
    return s_b, t_b


class KDState(TrainerCallback):
    """kd.json: method, teacher and the tokens the teacher scored (kept across resumes)."""

    def __init__(self, cfg: Any, path: Any, trainer: DistillTrainer | None = None):
        self.cfg, self.path, self.trainer = cfg, path, trainer
        # the counts as of the last optimizer step (the trainer's, and several teachers' each):
        # a checkpoint saved mid-accumulation (the rollout server failed,
        # rollout.save_resumable) holds the state before that step, which --resume trains
        # again from its first micro-batch
        self.scored: int | None = None
        self.per_teacher: tuple[list[int], list[int]] | None = None

    def write(self, path: Any = None) -> None:
        """kd.json into the output folder (or `path`: a checkpoint's own copy)."""
        cfg = self.cfg
        scored = self.trainer.teacher_tokens if self.trainer else 0
        state = {
            "method": cfg.method,
            "teacher": cfg.teacher_url or cfg.teacher_model or "stored top-K",
            "teacher_model": cfg.teacher_model,
            "teacher_url": cfg.teacher_url,
            "teacher_tokens_scored": scored if self.scored is None else self.scored,
        }
        teacher = self.trainer.teacher if self.trainer else None
        if isinstance(teacher, XTokTeacher):  # this run's aligned share (a resume restarts it)
            share = teacher.compared / teacher.scored if teacher.scored else None
            state.update(
                xtok=cfg.xtok,
                teacher_vocab=teacher.t_vocab,
                shared_tokens=teacher.shared,
                aligned_share=None if share is None else round(share, 4),
            )
        own = self.trainer.own_prompts if self.trainer else None
        if own:  # the rows the teacher read after its own chat template's prompt
            state["teacher_own_prompt"] = {"rows": own["own"], "of": own["rows"]}
            if own.get("student"):  # rows its template refuses: read in the student's
                state["teacher_own_prompt"]["read_in_students"] = own["student"]
            if own.get("end"):  # its own end of turn read after each completion (data.own_end)
                state["teacher_end_of_turn"] = own["end"]
        if isinstance(teacher, Teachers):  # each teacher, its weight or route, its tokens
            state.update(teacher.state(state["teacher_tokens_scored"], self.per_teacher))
        if cfg.gate_teacher and self.trainer is not None:
            state.update(
                gated_prompts=self.trainer.gated_count,
                gate_prompts_verified=self.trainer.gate_verified,
            )
        # a served teacher's URL may carry a token (user:pass@, ?api_key=): kd.json names the server
        write_atomic(path or self.path, json.dumps(redact_urls(state), indent=2) + "\n")

    def _snapshot(self) -> None:
        self.scored = self.trainer.teacher_tokens if self.trainer else None
        teacher = self.trainer.teacher if self.trainer else None
        self.per_teacher = teacher.counts() if isinstance(teacher, Teachers) else None

    def on_train_begin(self, args, state, control, **kw):  # noqa: ANN001
        self._snapshot()

    def on_step_end(self, args, state, control, **kw):  # noqa: ANN001
        self._snapshot()

    def on_save(self, args, state, control, **kw):  # noqa: ANN001
        self.write()

    def on_train_end(self, args, state, control, **kw):  # noqa: ANN001
        self.write()


def _readings(cfg: Any, teacher: Any, own: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """Per teacher of the student's vocabulary: (its name, how it reads each row: whether after
    its own chat template's prompt, and its own end of turn where the templates end a turn
    otherwise: kd.json's teacher_own_prompt / teacher_end_of_turn); for several, in order."""
    if isinstance(teacher, Teachers):
        return [
            (spec.name, (t in teacher.own, (teacher.own.get(t) or {}).get("end")))
            for t, spec in enumerate(teacher.specs)
        ]
    if isinstance(teacher, (LocalTeacher, ServedTeacher)):
        return [(teacher.name, (own is not None, (own or {}).get("end")))]
    return []


def _same_reading(path: Any, saved: dict[str, Any], now: list[tuple[str, Any]]) -> None:
    """A --resume: each teacher reads the rows as the run so far had it read them (its own
    prompt, its own end of turn: kd.json of that run), or one line. A run begun by a distill
    that read them otherwise (before a teacher of another chat template read its own prompt
    among several, or its own end of turn) would learn other teacher targets from here on."""
    if isinstance(saved.get("teachers"), list):  # several
        then = [e if isinstance(e, dict) else {} for e in saved["teachers"]]
    else:
        then = [saved]
    if len(then) != len(now):  # (other teachers: the fingerprint's refusal, train_data.json)
        return

    def said(own: bool, end: Any) -> str:
        prompt = "its own chat template's prompt" if own else "the student's rendering"
        if end is None:
            return prompt
        text = end.get("teacher") if isinstance(end, dict) else end
        # (whether its end token was compared as the student's: the pairing apart, c57b355's
        # '\n<|im_end|>' / '\n<|endoftext|>' read the same text twice)
        pair = end.get("pair") if isinstance(end, dict) else None
        if not isinstance(end, dict) or "paired" not in end:
            how = ""
        elif isinstance(pair, list) and len(pair) == 2 and end["paired"]:
            how = f", its {pair[1]!r} compared as the student's {pair[0]!r}"
        elif end["paired"]:
            how = ", its first end token compared as the student's"
        else:
            how = ", its end token not compared as the student's"
        return f"{prompt} and its own end of turn ({text!r}){how}"

    for (name, (own, end)), e in zip(now, then, strict=True):
        was = ("teacher_own_prompt" in e, e.get("teacher_end_of_turn"))
        if was != (own, end):
            raise DistillError(
                f"--resume: {path}: teacher '{name}' read each completion after {said(*was)} in "
                f"the run so far; this distill reads it after {said(own, end)}: the rest of the "
                "run would learn other teacher targets; resume with the distill the run began "
                "with, or start over with --overwrite"
            )


def build_distill_trainer(
    cfg: Any, model: Any, tok: Any, args: Any, dataset: Any, peft_config: Any, out: Any
) -> Any:
    """A DistillTrainer with SFT's model, arguments, LoRA and examples (train.build_trainer
    dispatches here for --method kd/onpolicy)."""
    several_ = several(cfg)
    teacher = (Teachers.build if several_ else teacher_for)(cfg, tok, model.dtype)
    collator = Collator(tok.pad_token_id)
    if "teacher_route" in dataset.column_names:  # --teacher-route-field: each row's teacher
        collator = RouteCollator(collator)
    if several_:  # another tokenizer or another chat template among them (multi.py)
        eos = model.generation_config.eos_token_id
        dataset, collator = teacher.dataset(cfg, tok, eos, dataset, collator)
    if isinstance(teacher, ServedTeacher) and teacher.other_tokenizer:  # served, another tokenizer
        eos = model.generation_config.eos_token_id
        teacher, dataset, collator = served_xtok(cfg, tok, eos, teacher)
    if isinstance(teacher, LocalTeacher) and teacher.tok is not None:  # another tokenizer
        teacher = XTokTeacher(teacher, tok, cfg.xtok)
        dataset, collator = xtok_dataset(cfg, tok, model.generation_config.eos_token_id, teacher)
    if teacher is None and cfg.method == "onpolicy":
        raise DistillError("--method onpolicy needs a teacher: --teacher-model or --teacher-url")
    own = None  # the student's vocabulary, another chat template: its own prompt (kd/data.py)
    if isinstance(teacher, (LocalTeacher, ServedTeacher)):
        eos = model.generation_config.eos_token_id
        t_tok, t_eos = teacher_template(cfg.teacher_model, teacher)
        dataset, own = own_prompt_dataset(
            cfg, tok, eos, t_tok, t_eos, dataset, teacher.name, teacher
        )
    # stored top-K: the rows read once for both (at 1M traces, reading the data is minutes)
    picked = trained_rows(cfg) if teacher is None else None
    if teacher is None and (xt := stored_xtok(cfg, tok, picked)) is not None:
        teacher = xt  # stored top-K of another tokenizer, read by its token texts (xtok.py)
        eos = model.generation_config.eos_token_id
        dataset = stored_xtok_dataset(cfg, tok, eos, teacher, picked)
    if teacher is None:
        dataset, counts = stored_dataset(cfg, tok, model.generation_config.eos_token_id, picked)
        print(
            f"kd: stored teacher top-K on {counts['kd_positions']:,} completion tokens "
            f"({counts['aligned']} examples aligned as tokenized, {counts['realigned']} via the "
            "teacher's own token ids)"
        )
    if cfg.reward != "none" or cfg.gate_teacher:  # the gold answers and prompt ids, carried
        dataset = attach_references(cfg, tok, model.generation_config.eos_token_id, dataset)
        collator = WithReferences(collator)
    args.remove_unused_columns = False
    args.dataset_kwargs = {"skip_prepare_dataset": True}
    state_file = out / "kd.json"
    done = 0
    if cfg.resume and state_file.is_file():
        try:
            saved = json.loads(state_file.read_text())
        except ValueError as e:
            raise DistillError(f"--resume: {state_file} is no kd.json ({e})") from None
        if not isinstance(saved, dict):
            raise DistillError(f"--resume: {state_file} is no kd.json (not a JSON object)")
        done = saved.get("teacher_tokens_scored", 0)
        _same_reading(state_file, saved, _readings(cfg, teacher, own))

    kd_state = KDState(cfg, state_file)
    trainer = DistillTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=collator,
        processing_class=tok,
        peft_config=peft_config,
        callbacks=[loss_log_callback(out / "loss.jsonl"), kd_state],
        kd=cfg,
        teacher=teacher,
    )
    kd_state.trainer, trainer.kd_state = trainer, kd_state
    trainer.own_prompts = own
    if cfg.reward != "none" or cfg.gate_teacher:
        verifier_in_the_loop(trainer, cfg, dataset)
    trainer.rollout = rollout_for(cfg, tok, trainer.model, out)
    trainer.teacher_tokens = done
    if several_ and done:
        teacher.restore(json.loads(state_file.read_text()))
    return trainer
