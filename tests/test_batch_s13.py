"""generate --batch (distill/teachers/batch.py) against tests/fakebatch.py: a result file that
comes back short is downloaded again, not bought again; --n K asks each prompt once with n=K."""

import json

import pytest
from aiohttp import web

from distill.errors import DistillError
from distill.generate import run
from distill.teachers.batch import state_path
from tests.fakebatch import FakeBatchServer
from tests.test_batch import canon, cfg, records, summary


class ShortDownloadServer(FakeBatchServer):
    """Output files come back short without any error (a Content-Length that matches what is
    sent): `short_downloads` times, the first line whole and then `tail` (b"" for a cut at a
    line end, else a part of the next line)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.short_downloads = 0
        self.tail = b""
        self.downloads = 0

    async def content(self, request: web.Request) -> web.Response:
        obj = self.files.get(request.match_info["fid"])
        if obj is None or obj["purpose"] != "batch_output":
            return await super().content(request)
        self.downloads += 1
        if not self.short_downloads:
            return await super().content(request)
        self.short_downloads -= 1
        body = obj["_content"]
        first = body[: body.index(b"\n") + 1]
        cut = first + (body[len(first) : len(first) + 40] if self.tail else b"")
        return web.Response(body=cut, content_type="application/octet-stream")


@pytest.fixture
def short_server():
    s = ShortDownloadServer().start()
    yield s
    s.stop()


@pytest.fixture
def server():
    s = FakeBatchServer().start()
    yield s
    s.stop()


@pytest.mark.parametrize("tail", [b"", b"cut"], ids=["fewer-lines", "last-line-cut"])
def test_a_short_download_is_read_again_not_bought_again(short_server, tmp_path, tail):
    """The output file of a completed batch comes back with one line of three, or with its
    second line cut off, and no error: the samples of the missing lines went into a new batch
    and were paid for twice. The file is downloaded again and nothing is bought twice."""
    short_server.short_downloads, short_server.tail = 1, tail
    out = tmp_path / "t.jsonl"
    run(cfg(short_server, out, limit=3, n=1), progress=False)
    assert len(short_server.batches) == 1, "samples of a paid batch were submitted again"
    assert len(short_server.bodies) == 3 and short_server.downloads == 2
    ids = [r["id"] for r in records(out)]
    assert len(ids) == 3 == len(set(ids))
    [entry] = json.loads(state_path(out).read_text())["batches"]
    assert entry["collected"]


def test_n_samples_of_a_prompt_are_one_line_asking_n_as_online(server, tmp_path):
    """--n 4: one line per sample paid the prompt four times. One line per prompt with n=4, the
    body the online path sends, the records the online records at half the price."""
    prices = dict(price_input=1.0, price_output=2.0)
    online, batched = tmp_path / "online.jsonl", tmp_path / "batch.jsonl"
    run(cfg(server, online, batch=False, limit=3, n=4, **prices), progress=False)
    online_bodies = sorted(canon(b) for b in server.bodies)
    run(cfg(server, batched, limit=3, n=4, **prices), progress=False)
    [batch] = server.batches.values()
    lines = batch["_lines"]
    assert len(lines) == 3 and [line["body"]["n"] for line in lines] == [4, 4, 4]
    assert sorted(canon(line["body"]) for line in lines) == online_bodies
    by_id = {r["id"]: r for r in records(online)}
    got = records(batched)
    assert len(got) == 12 and {r["id"] for r in got} == set(by_id)
    # custom_id: the id of the line's first sample
    assert {line["custom_id"] for line in lines} == {r["id"] for r in got if r["sample"] == 0}
    for r in got:
        assert r.pop("batch") == batch["id"]
        paid, online_paid = r["usage"].pop("cost_usd"), by_id[r["id"]]["usage"].pop("cost_usd")
        assert paid == pytest.approx(online_paid / 2, abs=1e-8)  # rounded to 8 places
        assert r == by_id[r["id"]] and r["usage"]["n_in_request"] == 4
    assert summary(batched)["this_run"]["cost_usd"] == pytest.approx(
        summary(online)["this_run"]["cost_usd"] / 2, abs=1e-6
    )


def test_lines_of_n_are_resubmitted_with_the_same_custom_ids(server, tmp_path):
    server.plans.append({"fail": "model not available for batch"})
    out = tmp_path / "t.jsonl"
    with pytest.raises(DistillError, match="6 samples failed"):
        run(cfg(server, out, limit=3, n=2), progress=False)
    run(cfg(server, out, limit=3, n=2), progress=False)
    first, second = ([line["custom_id"] for line in b["_lines"]] for b in server.batches.values())
    assert len(first) == 3 and first == second
    assert len(records(out)) == 6


def test_killed_while_collecting_a_line_of_n_then_rerun_writes_the_rest(server, tmp_path):
    """A kill between two samples of one line: the rerun writes the other samples of that line
    from the file (sample k from choice k), buys nothing, and the file is the unbroken run's."""
    out = tmp_path / "t.jsonl"
    run(cfg(server, out, limit=3, n=4), progress=False)
    whole = {r["id"]: r for r in records(out)}
    cut = records(out)[:5]  # the first line's four samples and one of the second's
    out.write_text("".join(json.dumps(r) + "\n" for r in cut))
    state = state_path(out)
    data = json.loads(state.read_text())
    [entry] = data["batches"]
    # as the state file held it in flight: each line's samples, in choice order
    samples: dict[str, list[str]] = {}
    for r in sorted(whole.values(), key=lambda r: (r["prompt_id"], r["sample"])):
        samples.setdefault(r["prompt_id"], []).append(r["id"])
    entry["groups"] = {sids[0]: sids for sids in samples.values()}
    [batch] = server.batches.values()
    assert set(entry["groups"]) == {line["custom_id"] for line in batch["_lines"]}
    entry.pop("collected")
    entry["status"] = "in_progress"
    entry["custom_ids"] = [sid for sids in entry["groups"].values() for sid in sids]
    state.write_text(json.dumps(data))
    run(cfg(server, out, limit=3, n=4), progress=False)
    assert len(server.batches) == 1 and len(server.bodies) == 3
    got = records(out)
    assert len(got) == 12 and {r["id"]: r for r in got} == whole


def test_a_state_file_of_one_line_per_sample_still_resumes_without_buying(server, tmp_path):
    """A batch submitted before lines asked for n (one line per sample, no `groups`), killed
    while collecting: this version collects it, buying nothing."""
    out = tmp_path / "t.jsonl"
    run(cfg(server, out, limit=3, n=2, n_per_request=False), progress=False)
    whole = {r["id"]: r for r in records(out)}
    out.write_text("".join(json.dumps(r) + "\n" for r in records(out)[:3]))
    state = state_path(out)
    data = json.loads(state.read_text())
    [entry] = data["batches"]
    assert "groups" not in entry
    entry.pop("collected")
    entry["status"] = "in_progress"
    entry["custom_ids"] = [x["custom_id"] for x in server.batches[entry["batch_id"]]["_lines"]]
    state.write_text(json.dumps(data))
    run(cfg(server, out, limit=3, n=2), progress=False)  # now the lines would ask for n
    assert len(server.batches) == 1 and len(server.bodies) == 6
    assert {r["id"]: r for r in records(out)} == whole


def test_a_provider_that_ignores_n_gets_the_rest_one_line_per_sample(tmp_path):
    server = FakeBatchServer(ignore_n=True).start()
    try:
        out = tmp_path / "t.jsonl"
        run(cfg(server, out, limit=2, n=3), progress=False)
        first, second = (b["_lines"] for b in server.batches.values())
        assert [line["body"].get("n") for line in first] == [3, 3]
        assert len(second) == 4 and all("n" not in line["body"] for line in second)
        ids = [r["id"] for r in records(out)]
        assert len(ids) == 6 == len(set(ids)) and len(server.bodies) == 6
    finally:
        server.stop()
