"""The hf teacher under --seed (distill/teachers/hf.py): a sample is drawn from a generator of
its own, so a resumed run, or a rerun at a larger --n, writes what an unbroken run writes."""

import json

import pytest

from distill.generate import GenerateConfig, run


def cfg(model, out, **kw):
    base = dict(
        data="builtin:arithmetic",
        limit=5,
        n=2,
        teacher="hf",
        model=str(model),
        max_tokens=8,
        batch_size=4,
        temperature=1.0,
        seed=0,
        device="cpu",
        out=str(out),
    )
    return GenerateConfig(**{**base, **kw})


def lines_by_id(path):
    """Each record's line as written, by id: byte for byte."""
    return {json.loads(line)["id"]: line for line in path.read_text().splitlines()}


@pytest.mark.parametrize("kept", [3, 5])
def test_a_resumed_run_writes_the_unbroken_runs_samples(tiny_qwen, tmp_path, kept):
    """Killed with `kept` of 10 samples on disk (3: inside the first batch of 4): the rerun's
    batches start at another sample, and each batch was seeded by its rows, so the samples it
    drew depended on where the run was killed."""
    whole, resumed = tmp_path / "a" / "t.jsonl", tmp_path / "b" / "t.jsonl"
    whole.parent.mkdir()
    resumed.parent.mkdir()
    run(cfg(tiny_qwen, whole), progress=False)
    written = whole.read_text().splitlines(keepends=True)
    assert len(written) == 10
    resumed.write_text("".join(written[:kept]))
    run(cfg(tiny_qwen, resumed), progress=False)
    assert lines_by_id(resumed) == lines_by_id(whole)
    # and the samples differ from each other: the draws are not one stream copied
    texts = [json.loads(line)["answer"] for line in written]
    assert len(set(texts)) > 5


def test_a_rerun_at_a_larger_n_writes_what_a_run_at_that_n_writes(tiny_qwen, tmp_path):
    at_once, grown = tmp_path / "a" / "t.jsonl", tmp_path / "b" / "t.jsonl"
    at_once.parent.mkdir()
    grown.parent.mkdir()
    run(cfg(tiny_qwen, at_once, n=3), progress=False)
    run(cfg(tiny_qwen, grown, n=1), progress=False)
    run(cfg(tiny_qwen, grown, n=3), progress=False)
    assert lines_by_id(grown) == lines_by_id(at_once)


def test_a_seeded_draw_keeps_top_p(tiny_qwen, tmp_path):
    """The seeded sampler applies --top-p: one so small that only the likeliest token is left
    draws the greedy samples."""
    greedy, tiny_p = tmp_path / "g.jsonl", tmp_path / "p.jsonl"
    run(cfg(tiny_qwen, greedy, n=1, temperature=0.0), progress=False)
    run(cfg(tiny_qwen, tiny_p, n=1, top_p=1e-6), progress=False)

    def answers(path):
        return {r["prompt_id"]: r["answer"] for r in map(json.loads, path.read_text().splitlines())}

    assert answers(tiny_p) == answers(greedy)
