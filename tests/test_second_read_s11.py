"""Second read of session 11's generate changes (bdfa70d): a teacher folder renamed between runs
does not hand its samples to the other folder typed under the same name; a second generate on
the same --out does not write the first one's journaled --logprobs samples (twice, with the first
crashing on its journal)."""

from distill.generate import generate_planned
from distill.records import read_records
from tests.test_owned_s11 import gen, two_projects


def test_a_renamed_folder_leaves_its_samples_to_no_other_teacher(
    tiny_qwen,
    tmp_path,
    monkeypatch,
    paid,
):
    first, second, traces = two_projects(tiny_qwen, tmp_path, monkeypatch)
    assert paid == [4, 4] and not first & second
    # project a renamed: b's rerun is b's own samples, not a's (which eval and run would pick)
    (tmp_path / "a").rename(tmp_path / "a_old")
    assert generate_planned(gen("ckpt", traces), progress=False) == second
    assert paid == [4, 4] and len(list(read_records(traces))) == 8
    # and a's rerun under its new place finds a's
    monkeypatch.chdir(tmp_path / "a_old")
    assert generate_planned(gen("ckpt", traces), progress=False) == first
    assert paid == [4, 4]


def test_a_second_generate_on_the_same_out_leaves_a_running_ones_journal(tmp_path):
    """distill takes no lock on --out: two generates (say, two teachers) may append to one file,
    as they did before the journal. The second's start must not write the samples the first
    still holds for its shard (the first writes them too: twice), nor delete its journal."""
    import numpy as np
    import pyarrow.parquet as pq

    from distill.logprobs import ShardBuffer, TokenLogprobs, load_many, recover, side_dir
    from distill.records import RecordWriter

    def sample(i):
        lp = -np.linspace(0.1, 1.0, 3 * (i + 2), dtype=np.float32).reshape(i + 2, 3)
        return TokenLogprobs(np.arange(i + 2) + i, lp[:, 0], np.tile([i, 7, 8], (i + 2, 1)), lp)

    out = tmp_path / "t.jsonl"
    first = ShardBuffer(out, max_records=100)
    for i in range(2):
        first.add({"id": f"s{i}", "prompt_id": "p"}, sample(i), tokenizer="tok", vocab=None,
                  stop_token=False)  # fmt: skip
    assert recover(out) == 0  # the second run starts: not its samples to write
    with RecordWriter(out) as writer:
        first.flush(writer.write)  # the first goes on: no crash on its journal
    recs = list(read_records(out))
    assert [r["id"] for r in recs] == ["s0", "s1"]
    rows = [i for p in side_dir(out).glob("*.parquet") for i in pq.read_table(p)["id"].to_pylist()]
    assert sorted(rows) == ["s0", "s1"]
    assert [int(t.token_ids[0]) for t in load_many(recs, out)] == [0, 1]
    # a journal no running generate holds (its run was killed) is written by the next start
    gone = ShardBuffer(out, max_records=100)
    gone.add({"id": "s2", "prompt_id": "p"}, sample(2), tokenizer="tok", vocab=None,
             stop_token=False)  # fmt: skip
    gone._journal.close()  # what the kill of its process does to the lock it held
    assert recover(out) == 1 and [r["id"] for r in read_records(out)] == ["s0", "s1", "s2"]
    assert [p.name for p in side_dir(out).iterdir() if not p.name.endswith(".parquet")] == []
