"""`make smoke-kd`: SFT vs kd vs onpolicy on the embedded SmolLM2, 2 CPU cores, no hub.

    python -m distill.kd_smoke recipes/kd-smoke.yaml [--run-dir runs/smoke-kd] [--seed 0] [--teacher DIR]

With --teacher DIR (merged weights, or a `distill train` output folder, merged into DIR/merged
as `train --merge` does) that teacher is used instead of step 1's.

1. A teacher that knows the task, built honestly from the embedded model: SmolLM2 + a LoRA
   trained on the reference solutions of the 200 training problems ("59 + 63 = \\boxed{122}",
   each one verified), merged into full weights at RUN_DIR/teacher/merged. It never sees the
   held-out problems. (It used to be `make smoke`'s self-distilled student; once the verifier
   stopped taking "To calculate 59 + 63, you add them." for 122, that one solves under half.)
2. The recipe's generate + filter: the teacher writes traces on the training prompts, verified.
3. Three students from the base SmolLM2, same kept traces, same LoRA and steps:
   sft (the teacher's text), kd (its token distribution on those traces), onpolicy (the student
   samples its own answers, the teacher scores them; no teacher-generated text at all).
4. The recipe's eval (the held-out problems of `make smoke`) for the teacher (greedy: the
   pass@1 on-policy distillation converges to), the base and each student, each student right
   after its training.

Last line: `smoke-kd: base pass@1=A sft pass@1=B kd pass@1=C onpolicy pass@1=D teacher_tokens
sft=… kd=… onpolicy=… minutes=M`. teacher_tokens counts the completion tokens the teacher
produced a distribution for: sft/kd = the tokens it generated for the traces (kd reuses them),
onpolicy = the student tokens it scored during training (it generated none).
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


def reference_solution(expression: str, answer: str) -> str:
    """The reference solution of a builtin arithmetic problem: "59 + 63 = \\boxed{122}" (15
    tokens). SmolLM2 already half knows two-digit sums; a short, fixed form is what a 135M
    student learns in 30 CPU steps (a column-by-column form, 34 tokens, gave a teacher of 0.56
    after 50 steps and an SFT student of 0.31 after 30)."""
    return f"{expression} = \\boxed{{{answer}}}"


def build_teacher(data: str, train_keys: dict[str, Any], out: Path, seed: int, recipe: str) -> Path:
    """A teacher that knows the task, built from the embedded model: SmolLM2 + a LoRA trained
    (the recipe's LoRA settings, 40 steps) on the reference solutions of the training problems,
    merged into out/merged. It never sees the held-out problems."""
    from distill import train
    from distill.data import iter_source
    from distill.records import write_atomic

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
    cfg = {**train_keys, "method": "sft", "teacher_model": None, "data": str(solutions)}
    cfg.update(seed=seed, output_dir=str(out), merge=True, max_steps=40)
    train.run(from_dict(train.TrainConfig, cfg, recipe))
    return out / "merged"


def given_teacher(path: Path) -> Path:
    """--teacher: merged weights, or a `distill train` student folder (its `merged/`, made here
    with `train --merge`'s own code when missing)."""
    import yaml

    from distill import train
    from distill.models import is_adapter, load_tokenizer

    if (path / "merged" / "config.json").is_file():
        return path / "merged"
    if is_adapter(str(path)) and (path / "train.yaml").is_file():
        saved = yaml.safe_load((path / "train.yaml").read_text())
        cfg = from_dict(train.TrainConfig, saved, str(path / "train.yaml"))
        return train.merge_adapter(cfg, path, load_tokenizer(str(path)))
    if (path / "config.json").is_file():
        return path
    raise DistillError(
        f"--teacher {path}: neither model weights (config.json) nor a distill train output folder"
    )


def run(
    recipe: str, run_dir: str | None = None, seed: int = 0, given: str | None = None
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
    generate.run(dataclasses.replace(gen, model=str(merged)), progress=False)
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
    for method in ("sft", "kd", "onpolicy"):
        print(f"== train {method}", flush=True)
        cfg = {**base_train, "method": method, "output_dir": str(root / method)}
        cfg["teacher_model"] = None if method == "sft" else str(merged)
        student = train.run(from_dict(train.TrainConfig, cfg, recipe))
        print(f"== eval {method}", flush=True)
        baseline = ev.get("baseline") if method == "sft" else None  # the base is evaluated once
        e_cfg = {**ev, "model": str(student), "baseline": baseline}
        e_cfg["out"] = str(root / f"eval-{method}.json")
        out = json.loads(
            Path(eval_stage.run(from_dict(eval_stage.EvalConfig, e_cfg, recipe))).read_text()
        )
        results[method] = out["student"]["pass@1"]
        if baseline:
            results["base"] = out["baseline"]["pass@1"]
        print(
            f"smoke-kd: {method} pass@1={results[method]:.3f} (base {results['base']:.3f})",
            flush=True,
        )

    traces = [json.loads(x) for x in Path(gen.out).read_text().splitlines() if x.strip()]
    generated = sum((r.get("usage") or {}).get("completion_tokens", 0) for r in traces)
    scored = json.loads((root / "onpolicy" / "kd.json").read_text())["teacher_tokens_scored"]
    tokens = {"sft": generated, "kd": generated, "onpolicy": scored}
    minutes = (time.monotonic() - t0) / 60
    summary = {
        "pass@1": results,
        "teacher_tokens": tokens,
        "onpolicy_over_sft_tokens": round(scored / generated, 3) if generated else None,
        "minutes": round(minutes, 2),
        "seed": seed,
    }
    kept = sum(1 for x in Path(flt.out).read_text().splitlines() if x.strip())
    summary["teacher_pass_rate_on_training_prompts"] = round(kept / max(1, len(traces)), 3)
    (root / "smoke-kd.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(
        f"smoke-kd: the teacher solved {kept}/{len(traces)} training prompts (sampled, verified); "
        f"greedy on the held-out problems it passes {results['teacher']:.3f}. onpolicy scored "
        f"{scored} student tokens with the teacher and used 0 teacher-generated ones "
        f"(scored / sft's generated = {summary['onpolicy_over_sft_tokens']})"
    )
    print(
        f"smoke-kd: base pass@1={results['base']:.3f} sft pass@1={results['sft']:.3f} "
        f"kd pass@1={results['kd']:.3f} onpolicy pass@1={results['onpolicy']:.3f} "
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
    a = ap.parse_args()
    try:
        run(a.recipe, a.run_dir, a.seed, a.teacher)
    except DistillError as e:
        raise SystemExit(f"error: {e}") from None


if __name__ == "__main__":
    main()
