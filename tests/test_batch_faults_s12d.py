"""Adversarial faults of the Batch API path (distill/teachers/batch.py) against tests/fakebatch.py."""

import json

import pytest
from aiohttp import web

from distill.errors import DistillError
from distill.generate import run
from distill.teachers.batch import state_path
from tests.fakebatch import FakeBatchServer
from tests.test_batch import cfg as batch_cfg
from tests.test_batch import records


class FaultyBatchServer(FakeBatchServer):
    """FakeBatchServer with a few more faults: `create_then_500` batches are created and then
    answered with a 500 (the reply lost on the way back)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.create_then_500 = 0
        self.create_503 = 0  # the next N creates answer 503 without making a batch
        self.creates = 0  # POST /v1/batches received

    async def create(self, request: web.Request) -> web.Response:
        self.creates += 1
        if self.create_503:
            self.create_503 -= 1
            return web.json_response({"error": {"message": "busy"}}, status=503)
        resp = await super().create(request)
        if self.create_then_500 and resp.status == 200:
            self.create_then_500 -= 1
            return web.json_response({"error": {"message": "upstream reset"}}, status=500)
        return resp


@pytest.fixture
def server():
    s = FaultyBatchServer().start()
    yield s
    s.stop()


def cfg(server, out, **kw):
    """tests/test_batch.py's generate --batch config, three prompts of one sample each."""
    return batch_cfg(server, out, **{"limit": 3, "n": 1, **kw})


def test_a_created_batch_whose_reply_is_lost_is_not_created_again(server, tmp_path):
    """The provider creates the batch, the reply is a 500: the client's own retry of the POST
    made a second batch of the same requests (paid twice). The batch is looked up by its input
    file before another create."""
    server.create_then_500 = 1
    out = tmp_path / "t.jsonl"
    run(cfg(server, out), progress=False)
    assert len(server.batches) == 1, "the same requests were submitted in two batches"
    assert len(server.bodies) == 3 and len(records(out)) == 3
    [entry] = json.loads(state_path(out).read_text())["batches"]
    assert entry["batch_id"] == next(iter(server.batches)) and entry["collected"]


class CutDownloadServer(FaultyBatchServer):
    """Output files are sent in part, then the connection is dropped (`cut_downloads` times)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.cut_downloads = 0

    async def content(self, request: web.Request) -> web.StreamResponse:
        obj = self.files.get(request.match_info["fid"])
        if obj is None or not self.cut_downloads or obj["purpose"] != "batch_output":
            return await super().content(request)
        self.cut_downloads -= 1
        body = obj["_content"]
        resp = web.StreamResponse(headers={"Content-Length": str(len(body))})
        await resp.prepare(request)
        first = body[: body.index(b"\n") + 1]  # one whole line, then the connection drops
        await resp.write(first + body[len(first) : len(first) + 10])
        request.transport.close()
        return resp


def test_a_download_cut_off_is_one_line_and_a_rerun_buys_nothing_again(tmp_path):
    """The connection drops while the output file streams in: the run stopped with the http
    library's RemoteProtocolError (no word of the batch still to collect); now the line every
    lost connection gives, and the rerun collects the rest of that batch, buying nothing again."""
    server = CutDownloadServer().start()
    try:
        out = tmp_path / "t.jsonl"
        server.cut_downloads = 1
        with pytest.raises(
            DistillError, match="cannot reach .*rerun the same command to re-attach"
        ):
            run(cfg(server, out), progress=False)
        assert len(server.batches) == 1 and len(records(out)) == 1  # the line that came whole
        run(cfg(server, out), progress=False)
        assert len(server.batches) == 1 and len(server.bodies) == 3
        ids = [r["id"] for r in records(out)]
        assert len(ids) == 3 == len(set(ids))
    finally:
        server.stop()


class OddErrorsServer(FaultyBatchServer):
    """An OpenAI-compatible provider that writes a line error as a bare string and a line that
    never ran with `response` set to a string."""

    async def _process(self, batch):
        await super()._process(batch)
        if batch["status"] != "completed" or not batch["output_file_id"]:
            return
        out = self.files[batch["output_file_id"]]
        lines = [json.loads(x) for x in out["_content"].splitlines()]
        lines[0] = {"custom_id": lines[0]["custom_id"], "response": None, "error": "quota exceeded"}
        lines[1] = {"custom_id": lines[1]["custom_id"], "response": "bad gateway", "error": None}
        out["_content"] = "".join(json.dumps(x) + "\n" for x in lines).encode()


def test_line_errors_of_another_shape_are_failed_samples_not_a_crash(tmp_path):
    """`error` as a string or `response` as a string: the run stopped with AttributeError
    ('str' object has no attribute 'get'), the batch never marked collected; now those two
    samples fail with the provider's words and the third is written."""
    server = OddErrorsServer().start()
    try:
        out = tmp_path / "t.jsonl"
        with pytest.raises(DistillError, match="2 samples failed: .*quota exceeded"):
            run(cfg(server, out, batch_max_rounds=1), progress=False)
        assert len(records(out)) == 1
        [entry] = json.loads(state_path(out).read_text())["batches"]
        assert entry["collected"]
    finally:
        server.stop()


def test_a_stored_input_file_the_provider_no_longer_takes_is_uploaded_again(server, tmp_path):
    """A run uploads its file, the create is refused (a wrong --batch-window); by the rerun the
    file is gone at the provider (deleted, or the rerun's key is another project's). Every
    rerun tried to create a batch from that same file and stopped on 'input file not found':
    no way on but deleting the state file. Nothing was bought from it: uploaded again."""
    server.windows = {"24h"}
    out = tmp_path / "t.jsonl"
    with pytest.raises(DistillError, match="refused the batch"):
        run(cfg(server, out, batch_window="48h"), progress=False)
    server.files.clear()
    run(cfg(server, out), progress=False)
    assert server.uploads == 2 and len(server.batches) == 1
    ids = [r["id"] for r in records(out)]
    assert len(ids) == 3 == len(set(ids))
    first, second = json.loads(state_path(out).read_text())["batches"]
    assert first["status"] == "refused" and second["collected"]


class SamePageServer(FaultyBatchServer):
    """A compatible provider whose batch list ignores `after` and says nothing of `has_more`:
    every page is its first, one batch of another run. A 50th list call answers 500 (the test's
    stop, where the old lookup looped)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.lists = 0

    async def list_batches(self, request):
        import time

        self.lists += 1
        if self.lists >= 50:
            return web.json_response({"error": {"message": "looping"}}, status=500)
        other = {"id": "batch_other", "object": "batch", "endpoint": "/v1/chat/completions",
                 "input_file_id": "file-other", "completion_window": "24h",
                 "status": "completed", "created_at": int(time.time())}  # fmt: skip
        return web.json_response({"object": "list", "data": [other]})


def test_a_batch_list_that_repeats_its_first_page_is_read_once(tmp_path):
    """After a create that failed, the lookup for a batch already made paged through
    batches.list: a provider that ignores `after` served its first page for ever (a hang)."""
    server = SamePageServer().start()
    try:
        server.create_503 = 1
        out = tmp_path / "t.jsonl"
        run(cfg(server, out), progress=False)
        assert len(server.batches) == 1 and len(records(out)) == 3
        assert server.lists <= 2
    finally:
        server.stop()
