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


# =========================================================================== generate --logprobs


def hf_cfg(model, out, **kw):
    from distill.generate import GenerateConfig

    base = dict(
        data="builtin:arithmetic",
        limit=4,
        n=2,
        teacher="hf",
        model=str(model),
        max_tokens=16,
        temperature=1.0,
        top_p=0.9,
        batch_size=4,
        out=str(out),
        seed=0,
        logprobs=5,
    )
    return GenerateConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def peaky(tiny_qwen, tmp_path_factory):
    """The tiny model with its output layer scaled up: a random model is near uniform over its
    400 tokens, so it would never stop nor sample inside its top-5; this one does both."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = tmp_path_factory.mktemp("peaky")
    model = AutoModelForCausalLM.from_pretrained(tiny_qwen)
    with torch.no_grad():
        model.lm_head.weight.mul_(40)
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(tiny_qwen).save_pretrained(path)
    return path


def test_hf_teacher_logprobs_match_a_forward_pass_on_the_generated_sequence(peaky, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from distill.generate import run
    from distill.logprobs import vocab_hash
    from distill.records import read_records
    from distill.teachers.hf import render_prompt

    out = tmp_path / "t.jsonl"
    run(hf_cfg(peaky, out), progress=False)
    recs = list(read_records(out))
    assert len(recs) == 8
    tok = AutoTokenizer.from_pretrained(peaky)
    model = AutoModelForCausalLM.from_pretrained(peaky).eval()
    seen_stop, inside, outside = False, 0, 0
    for rec, lp in zip(recs, load_many(recs, out)):
        ptr = rec["logprobs"]
        assert ptr["k"] == 5 and ptr["tokens"] == rec["usage"]["completion_tokens"] == len(lp)
        assert ptr["vocab_hash"] == vocab_hash(tok) and ptr["distribution"] == "raw"
        assert ptr["stop_token"] == (rec["finish_reason"] == "stop")
        if ptr["stop_token"]:
            seen_stop = True
            assert lp.token_ids[-1] == tok.eos_token_id
        prompt = tok(render_prompt(tok, rec["messages"]), add_special_tokens=False)["input_ids"]
        ids = torch.tensor([prompt + lp.token_ids.tolist()])
        with torch.no_grad():
            logits = model(ids).logits[0, len(prompt) - 1 : -1]
        ref = torch.log_softmax(logits.float(), -1).numpy()
        # The sampled tokens' log-probs, exactly (float32 in the shard).
        want = ref[np.arange(len(lp)), lp.token_ids]
        assert np.allclose(lp.logprob, want, atol=1e-4)
        # Top-K: best first, the reference's values at those ids (float16), nothing better left out.
        assert (np.diff(lp.topk_logprobs, axis=1) <= 0).all()
        at_ids = np.take_along_axis(ref, lp.topk_ids, axis=1)
        assert np.allclose(lp.topk_logprobs, at_ids, rtol=2**-10, atol=1e-4)
        kth_best = -np.sort(-ref, axis=1)[:, 4]
        assert np.allclose(lp.topk_logprobs[:, -1], kth_best, rtol=2**-10, atol=1e-4)
        # The sampled token is in the top-K exactly when its rank is within K.
        rank = (ref > want[:, None]).sum(1)
        in_topk = (lp.topk_ids == lp.token_ids[:, None]).any(1)
        assert (in_topk == (rank < 5)).all()
        inside, outside = inside + in_topk.sum(), outside + (~in_topk).sum()
    assert seen_stop and inside and outside  # every case above was exercised
