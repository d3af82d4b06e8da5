"""A damaged log-prob side file (cut short by a copy, overwritten by a disk error) is one error
line naming it and what to do, at kd's read and at generate's rerun; never wrong numbers."""

import numpy as np
import pytest

from distill.errors import DistillError
from distill.logprobs import TokenLogprobs, load_many, pointer, side_dir, write_shard


def teacher(n=300, k=20):
    rng = np.random.default_rng(0)
    return TokenLogprobs(
        rng.integers(0, 5000, n),
        -rng.random(n),
        rng.integers(0, 5000, (n, k)),
        -np.sort(rng.random((n, k)) * 20, axis=1),
    )


def stored(tmp_path):
    t = teacher()
    shard = write_shard(tmp_path / "t.logprobs", [("a", t)])
    rec = {"id": "a", "logprobs": pointer(shard, tmp_path / "t.jsonl", t, "tok", None, False)}
    return shard, rec


@pytest.mark.parametrize("keep", [0, 100, -10])
def test_a_shard_cut_short_is_one_line_naming_it(tmp_path, keep):
    shard, rec = stored(tmp_path)
    shard.write_bytes(shard.read_bytes()[:keep])
    with pytest.raises(DistillError, match=f"side file {shard} is damaged .* 1 record"):
        load_many([rec], tmp_path / "t.jsonl")


def test_a_damaged_page_is_an_error_never_other_numbers(tmp_path):
    # without page checksums some of these read back as other token ids or log-probs
    shard, rec = stored(tmp_path)
    good = load_many([rec], tmp_path / "t.jsonl")[0]
    data = shard.read_bytes()
    silent = []
    for at in range(100, len(data) - 2000, 211):
        shard.write_bytes(data[:at] + bytes(16) + data[at + 16 :])
        try:
            got = load_many([rec], tmp_path / "t.jsonl")[0]
        except DistillError as e:
            assert "is damaged" in str(e)
            continue
        same = np.array_equal(got.token_ids, good.token_ids)
        same &= np.array_equal(got.topk_ids, good.topk_ids)
        same &= np.array_equal(got.topk_logprobs, good.topk_logprobs)
        same &= np.array_equal(got.logprob, good.logprob)
        if not same:
            silent.append(at)
    assert not silent, f"read as other numbers after damage at bytes {silent}"


def test_generate_rerun_names_a_damaged_shard(server, tmp_path):
    from distill.generate import GenerateConfig, run

    out = tmp_path / "t.jsonl"
    cfg = dict(data="builtin:arithmetic", limit=3, n=1, teacher="openai", base_url=server.url)
    cfg.update(model="fake-r1", max_retries=0, out=str(out), logprobs=4)
    run(GenerateConfig(**cfg), progress=False)
    (shard,) = side_dir(out).glob("part-*.parquet")
    shard.write_bytes(shard.read_bytes()[:50])
    with pytest.raises(DistillError, match=f"side file {shard} is damaged"):
        run(GenerateConfig(**{**cfg, "limit": 4}), progress=False)
