"""`make smoke-select`: students trained on all / a random 25% / select's 25% of make smoke's
traces, the same steps each, on the embedded SmolLM2 (2 CPU cores, no hub).

    python scripts/select_smoke.py recipes/select-smoke.yaml [--run-dir runs/smoke-select]
        [--seed 0] [--share 0.25] [--traces runs/smoke-select/traces.jsonl] [--generate-seed 0]

1. The recipe's generate + filter (make smoke's: SmolLM2 teaching itself two-digit sums, 16
   samples a problem, verified). --traces PATH reads another run's pool instead (it must hold
   every sample of these generate keys: --generate-seed names the seed that wrote it; a pool
   missing any is refused, never added to); a new PATH is generated into.
2. Three training sets: all kept traces; a random --share of them (seeded); `distill select`'s
   --share (the recipe's select keys, --budget = share x kept). The random set is as large as
   select's, so only the choice differs.
3. Three students from the base SmolLM2, the recipe's train keys (the same max_steps each),
   each evaluated greedily on the held-out problems right after training; the base once.

Last line: `smoke-select: base pass@1=X all pass@1=A random pass@1=R selected pass@1=S minutes=M`,
also written to RUN_DIR/smoke-select.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

# kd_smoke's student bookkeeping, imported as the tests import it (scripts.kd_smoke)
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from distill.config import (  # noqa: E402
    from_dict,
    load_recipe,
    recipe_run_dir,
    recipe_section,
    substitute_run_dir,
)
from distill.errors import DistillError  # noqa: E402
from distill.records import read_records, write_atomic  # noqa: E402
from scripts.kd_smoke import settings_changed  # noqa: E402


def run(
    recipe: str,
    run_dir: str | None = None,
    seed: int = 0,
    share: float = 0.25,
    traces: str | None = None,
    generate_seed: int | None = None,
) -> dict[str, Any]:
    from distill import eval as eval_stage
    from distill import filter as filter_stage
    from distill import generate, train
    from distill.select import stage as select_stage

    if not 0 < share < 1:
        raise DistillError(f"--share {share}: must be in (0, 1)")
    t0 = time.monotonic()
    data = load_recipe(recipe)
    rd = run_dir or recipe_run_dir(data, recipe)
    sec = {s: substitute_run_dir(recipe_section(data, s, recipe), rd) for s in data if s != "run"}
    for need in ("generate", "filter", "select", "train", "eval"):
        if need not in sec:
            raise DistillError(f"{recipe}: smoke-select needs a '{need}' section")
    steps = sec["train"].get("max_steps")
    if not isinstance(steps, int) or steps < 1:
        raise DistillError(f"{recipe}: smoke-select needs train.max_steps (the same steps for all)")
    # --generate-seed: another seed's students on the same pool (its traces reused, not resampled)
    gen_seed = seed if generate_seed is None else generate_seed
    gen_keys = {**sec["generate"], "seed": gen_seed}
    flt_keys = dict(sec["filter"])
    if traces:  # another run's pool: read there (_check_pool: nothing left to sample)
        gen_keys["out"] = flt_keys["input"] = traces
    gen = from_dict(generate.GenerateConfig, gen_keys, recipe)
    flt = from_dict(filter_stage.FilterConfig, flt_keys, recipe)
    if traces:
        _check_pool(gen, gen_seed)
    root = Path(rd)
    root.mkdir(parents=True, exist_ok=True)
    print("== generate + filter", flush=True)
    generate.run(gen, progress=False)
    if filter_stage.done(flt) is not None:
        filter_stage.run(flt)
    kept = list(read_records(flt.out))
    if len(kept) < 8:
        raise DistillError(f"{flt.out}: {len(kept)} kept traces, too few to choose a share of")
    budget = max(1, round(share * len(kept)))

    print(f"== select {budget} of {len(kept)}", flush=True)
    sel_keys = {**sec["select"], "input": flt.out, "budget": budget, "seed": seed}
    if traces and "teacher_traces" in sel_keys:
        sel_keys["teacher_traces"] = traces
    sel = from_dict(select_stage.SelectConfig, sel_keys, recipe)
    selected_path = select_stage.run(sel)
    n_sel = sum(1 for _ in read_records(selected_path))
    rng = random.Random(seed)
    random_path = root / "random.jsonl"
    chosen = rng.sample(kept, n_sel)
    write_atomic(random_path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in chosen))

    ev = dict(sec["eval"])
    results: dict[str, Any] = {"traces": {"all": len(kept), "random": n_sel, "selected": n_sel}}
    for name, path in (("all", flt.out), ("random", random_path), ("selected", selected_path)):
        cfg = {**sec["train"], "seed": seed, "data": str(path), "output_dir": str(root / name)}
        print(f"== train {name} ({results['traces'][name]} traces, {steps} steps)", flush=True)
        todo = _plan_student(root / name, Path(path), from_dict(train.TrainConfig, cfg, recipe))
        if todo is None:
            # trained to the end on these bytes: left as is, so its eval's samples still match
            print(f"train: {root / name} finished its {steps} steps on this data; kept", flush=True)
            student = root / name
        else:
            student = train.run(todo)
        baseline = ev.get("baseline") if name == "all" else None  # the base is evaluated once
        e_cfg = {**ev, "model": str(student), "baseline": baseline}
        e_cfg["out"] = str(root / f"eval-{name}.json")
        print(f"== eval {name}", flush=True)
        out = json.loads(
            Path(eval_stage.run(from_dict(eval_stage.EvalConfig, e_cfg, recipe))).read_text()
        )
        results[name] = out["student"]["pass@1"]
        if baseline:
            results["base"] = out["baseline"]["pass@1"]
        print(f"smoke-select: {name} pass@1={results[name]:.3f}", flush=True)
    minutes = (time.monotonic() - t0) / 60
    summary = {**results, "minutes": round(minutes, 2), "seed": seed, "generate_seed": gen_seed}
    summary["share"] = share
    (root / "smoke-select.json").write_text(json.dumps(summary, indent=2) + "\n")
    base = results.get("base")
    print(
        f"smoke-select: base pass@1={'n/a' if base is None else format(base, '.3f')} "
        f"all pass@1={results['all']:.3f} random pass@1={results['random']:.3f} "
        f"selected pass@1={results['selected']:.3f} minutes={minutes:.1f}"
    )
    return summary


def _check_pool(gen: Any, gen_seed: int) -> None:
    """--traces names another run's pool: it is read, never added to. A pool written with other
    generate keys (another seed: the sample ids hash it; make smoke's 4 samples against these
    16) would get this run's samples appended, and every later reader of it (its own run's
    filter, select's pass rate over "all" its samples) would count two draws as one."""
    from distill.generate.stage import build_jobs

    if not Path(gen.out).is_file():
        return  # a new path: generated there
    missing = sum(len(job.samples) for _, jobs in build_jobs(gen)[0] for job in jobs)
    if missing:
        raise DistillError(
            f"--traces {gen.out}: {missing} of this run's samples (seed {gen_seed}, n {gen.n}) "
            f"are not in it, and would be added to that pool; pass --generate-seed (GEN_SEED=) "
            f"with the seed that wrote it, or generate into this run's folder (no --traces)"
        )


def _resume_keys(out: Path, data: Path) -> dict[str, bool]:
    """A rerun (after a kill) resumes a student from its checkpoint, as `distill run` does, when
    its training set is the same bytes; a changed set (another selection) starts it over. The
    run config check of --resume compares the data path, not its contents: hence the hash."""
    import hashlib

    digest = hashlib.sha256(data.read_bytes()).hexdigest()
    stamp = out / "smoke-select.data.sha256"
    same = stamp.is_file() and stamp.read_text().strip() == digest
    out.mkdir(parents=True, exist_ok=True)
    stamp.write_text(digest + "\n")
    return {"resume": True} if same else {"overwrite": True}


def _plan_student(out: Path, data: Path, cfg: Any) -> Any:
    """None when `out` finished cfg's max_steps on these bytes with cfg's settings (kept as is),
    else the TrainConfig to run: resumed on the same data and settings, started over otherwise.
    A student trained with other result-changing keys (another --seed or recipe in the same
    RUN) is trained again: its checkpoint and train.yaml are not this run's."""
    import dataclasses

    cfg = dataclasses.replace(cfg, **_resume_keys(out, data))
    if cfg.resume and (out / "train.yaml").is_file():
        changed = settings_changed(out, cfg)
        if changed:
            print(f"train: {out} was trained otherwise ({'; '.join(changed)}); starting over")
            return dataclasses.replace(cfg, resume=False, overwrite=True)
    finished = cfg.resume and (out / f"checkpoint-{cfg.max_steps}").is_dir()
    return None if finished and any(out.glob("*.safetensors")) else cfg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recipe")
    ap.add_argument("--run-dir")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--share", type=float, default=0.25, help="of the kept traces, for (b) and (c)")
    ap.add_argument("--traces", help="generate into this traces file (make smoke's) instead")
    ap.add_argument(
        "--generate-seed",
        type=int,
        help="generate's seed (default: --seed); with --traces, another seed's pool reused",
    )
    a = ap.parse_args()
    try:
        run(a.recipe, a.run_dir, a.seed, a.share, a.traces, a.generate_seed)
    except DistillError as e:
        raise SystemExit(f"error: {e}") from None


if __name__ == "__main__":
    main()
