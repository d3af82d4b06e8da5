"""Stored top-K log-probs read back best first, within the documented error, whatever a
teacher sent (NaN, a log-prob above 0)."""

import numpy as np

from distill.logprobs import FLOOR, HEAD, STEP, TokenLogprobs, load, pointer, write_shard


def round_trip(tmp_path, topk_logprobs, logprob=None):
    lp = np.asarray(topk_logprobs, np.float32)
    n, k = lp.shape
    ids = np.arange(n * k).reshape(n, k) + 5
    t = TokenLogprobs(ids[:, 0], lp[:, 0] if logprob is None else logprob, ids, lp)
    shard = write_shard(tmp_path / "t.logprobs", [("a", t)])
    rec = {"id": "a", "logprobs": pointer(shard, tmp_path / "t.jsonl", t, "tok", None, False)}
    return ids, load(rec, tmp_path / "t.jsonl")


def test_first_quantized_value_never_reads_above_the_last_float16_one(tmp_path):
    # -1.005 is float16 -1.00488; -1.006 is on the 1/64 grid at -1.0: it read back above the
    # value before it, so top-K was not best first (top-1, ranks, the rest bucket read it)
    _, got = round_trip(tmp_path, [[-0.1, -0.5, -0.9, -1.005, -1.006, -1.2]])
    row = got.topk_logprobs[0]
    assert (np.diff(row) <= 0).all(), row
    assert abs(row[HEAD] - -1.006) <= STEP / 2


def test_random_near_ties_read_back_sorted_and_within_the_bound(tmp_path):
    rng = np.random.default_rng(0)
    # many values within STEP of each other, near 0 and far (below -16 float16 is coarser)
    steps = rng.choice([0.0, 0.001, 0.004, 0.007, 0.3], size=(600, 12))
    lp = -np.cumsum(steps, axis=1) - rng.choice([0.0, 10.0, 15.9, 20.0, 35.0, 300.0], (600, 1))
    _, got = round_trip(tmp_path, lp)
    decoded = got.topk_logprobs
    assert (np.diff(decoded, axis=1) <= 0).all()
    # README: the rest within 1/128 nat; the head float16's (relative 2^-11)
    assert np.abs(decoded[:, HEAD:] - lp[:, HEAD:]).max() <= STEP / 2 + 1e-5
    head = lp[:, :HEAD]
    assert (np.abs(decoded[:, :HEAD] - head) <= np.abs(head) * 2**-11 + 1e-6).all()


def test_a_nan_log_prob_from_a_server_is_no_mass_and_ranks_last(tmp_path):
    # it read back as 0 nats (a certain token) after -2, and the top-K mass went past 1
    ids, got = round_trip(tmp_path, [[-0.5, -2.0, -3.0, -3.5, -4.0, np.nan, -5.0]])
    row = got.topk_logprobs[0]
    assert (np.diff(row) <= 0).all(), row
    assert row[-1] == FLOOR and got.topk_ids[0, -1] == ids[0, 5]
    assert np.exp(row.astype(np.float64)).sum() < 1


def test_a_nan_in_the_float16_head_is_no_mass(tmp_path):
    ids, got = round_trip(tmp_path, [[-0.1, np.nan, -1.0, -1.2]])
    row = got.topk_logprobs[0]
    assert np.isfinite(row).all() and row[-1] == FLOOR and got.topk_ids[0, -1] == ids[0, 1]
    assert list(got.topk_ids[0, :3]) == [ids[0, 0], ids[0, 2], ids[0, 3]]


def test_a_log_prob_above_zero_reads_as_zero(tmp_path):
    # a server's rounding (+1e-3): a probability above 1 would make the rest bucket negative
    _, got = round_trip(tmp_path, [[1e-3, -8.0, -9.0, -10.0, -11.0]])
    assert got.topk_logprobs[0, 0] == 0.0
