"""Second read of the log-prob side files (s12e): an empty completion among others."""

import numpy as np

from distill.logprobs import ShardBuffer, TokenLogprobs, load_many, with_texts
from distill.records import RecordWriter, read_records

INFO = dict(tokenizer="t", vocab=None, stop_token=False)


def test_empty_completion_keeps_its_shard_mates_texts(tmp_path):
    # an openai teacher's empty completion (logprobs.content []) has no texts to give; the
    # shard it shares kept none for the others either, and cross-tokenizer kd refused them
    out = tmp_path / "t.jsonl"
    full = TokenLogprobs(
        [5, 6], [-0.1, -0.2], [[5, 7], [6, 8]], [[-0.1, -3.0], [-0.2, -2.0]],
        ["a", "b"], [0, 1], [["a", "c"], ["b", "d"]],
    )  # fmt: skip
    empty = TokenLogprobs([], [], np.zeros((0, 2), np.int64), np.zeros((0, 2), np.float32))
    buf = ShardBuffer(out)
    buf.add({"id": "full"}, full, **INFO)
    buf.add({"id": "empty"}, empty, **INFO)
    with RecordWriter(out) as w:
        buf.flush(w.write)
    recs = list(read_records(out))
    assert [r["logprobs"]["offsets"] for r in recs] == [True, True]
    got = load_many(recs, out)
    assert got[0].token_text == ["a", "b"] and got[0].offsets.tolist() == [0, 1]
    assert got[0].topk_text == [["a", "c"], ["b", "d"]]
    assert len(got[1]) == 0


def test_with_texts_of_an_empty_completion():
    from tests.test_xtok import bpe
    from tests.tiny import CORPUS

    tok = bpe(300, CORPUS * 5)
    t = TokenLogprobs([], [], np.zeros((0, 3), np.int64), np.zeros((0, 3), np.float32))
    got = with_texts(t, tok)  # was: ValueError, one offset for no token
    assert len(got) == 0 and got.offsets.tolist() == [] and got.token_text == []
