"""A second read of `distill generate`: resume without paying twice, and the run's numbers."""

import json

import pytest

from distill.errors import DistillError
from distill.generate import run
from distill.reasoning import split
from distill.records import read_records
from distill.teachers import batch as batch_mod
from tests.fakebatch import FakeBatchServer


def cfg(server, out, **kw):  # test_generate's, two prompts, one sample each, one retry
    from tests.test_generate import cfg as generate_cfg

    return generate_cfg(
        server, out, **{"limit": 2, "n": 1, "concurrency": 2, "max_retries": 1, **kw}
    )


def test_a_reply_without_choices_fails_the_sample_instead_of_asking_again_forever(server, tmp_path):
    # A 200 with no choices (a content filter, a broken proxy): asked one by one, each sample
    # that gets none is a failure for the rerun, not a new request, and another, and another...
    empty = json.dumps({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 0}})
    server.faults.extend({"body": empty} for _ in range(40))
    with pytest.raises(DistillError, match="2 samples failed: .*no choices"):
        run(cfg(server, tmp_path / "t.jsonl", limit=1, n=2), progress=False)
    # one request with n=2, then one per sample
    assert len(server.log) == 3


def _reasoning_only(self, i, prompt, max_tokens):
    # A reasoning model cut off while thinking: the reply's content is empty, its chain of
    # thought in reasoning_content, and every completion token was spent (and billed).
    text = "x" * (40 * (i + 1))
    return {
        "index": i,
        "message": {"role": "assistant", "content": None, "reasoning_content": text},
        "finish_reason": "length",
        "_tokens": 10 * (i + 1),
    }


def test_n_per_request_splits_completion_tokens_by_reasoning_too(server, tmp_path, monkeypatch):
    monkeypatch.setattr(type(server), "_choice", _reasoning_only)
    out = tmp_path / "t.jsonl"
    run(cfg(server, out, limit=1, n=2, price_input=1.0, price_output=1.0), progress=False)
    recs = sorted(read_records(out), key=lambda r: r["sample"])
    # the server billed 10 + 20 completion tokens for the two samples
    assert [r["usage"]["completion_tokens"] for r in recs] == [10, 20]
    summary = json.loads((tmp_path / "t.summary.json").read_text())
    assert summary["completion_tokens"] == 30
    assert summary["this_run"]["cost_usd"] == pytest.approx(summary["cost_usd"])
    assert summary["cost_usd"] > 30 / 1e6  # the completion tokens were paid for


def test_batch_logprobs_records_are_on_disk_before_their_batch_is_marked_collected(
    tmp_path, monkeypatch
):
    # A kill right after a batch is marked collected must find its records in --out: a rerun
    # neither re-attaches to a collected batch nor trusts anything but --out, so records still
    # in the log-prob buffer would be bought again.
    server = FakeBatchServer().start()
    out = tmp_path / "t.jsonl"
    seen: list[tuple[set, set]] = []
    save = batch_mod.BatchState.save

    def checked_save(self):
        on_disk = {r["id"] for r in read_records(out)} if out.exists() else set()
        for e in self.entries:
            if e.get("collected") and e.get("batch_id") in server.batches:
                ids = {line["custom_id"] for line in server.batches[e["batch_id"]]["_lines"]}
                seen.append((ids, on_disk))
        save(self)

    monkeypatch.setattr(batch_mod.BatchState, "save", checked_save)
    try:
        run(
            cfg(server, out, limit=4, n=1, batch=True, batch_poll=0.05, logprobs=2),
            progress=False,
        )
    finally:
        server.stop()
    assert seen and len(list(read_records(out))) == 4
    for ids, on_disk in seen:
        assert ids <= on_disk


def test_api_reasoning_with_an_empty_think_block_in_content_strips_the_block():
    # The module's own rule: "some servers also echo tags into content; strip an empty or
    # duplicated block". The duplicated one is stripped; an empty one was kept in the answer.
    assert split("<think>\n\n</think>\n\n4", "2+2 is 4") == ("2+2 is 4", "4", "api")
