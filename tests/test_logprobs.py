"""Teacher log-probs beside the traces: storage round-trip, pointers, generate with --logprobs."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from distill.errors import DistillError
from distill.logprobs import (
    FLOOR,
    HEAD,
    STEP,
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
    """The precision bound of the storage (format 2, as format 1): ids, the sampled token and its
    float32 log-prob exact; the best HEAD=4 of each top-K within float16 (relative 2^-11); the
    rest within STEP / 2 = 1/128 nat. Ids beyond 2^16 (Qwen's 152k vocabulary) stay exact."""
    items = [(f"r{i}", fake_logprobs(5 + i, 8, seed=i)) for i in range(3)]
    items.append(("big", fake_logprobs(4, 8, vocab=152_064, seed=9)))
    out, records = buffered(tmp_path, items)
    assert records[0]["logprobs"]["file"].startswith("t.logprobs/")
    assert records[0]["logprobs"]["tokens"] == 5 and records[0]["logprobs"]["k"] == 8
    got = load_many(records, out)
    for (_, want), have in zip(items, got):
        assert np.array_equal(have.token_ids, want.token_ids)
        assert np.array_equal(have.topk_ids, want.topk_ids)
        assert np.array_equal(have.logprob, want.logprob)  # the sampled token's: float32
        head, rest = have.topk_logprobs[:, :HEAD], have.topk_logprobs[:, HEAD:]
        assert np.allclose(head, want.topk_logprobs[:, :HEAD], rtol=2**-11, atol=0)
        assert np.abs(rest - want.topk_logprobs[:, HEAD:]).max() <= STEP / 2
        assert (np.diff(have.topk_logprobs, axis=1) <= 0).all()  # best first
    assert np.array_equal(load(records[1], out).token_ids, items[1][1].token_ids)


def test_a_record_read_alone_from_a_shard_gets_its_own_ids(tmp_path):
    """Format 2 stores top-K ids as codes into the shard's id map, kept in the shard's first row:
    reading a later record alone (its row filtered out of everything else) still decodes them."""
    items = [(f"r{i}", fake_logprobs(6, 5, seed=i)) for i in range(4)]
    out, records = buffered(tmp_path, items)
    (shard,) = side_dir(out).iterdir()
    assert pq.read_metadata(shard).metadata[b"distill.logprobs.format"] == b"2"
    for rec, (_, want) in reversed(list(zip(records, items))):
        assert rec["logprobs"]["format"] == 2
        assert np.array_equal(load(rec, out).topk_ids, want.topk_ids)


def write_format1_shard(path, rid, t):
    """A shard as distill wrote it before format 2: token ids as they are, dictionary pages."""
    q = np.rint(-np.clip(t.topk_logprobs[:, HEAD:], FLOOR, 0) / STEP).astype(np.int64)

    def col(a, typ):
        return pa.array([np.asarray(a).reshape(-1)], type=pa.list_(typ))

    table = pa.table(
        {
            "id": [rid],
            "token_ids": col(t.token_ids.astype(np.int32), pa.int32()),
            "logprob": col(t.logprob, pa.float32()),
            "topk_ids": col(t.topk_ids.astype(np.int32), pa.int32()),
            "topk_head": col(t.topk_logprobs[:, :HEAD].astype(np.float16), pa.float16()),
            "topk_logprobs": col(np.diff(q, axis=1, prepend=0).astype(np.uint16), pa.uint16()),
        },
        metadata={"distill.logprobs.format": "1", "k": str(t.k)},
    )
    path.parent.mkdir(parents=True)
    pq.write_table(table, path, compression="zstd")


def test_a_format1_shard_still_reads_and_a_newer_format_is_one_clear_error(tmp_path):
    t = fake_logprobs(5, 8)
    write_format1_shard(tmp_path / "t.logprobs" / "part-old.parquet", "a", t)
    rec = {"id": "a", "logprobs": {"file": "t.logprobs/part-old.parquet", "format": 1, "k": 8}}
    got = load(rec, tmp_path / "t.jsonl")
    assert np.array_equal(got.topk_ids, t.topk_ids)
    assert np.array_equal(got.logprob, t.logprob)
    assert np.abs(got.topk_logprobs[:, HEAD:] - t.topk_logprobs[:, HEAD:]).max() <= STEP / 2

    table = pq.read_table(tmp_path / "t.logprobs" / "part-old.parquet")
    newer = table.replace_schema_metadata({"distill.logprobs.format": "99"})
    pq.write_table(newer, tmp_path / "t.logprobs" / "part-new.parquet")
    rec["logprobs"]["file"] = "t.logprobs/part-new.parquet"
    with pytest.raises(DistillError, match="part-new.parquet: log-prob storage format 99 is newer"):
        load(rec, tmp_path / "t.jsonl")


def test_logprobs_on_the_storage_grid_round_trip_exactly_and_minus_inf_is_the_floor(tmp_path):
    head = [-0.001, -0.5, -1.25, -3.0]  # float16 values
    lp = np.array([head + [-3.25, -np.inf], head + [-700.0, -1e9]], dtype=np.float32)
    t = TokenLogprobs([5, 6], [-0.5, -700.0], np.arange(12).reshape(2, 6), lp)
    out, records = buffered(tmp_path, [("a", t)])
    got = load(records[0], out)
    h16 = np.float16(-0.001).item()
    assert got.topk_logprobs.tolist() == [
        [h16, -0.5, -1.25, -3.0, -3.25, FLOOR],
        [h16, -0.5, -1.25, -3.0, -700.0, FLOOR],
    ]
    assert got.logprob.tolist() == [-0.5, -700.0]


def test_a_value_just_below_a_far_rounded_head_keeps_its_bound(tmp_path):
    """The first quantized log-prob is stored as a step from the last float16 head value; below
    -256 nats float16 rounds by up to 1/8 nat, so that step can be negative: it must survive."""
    lp = np.array([[-0.1, -0.2, -0.3, -300.2, -300.2, -300.3]], dtype=np.float32)
    # the head rounds to below the value that follows it:
    assert float(np.float16(-300.2)) == -300.25
    t = TokenLogprobs([0], [-0.1], [[0, 1, 2, 3, 4, 5]], lp)
    out, records = buffered(tmp_path, [("a", t)])
    got = load(records[0], out).topk_logprobs
    assert np.abs(got[:, HEAD:] - lp[:, HEAD:]).max() <= STEP / 2


def test_a_near_certain_token_keeps_a_meaningful_tail_mass(tmp_path):
    """1 - sum(top-K probabilities) is what a KD loss puts in its tail bucket: quantizing the
    best log-prob to 1/64 nat would move ~0.8% of mass, far more than a 1e-4 tail."""
    lp = np.log(np.array([[0.9998, 5e-5, 4e-5, 3e-5, 2e-5]], dtype=np.float64)).astype(np.float32)
    t = TokenLogprobs([0], lp[:, 0], [[0, 1, 2, 3, 4]], lp)
    out, records = buffered(tmp_path, [("a", t)])
    exact = 1 - np.exp(lp.astype(np.float64)).sum()  # ~6e-5
    tail = 1 - np.exp(load(records[0], out).topk_logprobs.astype(np.float64)).sum()
    assert abs(tail - exact) < 1e-6


def test_small_k_and_an_empty_completion_round_trip(tmp_path):
    t2 = fake_logprobs(3, 2)
    empty = TokenLogprobs([], [], np.zeros((0, 2)), np.zeros((0, 2)))
    out, records = buffered(tmp_path, [("a", t2), ("b", empty)])
    a, b = load_many(records, out)
    assert np.array_equal(a.topk_ids, t2.topk_ids) and len(b) == 0


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
    # 16 samples of up to 48 tokens: some stop (a stop is rare, about 1 row in 16 per 16 tokens)
    run(hf_cfg(peaky, out, n=4, max_tokens=48), progress=False)
    recs = list(read_records(out))
    assert len(recs) == 16
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
        assert np.abs(lp.logprob - want).max() <= 1e-4
        # Top-K: best first, the reference's values at those ids (float16), nothing better left out.
        assert (np.diff(lp.topk_logprobs, axis=1) <= 0).all()
        at_ids = np.take_along_axis(ref, lp.topk_ids, axis=1)
        assert np.abs(lp.topk_logprobs - at_ids).max() <= STEP / 2 + 1e-4
        kth_best = -np.sort(-ref, axis=1)[:, 4]
        assert np.abs(lp.topk_logprobs[:, -1] - kth_best).max() <= STEP / 2 + 1e-4
        # The sampled token is in the top-K exactly when its rank is within K.
        rank = (ref > want[:, None]).sum(1)
        in_topk = (lp.topk_ids == lp.token_ids[:, None]).any(1)
        assert (in_topk == (rank < 5)).all()
        inside, outside = inside + in_topk.sum(), outside + (~in_topk).sum()
    assert seen_stop and inside and outside  # every case above was exercised


def openai_cfg(server, out, **kw):
    from distill.generate import GenerateConfig

    base = dict(
        data="builtin:arithmetic",
        limit=5,
        n=2,
        teacher="openai",
        base_url=server.url,
        model="fake-r1",
        concurrency=2,
        max_retries=0,
        out=str(out),
        logprobs=4,
    )
    return GenerateConfig(**{**base, **kw})


def test_openai_teacher_stores_the_servers_token_ids_and_top_logprobs(server, tmp_path):
    from distill.generate import run
    from distill.records import read_records
    from tests.fakeserver import fake_logprobs

    out = tmp_path / "t.jsonl"
    run(openai_cfg(server, out), progress=False)
    req = server.log[0]
    assert (req["logprobs"], req["top_logprobs"], req["return_tokens_as_token_ids"]) == (
        True,
        4,
        True,
    )
    recs = list(read_records(out))
    assert len(recs) == 10
    for rec, lp in zip(recs, load_many(recs, out)):
        body = f"<think>\n{rec['reasoning']}\n</think>\n\n{rec['answer']}"
        sent = fake_logprobs(body, 4, stopped=True, as_ids=True)
        assert len(lp) == len(sent) == rec["logprobs"]["tokens"] and lp.k == 4
        assert lp.token_ids.tolist() == [int(s["token"][9:]) for s in sent]
        assert lp.token_ids[-1] == 2 and rec["logprobs"]["stop_token"]
        assert np.allclose(lp.logprob, [s["logprob"] for s in sent])
        want_ids = [[int(t["token"][9:]) for t in s["top_logprobs"]] for s in sent]
        assert lp.topk_ids.tolist() == want_ids
        want_lp = [[t["logprob"] for t in s["top_logprobs"]] for s in sent]
        assert np.abs(lp.topk_logprobs - np.array(want_lp)).max() <= STEP / 2
        assert rec["logprobs"]["tokenizer"] == "fake-r1" and rec["logprobs"]["vocab_hash"] is None


def test_server_without_logprobs_is_one_clear_error_and_writes_no_record(tmp_path):
    from tests import inproc
    from tests.fakeserver import FakeServer

    s = FakeServer(logprobs=False).start()
    try:
        out = tmp_path / "t.jsonl"
        # in this process (tests/inproc.py): its exit code, error line and file are what a
        # subprocess gave, without python's start and imports
        res = inproc.distill(
            "generate", "--data", "builtin:arithmetic", "--limit", "20", "--teacher", "openai",
            "--base-url", s.url, "--model", "fake-r1", "--logprobs", "5", "--max-retries", "0",
            "--concurrency", "2", "--out", str(out), "--quiet",
        )  # fmt: skip
    finally:
        s.stop()
    assert res.returncode != 0
    assert res.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "returned no logprobs" in res.stderr and "Traceback" not in res.stderr
    assert not out.exists() or out.read_text() == ""
    assert len(s.log) < 20  # it stopped at the first reply, not after the whole run


def test_sigkill_mid_run_leaves_no_record_without_its_logprobs_and_rerun_completes(tmp_path):
    import os
    import signal
    import time

    from distill.records import read_records
    from tests import forked, inproc
    from tests.fakeserver import FakeServer
    from tests.test_generate import GENERATE_IMPORTS

    s = FakeServer(latency=0.05).start()
    try:
        out = tmp_path / "t.jsonl"
        cmd = ["generate", "--data", "builtin:arithmetic",
               "--limit", "60", "--teacher", "openai", "--base-url", s.url, "--model", "fake-r1",
               "--n", "2", "--concurrency", "4", "--logprobs", "3", "--logprobs-shard", "8",
               "--out", str(out), "--quiet"]  # fmt: skip
        # Killed from outside: a process forked from this one (tests/forked.py), without the
        # interpreter start and imports a subprocess paid; the rerun in this process below.
        proc = forked.start(*cmd, imports=GENERATE_IMPORTS)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (not out.exists() or out.stat().st_size < 8_000):
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        before = list(read_records(out))
        assert 0 < len(before) < 120, "the kill should land mid-run"
        assert len(load_many(before, out)) == len(before)  # every record's data is there
        s.latency = 0.0  # slow only so the kill lands mid-run
        res = inproc.distill(*cmd)
        assert res.returncode == 0, res.stderr
        recs = list(read_records(out))
        assert len(recs) == 120 and len({r["id"] for r in recs}) == 120
        assert {r["id"] for r in before} <= {r["id"] for r in recs}
        assert all(len(lp) == r["logprobs"]["tokens"] for r, lp in zip(recs, load_many(recs, out)))
        assert len(os.listdir(side_dir(out))) >= 120 // 8
    finally:
        s.stop()


def test_resume_with_logprobs_onto_samples_stored_without_them_is_refused(server, tmp_path):
    from distill.generate import run

    out = tmp_path / "t.jsonl"
    run(openai_cfg(server, out, logprobs=None, limit=2), progress=False)
    with pytest.raises(DistillError, match="4 samples already there have no top-4 log-probs"):
        run(openai_cfg(server, out, limit=2), progress=False)


def test_filter_keeps_logprobs_reachable_from_another_directory(server, tmp_path):
    from distill.filter import FilterConfig
    from distill.filter import run as filter_run
    from distill.generate import run
    from distill.records import read_records

    out = tmp_path / "gen" / "t.jsonl"
    run(openai_cfg(server, out, limit=8), progress=False)
    kept_path = tmp_path / "elsewhere" / "kept.jsonl"
    filter_run(FilterConfig(input=str(out), out=str(kept_path), verify="math"), quiet=True)
    kept = list(read_records(kept_path))
    rejected = list(read_records(kept_path.with_name("kept.rejects.jsonl")))
    assert kept and rejected  # the fake teacher gets some sums wrong
    generated = list(read_records(out))
    by_id = {r["id"]: lp for r, lp in zip(generated, load_many(generated, out))}
    for path, recs in ((kept_path, kept), (kept_path.with_name("kept.rejects.jsonl"), rejected)):
        for r, lp in zip(recs, load_many(recs, path)):
            assert np.array_equal(lp.topk_ids, by_id[r["id"]].topk_ids)


def test_vllm_outputs_become_topk_with_the_sampled_token_below_k_left_out():
    from types import SimpleNamespace as NS

    from distill.teachers.vllm import token_logprobs

    def lp(x):
        return NS(logprob=x)

    # Step 0: the sampled token 7 is the best; step 1: it ranked below the top-2 (vLLM then
    # returns K + 1 entries).
    out = NS(
        token_ids=[7, 9],
        logprobs=[
            {7: lp(-0.1), 3: lp(-2.5)},
            {4: lp(-0.3), 9: lp(-4.0), 5: lp(-1.5)},
        ],
    )
    t = token_logprobs(out, 2)
    assert t.token_ids.tolist() == [7, 9]
    assert np.allclose(t.logprob, [-0.1, -4.0])
    assert t.topk_ids.tolist() == [[7, 3], [4, 5]]
    assert np.allclose(t.topk_logprobs, [[-0.1, -2.5], [-0.3, -1.5]])


def test_vllm_steps_with_fewer_than_k_listed_pad_with_no_token():
    """A step listing fewer than K (a vocabulary smaller than K) was padded with token 0: 0 then
    stood twice in the top-K, and the student's probability of it counted twice."""
    from types import SimpleNamespace as NS

    from distill.teachers.vllm import token_logprobs

    out = NS(token_ids=[7], logprobs=[{7: NS(logprob=-0.1), 0: NS(logprob=-2.5)}])
    t = token_logprobs(out, 4)
    assert t.topk_ids.tolist() == [[7, 0, -1, -1]]
    assert np.isneginf(t.topk_logprobs[0, 2:]).all()


def test_hf_logprobs_past_the_vocabulary_keep_k_and_a_rerun_reads_them(peaky, tmp_path):
    """--logprobs 1000 on a 400-token model stored top-400 and said k 400: the same command run
    again refused its own samples ('no top-1000 log-probs ... use a new --out')."""
    from distill.generate import run
    from distill.records import read_records

    out = tmp_path / "t.jsonl"
    run(hf_cfg(peaky, out, limit=1, n=1, logprobs=1000), progress=False)
    (rec,) = read_records(out)
    assert rec["logprobs"]["k"] == 1000
    (lp,) = load_many([rec], out)
    assert (lp.topk_ids[:, :400] >= 0).all() and (lp.topk_ids[:, 400:] == -1).all()
    run(hf_cfg(peaky, out, limit=1, n=1, logprobs=1000), progress=False)  # nothing to do
    assert len(list(read_records(out))) == 1
