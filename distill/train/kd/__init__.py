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
One live teacher of the student's vocabulary reads each completion after its own chat
template's rendering of the prompt (its system prompt, its turn markers) where that differs
from the student's, the same completion tokens after it (data.own_prompt_dataset).

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
re-renders `messages` with its own collator. So `DistillTrainer` (trainer.py) is TRL's SFTTrainer with
its loss overridden, reusing GKD's generalized JSD and its on-policy sampling step verbatim.

A local teacher whose tokenizer is not the student's (kd and onpolicy; `--xtok uld|hybrid`):
both read the same text, their predictions are compared where both follow the same characters
(ULD, or GOLD's hybrid of an exact KL over the tokens both vocabularies spell alike + ULD); on
policy the student's samples are decoded and the teacher reads their text after its own
rendering of the prompt (the aligned loss replaces the generalized JSD there): xtok.py.

Where things happen: loss.py (the divergences), data.py (stored top-K, collator, prompt
source), xtok.py (another tokenizer: alignment and losses), trainer.py (the trainer and its build), rollout.py (--rollout vllm: vLLM samples the student), distill.teachers.scorers (the teachers that
score during training); here: the method names, the config checks and the model card's lines.
"""

from __future__ import annotations

from typing import Any

from distill.errors import DistillError

METHODS = ("sft", "kd", "onpolicy")
_UNIT = ("kd_alpha", "beta", "lmbda")  # weights and probabilities: in [0, 1]


def check_config(cfg: Any) -> None:
    """TrainConfig's checks of the distillation keys (called from its __post_init__)."""
    if cfg.method not in METHODS:
        raise DistillError(f"unknown --method '{cfg.method}' (have: {', '.join(METHODS)})")
    from distill.config import check_values

    check_values(cfg, [(k, 0.0 <= getattr(cfg, k) <= 1.0, "in [0, 1]") for k in _UNIT])
    if cfg.xtok not in ("uld", "hybrid"):
        raise DistillError(f"unknown --xtok '{cfg.xtok}' (have: uld, hybrid)")
    check_values(
        cfg,
        [
            ("kd_temperature", cfg.kd_temperature > 0, "> 0"),
            ("onpolicy_temperature", cfg.onpolicy_temperature > 0, "> 0"),
        ],
    )
    _check_rollout(cfg)
    check_values(
        cfg,
        [
            ("teacher_top_k", cfg.teacher_top_k >= 1, ">= 1"),
            ("max_new_tokens", cfg.max_new_tokens >= 1, ">= 1"),
        ],
    )
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
    _check_reward(cfg)
    from distill.train.kd.multi import check_teachers

    check_teachers(cfg)  # one teacher as a string; several: counts, weights, route (multi.py)
    if cfg.method == "sft":
        return
    if cfg.teacher_url and not cfg.teacher_model:
        raise DistillError("--teacher-url needs --teacher-model (the served model's name)")
    if cfg.method == "onpolicy" and not cfg.teacher_model:
        raise DistillError("--method onpolicy needs a teacher: --teacher-model or --teacher-url")
    if cfg.packing:
        raise DistillError(f"--packing is for --method sft only (method {cfg.method})")


def _check_reward(cfg: Any) -> None:
    """The verifier-in-the-loop keys (kd/reward.py): onpolicy only, and consistent."""
    from distill.train.kd.reward import REWARDS

    if cfg.reward not in REWARDS:
        raise DistillError(f"unknown --reward '{cfg.reward}' (have: {', '.join(REWARDS)})")
    if cfg.rollouts_per_prompt < 1:
        raise DistillError(f"--rollouts-per-prompt must be >= 1, got {cfg.rollouts_per_prompt}")
    if cfg.reward_weight < 0:
        raise DistillError(f"--reward-weight must be >= 0, got {cfg.reward_weight}")
    named = [
        flag
        for flag, on in (
            ("--reward", cfg.reward != "none"),
            ("--rollouts-per-prompt", cfg.rollouts_per_prompt != 1),
            ("--gate-teacher", cfg.gate_teacher),
        )
        if on
    ]
    if named and cfg.method != "onpolicy":
        raise DistillError(
            f"{', '.join(named)}: for --method onpolicy (the student's own samples are what is "
            f"verified and repeated), not --method {cfg.method}"
        )
    # the reward term's advantage is centred over a prompt's k samples (k == 1: over the
    # micro-batch): a group of one sample, or no sampled batch at all, makes it 0 everywhere
    if cfg.reward != "none" and cfg.method == "onpolicy":
        if cfg.lmbda == 0:
            raise DistillError(
                "--reward verifies the student's samples, and --lmbda 0 never samples: "
                "raise --lmbda (the share of batches the student samples)"
            )
        if cfg.rollouts_per_prompt == 1 and cfg.per_device_train_batch_size == 1:
            raise DistillError(
                "--reward with one sample per batch: its advantage (reward minus the mean of "
                "its group) is always 0; raise --rollouts-per-prompt (e.g. 4) or --batch-size"
            )
    if cfg.gate_teacher and not cfg.gate_traces:
        raise DistillError(
            "--gate-teacher needs --gate-traces: generate's traces file (several samples per "
            "prompt) or the filter's kept and rejects files, whose verdicts say where the "
            "teacher failed"
        )
    if cfg.gate_traces and not cfg.gate_teacher:
        raise DistillError("--gate-traces is read by --gate-teacher only: add --gate-teacher")


def _check_rollout(cfg: Any) -> None:
    """--rollout and its keys (distill/train/kd/rollout.py); the CUDA checks wait for the run."""
    from distill.train.kd.rollout import ROLLOUTS, VLLM_MODES, WEIGHT_SYNCS

    if cfg.rollout not in ROLLOUTS:
        raise DistillError(f"unknown --rollout '{cfg.rollout}' (have: {', '.join(ROLLOUTS)})")
    if cfg.rollout == "hf":
        named = [k for k in ("rollout_url", "vllm_mode", "weight_sync") if getattr(cfg, k)]
        if named:
            raise DistillError(f"{', '.join(named)}: for --rollout vllm (--rollout is hf)")
        return
    if cfg.method != "onpolicy":
        raise DistillError(
            f"--rollout vllm samples the student for --method onpolicy (method {cfg.method})"
        )
    if cfg.vllm_mode is not None and cfg.vllm_mode not in VLLM_MODES:
        raise DistillError(f"unknown --vllm-mode '{cfg.vllm_mode}' (have: {', '.join(VLLM_MODES)})")
    if cfg.weight_sync is not None:
        if cfg.weight_sync not in WEIGHT_SYNCS:
            raise DistillError(
                f"unknown --weight-sync '{cfg.weight_sync}' (have: {', '.join(WEIGHT_SYNCS)})"
            )
        if cfg.vllm_mode == "colocate" or not cfg.rollout_url:
            raise DistillError(
                "--weight-sync is how weights reach a vLLM server (--rollout-url); colocate "
                "loads them in process: drop --weight-sync"
            )
        if cfg.weight_sync == "lora" and not cfg.lora:
            raise DistillError(
                "--weight-sync lora hot-loads a LoRA adapter and this run trains every weight "
                "(--no-lora): use --weight-sync reload, or nccl on CUDA"
            )
        if cfg.weight_sync == "reload" and cfg.qlora:
            raise DistillError(
                "--weight-sync reload with --qlora: the adapter merged into 4-bit weights is no "
                "checkpoint the server's model reloads; use --weight-sync lora"
            )
        if cfg.weight_sync == "nccl" and cfg.lora:
            raise DistillError(
                "--weight-sync nccl pushes a full fine-tune's weights by their names; a LoRA "
                "student syncs with --weight-sync lora (the adapter) or reload (merged)"
            )
    changed = [k for k in ("rope_theta", "max_position_embeddings") if getattr(cfg, k) is not None]
    if changed:  # the trainer's config, not the checkpoint's: vLLM reads config.json once
        flags = ", ".join("--" + k.replace("_", "-") for k in changed)
        raise DistillError(
            f"{flags} with --rollout vllm: the student trains with a RoPE config its checkpoint "
            "does not hold, and vLLM samples with the one it loaded (no sync sends a config); "
            "save the student with that config (its config.json holding it), train and serve "
            "that checkpoint, or use --rollout hf"
        )
    if cfg.lora and cfg.lora_trainable_tokens and cfg.weight_sync in (None, "lora"):
        raise DistillError(
            "--lora-trainable-tokens with --rollout vllm: vLLM loads a LoRA adapter's layers, not "
            "its trained embedding rows, so it would sample another policy; use --weight-sync "
            "reload (the merged weights, rows included) or --rollout hf"
        )
    if cfg.vllm_mode == "server" and not cfg.rollout_url:
        from distill.train.kd.rollout import serve_command

        raise DistillError(
            "--vllm-mode server needs --rollout-url http://host:port/v1, a vLLM server serving "
            f"the student: {serve_command(cfg, cfg.model)}"
        )
    if cfg.vllm_mode == "colocate" and cfg.rollout_url:
        raise DistillError("--vllm-mode colocate runs vLLM in process: drop --rollout-url")
    if cfg.rollout_url and not cfg.rollout_url.startswith(("http://", "https://")):
        from distill.urls import redact_url

        raise DistillError(
            f"--rollout-url must be http(s)://host:port/v1, got {redact_url(cfg.rollout_url)}"
        )
    if cfg.sync_steps < 1:
        raise DistillError(f"--sync-steps must be >= 1, got {cfg.sync_steps}")
    if cfg.max_staleness is None:
        cfg.max_staleness = cfg.sync_steps - 1
    if cfg.max_staleness < cfg.sync_steps - 1:
        raise DistillError(
            f"--max-staleness {cfg.max_staleness} < --sync-steps - 1 ({cfg.sync_steps - 1}): every "
            "rollout between two syncs would be dropped; raise it or sync more often"
        )
    from distill.config import check_values

    u = cfg.vllm_gpu_memory_utilization
    check_values(cfg, [("vllm_gpu_memory_utilization", 0 < u <= 1, "in (0, 1]")])


# The teacher term of a teacher of another tokenizer (--xtok; xtok.py): no KL over one
# vocabulary, nor GKD's generalized JSD on policy
XTOK_LOSSES = {
    "uld": "ULD (L1 between the two sorted probability vectors; Boizard et al. 2024)",
    "hybrid": "the GOLD hybrid (exact KL(teacher || student) over the tokens both vocabularies "
    "spell alike + one bucket for the rest, + ULD on the tokens only one side has)",
}


def _xtok_loss(state: dict[str, Any] | None) -> str | None:
    """The loss kd.json records for a teacher of another tokenizer (one teacher: its `xtok`;
    several: each one's), None when none was."""
    kinds = [(state or {}).get("xtok")]
    kinds += [e.get("xtok") for e in (state or {}).get("teachers") or [] if isinstance(e, dict)]
    kinds = sorted({k for k in kinds if k})
    if not kinds:
        return None
    return " / ".join(f"{XTOK_LOSSES.get(k, k)} (--xtok {k})" for k in kinds)


def card_lines(train: Any, state: dict[str, Any] | None) -> list[str]:
    """The model card's lines on the training method and its teacher (publish lineage)."""
    method = train.method or "sft"
    if method == "sft":
        return ["\nMethod: sft (sequence-level: the student learned the teacher's text)."]
    from distill.train.kd.multi import end_line, several

    if several(train):
        from distill.train.kd import multi

        teacher = "several teachers (below)"
    elif train.teacher_url:
        from distill.urls import redact_urls

        teacher = f"`{train.teacher_model}` served at {redact_urls(train.teacher_url)}"
    elif train.teacher_model:
        teacher = f"`{train.teacher_model}` (local)"
    else:
        teacher = "the teacher's top-K log-probs stored with the traces"
    same = "KL(teacher || student)" if method == "kd" else f"generalized JSD with beta={train.beta}"
    term, other = same, _xtok_loss(state)
    if other and several(train):  # some teachers of another tokenizer (multi.card_lines: which)
        term = (
            f"the weighted sum of the teachers' {same}, {other} for a teacher of another tokenizer"
        )
    elif other:
        term = other
    if method == "kd":
        how = (
            f"kd (token-level, off-policy): {train.kd_alpha} x T^2 x {term} "
            f"at T={train.kd_temperature} + {1 - float(train.kd_alpha):.2f} x "
            "cross-entropy on the kept traces"
        )
    else:
        how = (
            f"onpolicy (GKD): the student sampled its own completions (lmbda={train.lmbda}), "
            f"loss = {term} to the teacher's distribution"
        )
        temp = float(getattr(train, "kd_temperature", 1.0) or 1.0)
        if temp != 1.0:  # both sides softened, no T^2 (TRL's DistillationTrainer's JSD at T)
            how += f", both softened at T={temp:g}"
    lines = [f"\nMethod: {how}.", f"Teacher distribution: {teacher}."]
    if several(train):
        lines += multi.card_lines(train, state)
    own = (state or {}).get("teacher_own_prompt")
    if own:  # a teacher of the student's vocabulary whose chat template renders prompts otherwise
        lines.append(
            f"Teacher prompt: the teacher read each completion after its own chat template's "
            f"prompt ({own.get('rows', 0):,} of {own.get('of', 0):,} rows rendered otherwise "
            "than the student's), the student's completion tokens after it"
            + (
                f"; {own['read_in_students']:,} rows its template refuses or renders in other "
                "turns were read in the student's."
                if own.get("read_in_students")
                else "."
            )
        )
    end = (state or {}).get("teacher_end_of_turn")
    if isinstance(end, dict):
        students = (own or {}).get("read_in_students") or 0
        lines.append(f"Teacher end of turn: {end_line(end, train, students)}.")
    if state and state.get("teacher_tokens_scored") is not None:
        lines.append(
            f"Completion tokens the teacher scored in training: {state['teacher_tokens_scored']:,}."
        )
    reward = getattr(train, "reward", "none") or "none"
    if reward != "none":
        k = getattr(train, "rollouts_per_prompt", 1)
        lines.append(
            f"Verifier in the loop: the student's samples were verified ({reward}) and "
            f"{getattr(train, 'reward_weight', 1.0)} x a policy-gradient term on that reward was "
            f"added to the teacher's term ({k} sample(s) per prompt, advantage centred "
            + ("over each prompt's samples)." if k > 1 else "over the batch).")
        )
    if state and state.get("gated_prompts") is not None:
        lines.append(
            f"Teacher gate: {state['gated_prompts']:,} of the training prompts were left out of "
            "the teacher's term, its own samples of them having all failed verification "
            f"({state.get('gate_prompts_verified', 0):,} prompts with verified teacher samples)."
        )
    if state and state.get("xtok"):
        share = state.get("aligned_share")
        vocab = state.get("teacher_vocab")
        size = (
            f"{vocab:,} tokens, {state.get('shared_tokens'):,} spelled as the student's"
            if vocab is not None  # stored / served top-K: the teacher's listed tokens only
            else f"its top-K tokens read by their text, {state.get('shared_tokens'):,} spelled as "
            "the student's"
        )
        lines.append(
            f"Cross-tokenizer ({state['xtok']}): the teacher's tokenizer differs ({size}); "
            f"compared at {'?' if share is None else f'{share:.1%}'} of the completion "
            "tokens (the boundaries both tokenizations share), cross-entropy alone elsewhere."
        )
    return lines
