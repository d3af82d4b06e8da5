"""Second read of the hf teacher's seeded sampler (f513f36, distill/teachers/hf.py): a seeded
run samples the distribution an unseeded one samples (the model's generation_config warpers
too), and the batched draw picks each token as often as its probability says, never one the
warpers removed."""

import json
import shutil

import pytest

from distill.generate import GenerateConfig, run


def cfg(model, out, **kw):
    base = dict(
        data="builtin:arithmetic",
        limit=5,
        n=1,
        teacher="hf",
        model=str(model),
        max_tokens=8,
        batch_size=4,
        temperature=1.0,
        top_p=1.0,
        seed=0,
        device="cpu",
        out=str(out),
    )
    return GenerateConfig(**{**base, **kw})


def answers(path):
    return {r["prompt_id"]: r["answer"] for r in map(json.loads, path.read_text().splitlines())}


def test_a_seeded_run_keeps_the_models_generation_config_min_p(tiny_qwen, tmp_path):
    """A model whose generation_config.json sets min_p: transformers' own sampling (no --seed)
    applies it, and the seeded sampler drew from the whole distribution instead: --seed
    changed which distribution a run sampled, not only which draw. With min_p 1, where only
    the likeliest token is left, both are the greedy samples."""
    model = tmp_path / "model"
    shutil.copytree(tiny_qwen, model)
    gen = json.loads((model / "generation_config.json").read_text())
    (model / "generation_config.json").write_text(json.dumps({**gen, "min_p": 1.0}))
    runs = {}
    for name, kw in {
        "greedy": dict(temperature=0.0),
        "seeded": {},
        "unseeded": dict(seed=None),
    }.items():
        out = tmp_path / f"{name}.jsonl"
        run(cfg(model, out, **kw), progress=False)
        runs[name] = answers(out)
    assert runs["unseeded"] == runs["greedy"]  # transformers applies it
    assert runs["seeded"] == runs["greedy"]


def draws(probs, rows):
    """Each row's first draw from `probs` (a list of probabilities, 0 = removed by a warper)."""
    import torch

    from distill.teachers.hf import RowSampler

    sampler = RowSampler(list(range(rows)), [])
    p = torch.tensor(probs, dtype=torch.float32)
    scores = torch.where(p > 0, p.log(), torch.tensor(float("-inf"))).repeat(rows, 1)
    out = sampler(torch.zeros(rows, 1, dtype=torch.long), scores)
    assert (out == 0).sum(dim=-1).tolist() == [1] * rows  # one token left per row
    return out.argmax(dim=-1).tolist()


def test_the_batched_draw_follows_the_probabilities():
    picked = draws([0.0, 0.1, 0.0, 0.2, 0.7, 0.0], 4000)
    freq = [picked.count(i) / len(picked) for i in range(6)]
    assert freq[0] == freq[2] == freq[5] == 0.0
    assert freq[1] == pytest.approx(0.1, abs=0.025)
    assert freq[3] == pytest.approx(0.2, abs=0.03)
    assert freq[4] == pytest.approx(0.7, abs=0.03)


def test_a_draw_that_rounds_up_to_the_total_takes_the_last_possible_token(monkeypatch):
    """A uniform number just under 1 is 1.0 in float32: the cumulative sum has no token past
    it, and the last tokens (removed, probability 0) must not be drawn, nor an index past the
    vocabulary."""
    import random

    monkeypatch.setattr(random.Random, "random", lambda self: 1 - 1e-12)
    assert draws([0.25, 0.5, 0.25, 0.0, 0.0], 3) == [2, 2, 2]


def test_each_rows_draws_do_not_depend_on_the_rows_beside_it():
    """The same seed and probabilities draw the same tokens in a batch of 1 and of 5."""
    import torch

    from distill.teachers.hf import RowSampler

    torch.manual_seed(0)
    scores = torch.randn(5, 50)
    ids = torch.zeros(5, 1, dtype=torch.long)
    seeds = [11, 22, 33, 44, 55]
    together = RowSampler(seeds, [])
    alone = [RowSampler([s], []) for s in seeds]
    for _ in range(20):
        batch = together(ids, scores).argmax(dim=-1).tolist()
        single = [a(ids[:1], scores[i : i + 1]).argmax(dim=-1).item() for i, a in enumerate(alone)]
        assert batch == single
