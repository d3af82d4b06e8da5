"""`make smoke-kd`: SFT vs kd vs onpolicy on the embedded SmolLM2, 2 CPU cores, no hub.

    python scripts/kd_smoke.py recipes/kd-smoke.yaml [--run-dir runs/smoke-kd] [--seed 0]
        [--teacher DIR] [--warmup-prompts 64] [--warmup-steps 10] [--onpolicy-steps 20]
        [--onpolicy-lr 1.2e-3] [--reward-rollouts 1] [--reward-gate] [--reward-weight W]

With --teacher DIR (merged weights, or a `distill train` output folder, merged into DIR/merged
as `train --merge` does) that teacher is used instead of step 1's.

1. A teacher that knows the task, built honestly from the embedded model: SmolLM2 + a LoRA
   trained on the reference solutions of the 200 training problems ("59 + 63 = \\boxed{122}",
   each one verified), merged into full weights at RUN_DIR/teacher/merged. It never sees the
   held-out problems. (It used to be `make smoke`'s self-distilled student; once the verifier
   stopped taking "To calculate 59 + 63, you add them." for 122, that one solves under half.)
2. The recipe's generate + filter: the teacher writes traces on the training prompts, verified.
3. Three students from the base SmolLM2, the same LoRA settings and the same 30 steps of 8:
   sft (the teacher's text, all kept traces), kd (its token distribution on those traces),
   onpolicy (SFT first, then on-policy distillation, the order of the published on-policy
   results and of the real-scale recipe: 10 steps of SFT on the kept traces of the first 64
   training prompts, merged, then 20 on-policy steps with a fresh LoRA, its own LR schedule and
   twice the recipe's rate (1.2e-3: measured, below the README's table),
   in which the student samples its own answers to all 200 training prompts, read from the
   prompt source as generate read them (`train --method onpolicy` on prompts alone), solved by
   the teacher or not, and the teacher scores them; no other trace is read).
4. The recipe's eval (the held-out problems of `make smoke`) for the teacher (greedy: the
   pass@1 on-policy distillation converges to), the base and each student, each student right
   after its training.

5. onpolicy+reward: the onpolicy student again (the same SFT start, steps, rate and samples),
   with the verifier in the loop (`--reward math`): its samples are verified against each
   problem's gold answer and a policy-gradient term on that reward joins the teacher's reverse
   KL. --reward-rollouts k samples per prompt (default 1: the advantage is centred over the
   batch; k > 1 is GRPO's group, centred over each prompt's own samples) at batch/k prompts a
   step, so it samples and scores as many completions per step as onpolicy (measured, seed 0:
   k = 1 0.580, k = 4 0.380; README). --reward-gate adds --gate-teacher (the prompts whose
   teacher trace failed verification: the reward term alone), --reward-weight w its weight.

A student whose output folder holds its trained weights (a rerun after a stop, or after
removing one student's folder) is not trained again; it is evaluated (cached). Only if it was
trained as this run would train it: the same result-changing train keys (as --resume compares
them: recipe, seed, --reward-rollouts, ...), the same data bytes and teacher/start weights;
otherwise it is trained again over the old one.

Last line: `smoke-kd: base pass@1=A sft pass@1=B kd pass@1=C onpolicy pass@1=D onpolicy_reward
pass@1=E teacher_tokens sft=… kd=… onpolicy=… minutes=M`. teacher_tokens counts the completion
tokens the teacher generated that the student needed: sft/kd = all the traces (kd reuses them), onpolicy = the
traces of its warm-up prompts, rejected ones included. The line before it gives the ratio and
the student tokens the teacher scored on policy.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from distill.config import (
    from_dict,
    load_recipe,
    recipe_run_dir,
    recipe_section,
    substitute_run_dir,
)
from distill.errors import DistillError
from distill.records import read_records, write_atomic


def reference_solution(expression: str, answer: str) -> str:
    """The reference solution of a builtin arithmetic problem: "59 + 63 = \\boxed{122}" (15
    tokens). SmolLM2 already half knows two-digit sums; a short, fixed form is what a 135M
    student learns in 30 CPU steps (a column-by-column form, 34 tokens, gave a teacher of 0.56
    after 50 steps and an SFT student of 0.31 after 30)."""
    return f"{expression} = \\boxed{{{answer}}}"


def build_teacher(data: str, train_keys: dict[str, Any], out: Path, seed: int, recipe: str) -> Path:
    """A teacher that knows the task, built from the embedded model: SmolLM2 + a LoRA trained
    (the recipe's LoRA settings, 40 steps at 3e-4, fixed: the students' learning rate does not
    change their teacher) on the reference solutions of the training problems,
    merged into out/merged. It never sees the held-out problems."""
    from distill import train
    from distill.data import iter_source

    rows = list(iter_source(data, "train"))
    if not rows or "expression" not in rows[0]:
        raise DistillError(f"smoke-kd builds its teacher from builtin:arithmetic, not {data}")
    solutions = out / "solutions.jsonl"
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(
        solutions,
        "".join(
            json.dumps(
                {
                    "id": r["id"],
                    "prompt": r["problem"],
                    "completion": reference_solution(r["expression"], r["answer"]),
                }
            )
            + "\n"
            for r in rows
        ),
    )
    # chat: the text prompt/completion rows train in the student's chat turn, as the teacher is
    # then sampled (a raw continuation is TRL's default for such rows, and distill's since 2026-12)
    cfg = {
        **train_keys,
        "method": "sft",
        "teacher_model": None,
        "data": str(solutions),
        "chat": True,
    }
    cfg.update(seed=seed, output_dir=str(out), merge=True, max_steps=40, learning_rate=3e-4)
    train.run(from_dict(train.TrainConfig, cfg, recipe))
    return out / "merged"


def completion_tokens(record: dict[str, Any], path: Path) -> int:
    """The completion tokens the teacher generated for one trace (its `usage`)."""
    n = (record.get("usage") or {}).get("completion_tokens")
    if not isinstance(n, int):
        raise DistillError(f"{path}: record {record.get('id')} has no usage.completion_tokens")
    return n


def planned_ids(gen: Any, prompts: int | None = None) -> set[str]:
    """The trace ids this run's generate config plans (for its first `prompts` prompts), as
    `distill generate` computes them: other seeds' or teachers' records in the same file are
    not this run's."""
    from distill.generate import build_jobs

    if prompts is not None:
        gen = dataclasses.replace(gen, limit=min(gen.limit or prompts, prompts))
    return build_jobs(gen)[1]


def select_traces(path: Path, ids: set[str], out: Path | None = None) -> tuple[int, int]:
    """(records, completion tokens the teacher generated for them) of the records of `path`
    whose id is in `ids`; written to `out` when given (only when there is one)."""
    rows = [r for r in read_records(path, required=("id",)) if r["id"] in ids]
    if out is not None and rows:
        write_atomic(out, "".join(json.dumps(r) + "\n" for r in rows))
    return len(rows), sum(completion_tokens(r, path) for r in rows)


def given_teacher(path: Path) -> Path:
    """--teacher: merged weights, or a `distill train` student folder (its `merged/`, made here
    with `train --merge`'s own code when missing)."""
    import yaml

    from distill import train
    from distill.models import is_adapter, load_tokenizer
    from distill.train.config import saved_settings

    if (path / "merged" / "config.json").is_file():
        return path / "merged"
    if is_adapter(str(path)) and (path / "train.yaml").is_file():
        saved = yaml.safe_load((path / "train.yaml").read_text())
        cfg = from_dict(train.TrainConfig, saved_settings(saved), str(path / "train.yaml"))
        return train.merge_adapter(cfg, path, load_tokenizer(str(path)))
    if (path / "config.json").is_file():
        return path
    raise DistillError(
        f"--teacher {path}: neither model weights (config.json) nor a distill train output folder"
    )


def prompt_keys(gen: Any) -> dict[str, Any]:
    """The train keys of an on-policy run on the prompts `gen` (a GenerateConfig) read, rendered
    as it sent them: prompts alone, every one, not only those whose trace verified."""
    keys = ("data", "split", "limit", "template", "prompt_field", "system_prompt")
    return {k: getattr(gen, k) for k in keys}


def trained(out: Path, cfg: Any = None) -> bool:
    """A finished `distill train` output: the weights it writes last, beside its train.yaml
    (checkpoints go to checkpoint-N/ below). With `cfg` (a TrainConfig), also trained as `cfg`
    would train it: the same result-changing keys (as --resume compares them) and the same
    inputs (stamp_inputs: the data's bytes, the student's and teacher's weights; a folder
    trained before the stamp existed: its settings alone). A student trained otherwise
    (another recipe, seed, --reward-rollouts, a rebuilt teacher or SFT start) is not reused."""
    weights = ("adapter_model.safetensors", "model.safetensors", "model.safetensors.index.json")
    if not (out / "train.yaml").is_file() or not any((out / w).is_file() for w in weights):
        return False
    if cfg is None:
        return True
    if cfg.merge and cfg.lora and not (out / "merged" / "config.json").is_file():
        return False  # stopped while merging
    changed = settings_changed(out, cfg)
    stamp = out / INPUTS_STAMP  # a folder trained before stamps existed: its settings alone
    if stamp.is_file() and stamp.read_text().strip() != _inputs(cfg):
        changed.append("its data or model/teacher weights")
    if changed:
        print(f"== {out}: trained otherwise ({'; '.join(changed)}); training it again", flush=True)
    return not changed


def settings_changed(out: Path, cfg: Any) -> list[str]:
    """'key: saved -> now' for each result-changing key where cfg differs from the train.yaml
    in `out` (as --resume compares them; a max_length cfg leaves to the student's context is
    not compared: train.yaml holds it resolved)."""
    import yaml

    from distill.train.sft import changed_run_keys

    saved = yaml.safe_load((out / "train.yaml").read_text()) or {}
    if cfg.max_length is None:
        saved.pop("max_length", None)
    return changed_run_keys(cfg, saved)


INPUTS_STAMP = "smoke.inputs.sha256"


def _inputs(cfg: Any) -> str:
    """What a student was trained from beyond its config's values: the data file's bytes (the
    config names only its path) and the weights its model/teacher folders hold (rebuilt in
    place, the path stays)."""
    import hashlib

    from distill.eval import weights_stamp

    h = hashlib.sha256()
    data = Path(cfg.data)
    h.update(data.read_bytes() if data.is_file() else cfg.data.encode())
    teachers = cfg.teacher_model if isinstance(cfg.teacher_model, list) else [cfg.teacher_model]
    for m in [cfg.model, *teachers]:
        h.update(f"\0{weights_stamp(m) if isinstance(m, str) else m}".encode())
    return h.hexdigest()


def stamp_inputs(out: Path, cfg: Any) -> None:
    """After `cfg` trained into `out`: what it was trained from, for trained(out, cfg)."""
    write_atomic(out / INPUTS_STAMP, _inputs(cfg) + "\n")


def train_once(cfg: Any) -> Path:
    """cfg's output folder, trained as cfg says: reused if trained(out, cfg), else trained
    (over whatever an earlier run left there)."""
    from distill import train

    out = Path(cfg.output_dir)
    if trained(out, cfg):
        print(f"== {out}: trained before with these settings; kept", flush=True)
        return out
    cfg = dataclasses.replace(cfg, overwrite=True, resume=False)
    out = Path(train.run(cfg))
    stamp_inputs(out, cfg)
    return out


def run(
    recipe: str,
    run_dir: str | None = None,
    seed: int = 0,
    given: str | None = None,
    warmup_prompts: int = 64,
    warmup_steps: int = 10,
    onpolicy_steps: int = 20,
    onpolicy_lr: float = 1.2e-3,
    reward_rollouts: int = 1,
    reward_gate: bool = False,
    reward_weight: float | None = None,
) -> dict[str, Any]:
    from distill import eval as eval_stage
    from distill import filter as filter_stage
    from distill import generate, train

    t0 = time.monotonic()
    data = load_recipe(recipe)
    rd = run_dir or recipe_run_dir(data, recipe)
    sec = {s: substitute_run_dir(recipe_section(data, s, recipe), rd) for s in data if s != "run"}
    gen = from_dict(generate.GenerateConfig, {**sec["generate"], "seed": seed}, recipe)
    flt = from_dict(filter_stage.FilterConfig, sec["filter"], recipe)
    base_train = {**sec["train"], "seed": seed}
    steps = base_train.get("max_steps")
    if not isinstance(steps, int) or steps < 2:
        raise DistillError(
            f"{recipe}: smoke-kd needs train.max_steps >= 2 (every student gets the same steps; "
            f"epochs are not supported), got {steps}"
        )
    if base_train.get("lmbda", 1.0) != 1.0:
        raise DistillError(
            f"{recipe}: smoke-kd needs train.lmbda 1.0 (its onpolicy student trains on the "
            f"prompts alone after its warm-up; lmbda < 1 would mix in every trace)"
        )
    if warmup_prompts < 1:
        raise DistillError(f"--warmup-prompts must be >= 1, got {warmup_prompts}")
    if warmup_steps < 1:
        raise DistillError(f"--warmup-steps must be >= 1, got {warmup_steps}")
    if onpolicy_steps < 1:
        raise DistillError(f"--onpolicy-steps must be >= 1, got {onpolicy_steps}")
    if not onpolicy_lr > 0:
        raise DistillError(f"--onpolicy-lr must be > 0, got {onpolicy_lr}")
    batch = base_train.get("per_device_train_batch_size", 8)
    if reward_rollouts < 1 or batch % reward_rollouts:
        raise DistillError(
            f"--reward-rollouts {reward_rollouts}: must be >= 1 and divide train."
            f"per_device_train_batch_size ({batch}), so onpolicy_reward samples as many "
            f"completions a step as onpolicy"
        )
    root = Path(rd)
    teacher = root / "teacher"
    if given:
        print(f"== teacher: {given}", flush=True)
        merged = given_teacher(Path(given))
    else:
        print(
            "== teacher: SmolLM2 + LoRA on the training problems' reference solutions", flush=True
        )
        merged = teacher / "merged"
    root.mkdir(parents=True, exist_ok=True)
    if not (merged / "config.json").is_file():
        build_teacher(gen.data, base_train, teacher, seed, recipe)
    print("== generate + filter (the teacher's traces)", flush=True)
    gen = dataclasses.replace(gen, model=str(merged))
    generate.run(gen, progress=False)
    filter_stage.run(flt)

    # Each student is evaluated right after it is trained, so a run cut short still has numbers.
    ev = {**sec["eval"]}
    results: dict[str, Any] = {}
    # The teacher's own pass@1 on the held-out problems: what on-policy distillation converges
    # to (the student learns the teacher's distribution), while SFT on *verified* traces can
    # pass its teacher (it never sees the teacher's wrong answers).
    print("== eval teacher", flush=True)
    t_cfg = {**ev, "model": str(merged), "baseline": None}
    t_cfg["out"] = str(root / "eval-teacher.json")
    t_out = Path(eval_stage.run(from_dict(eval_stage.EvalConfig, t_cfg, recipe)))
    results["teacher"] = json.loads(t_out.read_text())["student"]["pass@1"]
    print(f"smoke-kd: teacher pass@1={results['teacher']:.3f}", flush=True)
    run_ids, warm_ids = planned_ids(gen), planned_ids(gen, warmup_prompts)
    warm_tokens = 0
    on_policy_keys: dict[str, Any] = {}  # onpolicy's on-policy steps, reused by onpolicy_reward
    for student in ("sft", "kd", "onpolicy", "onpolicy_reward"):
        # onpolicy_reward: onpolicy + the verifier in the loop (--reward math), all else equal
        method = "onpolicy" if student == "onpolicy_reward" else student
        out_dir = root / student.replace("_", "-")
        cfg = {**base_train, "method": method, "output_dir": str(out_dir)}
        cfg["teacher_model"] = None if method == "sft" else str(merged)
        if student == "onpolicy_reward":  # the same SFT start as onpolicy's (built there)
            cfg.update(on_policy_keys, reward="math", rollouts_per_prompt=reward_rollouts)
            if reward_gate:  # the teacher's own traces say where its distribution is wrong
                cfg.update(gate_teacher=True, gate_traces=[str(gen.out)])
            if reward_weight is not None:
                cfg["reward_weight"] = reward_weight
            cfg["per_device_train_batch_size"] = batch // reward_rollouts
        if student == "onpolicy":
            # SFT first, then on-policy (the published order, the real-scale recipe's shape): a
            # short SFT on the traces of the first warmup_prompts prompts, merged, and on-policy
            # from it for the rest of the same step budget.
            print(
                f"== train onpolicy: sft on the traces of the first {warmup_prompts} prompts, "
                f"{warmup_steps} steps",
                flush=True,
            )
            warm_data = root / "onpolicy-sft.jsonl"
            _, warm_tokens = select_traces(Path(gen.out), warm_ids)
            if not select_traces(Path(flt.out), warm_ids, warm_data)[0]:
                raise DistillError(
                    f"{flt.out}: no kept trace among the first {warmup_prompts} prompts"
                )
            warm = {**base_train, "method": "sft", "teacher_model": None, "data": str(warm_data)}
            warm.update(output_dir=str(root / "onpolicy-sft"), max_steps=warmup_steps, merge=True)
            train_once(from_dict(train.TrainConfig, warm, recipe))  # and its merged/
            # The on-policy steps need prompts only: every training prompt, from the source
            # generate read, rendered as it sent them (lmbda 1.0: each batch is the student's
            # own samples), not only the ones whose trace verified.
            on_policy_keys = dict(
                **prompt_keys(gen),
                model=str(root / "onpolicy-sft" / "merged"),
                max_steps=onpolicy_steps,
                learning_rate=onpolicy_lr,
            )
            cfg.update(on_policy_keys)
        print(f"== train {student}", flush=True)
        out_dir = train_once(from_dict(train.TrainConfig, cfg, recipe))
        print(f"== eval {student}", flush=True)
        baseline = ev.get("baseline") if method == "sft" else None  # the base is evaluated once
        e_cfg = {**ev, "model": str(out_dir), "baseline": baseline}
        e_cfg["out"] = str(root / f"eval-{student.replace('_', '-')}.json")
        out = json.loads(
            Path(eval_stage.run(from_dict(eval_stage.EvalConfig, e_cfg, recipe))).read_text()
        )
        results[student] = out["student"]["pass@1"]
        if baseline:
            results["base"] = out["baseline"]["pass@1"]
        print(
            f"smoke-kd: {student} pass@1={results[student]:.3f} (base {results['base']:.3f})",
            flush=True,
        )

    n_traces, generated = select_traces(Path(gen.out), run_ids)
    scored = {
        m: json.loads((root / m / "kd.json").read_text())["teacher_tokens_scored"]
        for m in ("kd", "onpolicy", "onpolicy-reward")
    }
    tokens = {"sft": generated, "kd": generated, "onpolicy": warm_tokens}
    tokens["onpolicy_reward"] = warm_tokens  # the same SFT start; its samples are its own
    minutes = (time.monotonic() - t0) / 60
    summary = {
        "pass@1": results,
        "teacher_tokens": tokens,  # completion tokens the teacher generated for the student
        "onpolicy_generated_over_sft": round(warm_tokens / generated, 3) if generated else None,
        "teacher_scored_tokens": scored,  # forward passes of the teacher during training
        "warmup": {"prompts": warmup_prompts, "steps": warmup_steps},
        "onpolicy": {"steps": onpolicy_steps, "learning_rate": onpolicy_lr},
        "minutes": round(minutes, 2),
        "seed": seed,
    }
    kept = select_traces(Path(flt.out), run_ids)[0]
    summary["teacher_pass_rate_on_training_prompts"] = round(kept / max(1, n_traces), 3)
    (root / "smoke-kd.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(
        f"smoke-kd: the teacher solved {kept}/{n_traces} training prompts (sampled, verified); "
        f"greedy on the held-out problems it passes {results['teacher']:.3f}. onpolicy trained "
        f"on {warm_tokens} teacher-generated tokens ({summary['onpolicy_generated_over_sft']} "
        f"of sft's {generated}); the teacher scored {scored['kd']} trace tokens for kd and "
        f"{scored['onpolicy']} for onpolicy (its warm-up's traces none, its own samples all)"
    )
    print(
        f"smoke-kd: base pass@1={results['base']:.3f} sft pass@1={results['sft']:.3f} "
        f"kd pass@1={results['kd']:.3f} onpolicy pass@1={results['onpolicy']:.3f} "
        f"onpolicy_reward pass@1={results['onpolicy_reward']:.3f} "
        f"teacher_tokens sft={tokens['sft']} kd={tokens['kd']} onpolicy={tokens['onpolicy']} "
        f"minutes={minutes:.1f}"
    )
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recipe")
    ap.add_argument("--run-dir")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--teacher",
        help="a teacher to use instead of building one: merged weights, or a `distill train` "
        "output folder (e.g. another smoke-kd run's sft student)",
    )
    ap.add_argument(
        "--warmup-prompts",
        type=int,
        default=64,
        help="the onpolicy student's SFT start uses the teacher's traces of this many prompts",
    )
    ap.add_argument(
        "--warmup-steps",
        type=int,
        default=10,
        help="steps of that SFT start (at the recipe's train.learning_rate)",
    )
    ap.add_argument(
        "--onpolicy-steps",
        type=int,
        default=20,
        help="on-policy steps after the SFT start (the student's samples, the teacher's scores)",
    )
    ap.add_argument(
        "--onpolicy-lr",
        type=float,
        default=1.2e-3,
        help="learning rate of the on-policy steps (a fresh LoRA on the merged SFT start)",
    )
    ap.add_argument(
        "--reward-rollouts",
        type=int,
        default=1,
        help="onpolicy_reward's samples per prompt (k > 1: GRPO's group baseline), at batch/k "
        "prompts a step",
    )
    ap.add_argument(
        "--reward-gate",
        action="store_true",
        help="onpolicy_reward with --gate-teacher: prompts whose teacher trace (generate's "
        "traces) failed verification get the reward term alone",
    )
    ap.add_argument(
        "--reward-weight",
        type=float,
        help="onpolicy_reward's --reward-weight (default: the recipe's, else the train default)",
    )
    a = ap.parse_args()
    try:
        run(
            a.recipe,
            a.run_dir,
            a.seed,
            a.teacher,
            a.warmup_prompts,
            a.warmup_steps,
            a.onpolicy_steps,
            a.onpolicy_lr,
            a.reward_rollouts,
            a.reward_gate,
            a.reward_weight,
        )
    except DistillError as e:
        raise SystemExit(f"error: {e}") from None


if __name__ == "__main__":
    main()
