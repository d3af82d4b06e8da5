"""Teacher log-probs beside the traces: storage round-trip, pointers, generate with --logprobs."""

import json

import numpy as np
import pytest

from distill.errors import DistillError
from distill.logprobs import (
    ShardBuffer,
    TokenLogprobs,
    load,
    load_many,
    rebase,
    side_dir,
    write_shard,
)


def fake_logprobs(n_tokens, k, vocab=49152, seed=0):
    """A plausible teacher: a softmax over random logits, its top-k and a sampled token."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, size=(n_tokens, vocab)).astype(np.float32)
    shifted = logits - logits.max(1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    top = np.argsort(-logp, axis=1)[:, :k]
    sampled = top[np.arange(n_tokens), rng.integers(0, k, n_tokens)]
    return TokenLogprobs(
        sampled,
        logp[np.arange(n_tokens), sampled],
        top,
        np.take_along_axis(logp, top, axis=1),
    )


def buffered(tmp_path, items, name="t.jsonl"):
    out = tmp_path / name
    buf = ShardBuffer(out)
    written = []
    for rid, t in items:
        buf.add({"id": rid}, t, tokenizer="tok", vocab="abc", stop_token=True)
    buf.flush(written.append)
    with open(out, "w") as f:
        for rec in written:
            f.write(json.dumps(rec) + "\n")
    return out, written


def test_stored_topk_round_trips_ids_exactly_and_logprobs_within_float16(tmp_path):
    items = [(f"r{i}", fake_logprobs(5 + i, 8, seed=i)) for i in range(3)]
    out, records = buffered(tmp_path, items)
    assert records[0]["logprobs"]["file"].startswith("t.logprobs/")
    assert records[0]["logprobs"]["tokens"] == 5 and records[0]["logprobs"]["k"] == 8
    got = load_many(records, out)
    for (_, want), have in zip(items, got):
        assert np.array_equal(have.token_ids, want.token_ids)
        assert np.array_equal(have.topk_ids, want.topk_ids)
        assert np.allclose(have.logprob, want.logprob, atol=0)
        assert np.allclose(have.topk_logprobs, want.topk_logprobs, rtol=1e-3, atol=1e-3)
        assert (np.diff(have.topk_logprobs, axis=1) <= 0).all()  # best first
    assert np.array_equal(load(records[1], out).token_ids, items[1][1].token_ids)


def test_topk_is_stored_best_first_whatever_order_it_came_in(tmp_path):
    t = fake_logprobs(4, 6)
    shuffled = TokenLogprobs(t.token_ids, t.logprob, t.topk_ids[:, ::-1], t.topk_logprobs[:, ::-1])
    out, records = buffered(tmp_path, [("a", shuffled)])
    assert np.array_equal(load(records[0], out).topk_ids, t.topk_ids)


def test_missing_side_file_is_one_clear_error(tmp_path):
    out, records = buffered(tmp_path, [("a", fake_logprobs(3, 2))])
    for f in side_dir(out).iterdir():
        f.unlink()
    with pytest.raises(DistillError, match="side file .* of record a is missing"):
        load(records[0], out)
    with pytest.raises(DistillError, match="record b has no teacher log-probs"):
        load({"id": "b"}, out)


def test_rebase_keeps_the_side_file_reachable_from_another_directory(tmp_path):
    out, records = buffered(tmp_path, [("a", fake_logprobs(3, 2))])
    elsewhere = tmp_path / "x" / "y"
    elsewhere.mkdir(parents=True)
    moved = rebase(records[0], tmp_path, elsewhere)
    assert moved["logprobs"]["file"].startswith("../../t.logprobs/")
    assert np.array_equal(
        load(moved, elsewhere / "kept.jsonl").token_ids, load(records[0], out).token_ids
    )
    assert rebase({"id": "n"}, tmp_path, elsewhere) == {"id": "n"}


def test_a_shard_is_whole_or_absent(tmp_path):
    write_shard(tmp_path / "d", [("a", fake_logprobs(2, 2))])
    assert [p.name.startswith("part-") for p in (tmp_path / "d").iterdir()] == [True]
