"""make smoke-select --traces (TRACES=): another run's pool is read, never added to (review of
d4169a0: a seed-1 run without GEN_SEED sampled seed 1's 16 a prompt into seed 0's pool, and its
teacher pass rate counted 32 samples of two draws; the docstring's runs/smoke/traces.jsonl, 4
a prompt, would have had 12 a prompt added)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from distill.errors import DistillError
from tests.test_select_smoke import driver

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "recipes" / "select-smoke.yaml"


def _pool(tmp_path: Path, seed: int, n: int | None = None) -> tuple[Path, object]:
    """A pool holding every sample id of the recipe's generate keys at `seed` (ids only)."""
    from distill.config import from_dict, load_recipe, recipe_section, substitute_run_dir
    from distill.generate import GenerateConfig
    from distill.generate.stage import build_jobs

    pool = tmp_path / "pool" / "traces.jsonl"
    data = load_recipe(str(RECIPE))
    keys = substitute_run_dir(recipe_section(data, "generate", str(RECIPE)), str(tmp_path))
    keys = {**keys, "seed": seed, "out": str(pool), **({"n": n} if n else {})}
    gen = from_dict(GenerateConfig, keys, str(RECIPE))
    ids = [i for _, jobs in build_jobs(gen)[0] for job in jobs for i in job.payload[1]]
    pool.parent.mkdir(parents=True, exist_ok=True)
    pool.write_text("".join(json.dumps({"id": i, "prompt_id": "x"}) + "\n" for i in ids))
    return pool, gen


def test_a_seed_1_run_without_generate_seed_refuses_to_add_to_seed_0s_pool(tmp_path):
    pool, _ = _pool(tmp_path, seed=0)
    before = pool.read_bytes()
    with pytest.raises(DistillError, match="--generate-seed"):
        driver().run(str(RECIPE), str(tmp_path / "s1"), seed=1, traces=str(pool))
    assert pool.read_bytes() == before


def test_a_pool_of_fewer_samples_a_prompt_is_refused(tmp_path):
    pool, _ = _pool(tmp_path, seed=0, n=4)  # make smoke's traces: 4 a prompt
    with pytest.raises(DistillError, match="2400 of this run's samples"):
        driver().run(str(RECIPE), str(tmp_path / "s1"), seed=0, traces=str(pool))


def test_the_seed_that_wrote_the_pool_reads_it(tmp_path):
    pool, gen = _pool(tmp_path, seed=0)
    check = driver()._check_pool
    check(gen, 0)  # complete: nothing to add
    check(dataclasses.replace(gen, out=str(tmp_path / "new.jsonl")), 1)  # a new path: generated
    with pytest.raises(DistillError):
        check(dataclasses.replace(gen, seed=1), 1)
