"""Second reading of the Batch API faults (s12d) and the publish card's metadata: a builtin
prompt source is no Hub dataset, a base's `license: other` keeps its name, and a create whose
reply was lost is neither stopped by a provider without batches.list nor marked refused."""

from __future__ import annotations

import json

import pytest
from aiohttp import web
from huggingface_hub import ModelCard

from distill.errors import DistillError
from distill.generate import run as generate
from distill.publish import PublishConfig, build_card
from distill.records import read_records
from distill.teachers.batch import state_path
from tests.test_batch_faults_s12d import FaultyBatchServer, cfg
from tests.test_publish_hub_meta_s12d import student_of


def card_of(student, **kw):
    cfg = PublishConfig(dir=str(student), local_dir="x", **kw)
    return ModelCard(str(build_card(student, student, cfg))).data.to_dict()


# =========================================================================== publish


def test_a_builtin_prompt_source_is_not_listed_as_a_hub_dataset(tmp_path):
    """generate --data builtin:arithmetic: its name cut at ':' is 'builtin', a valid Hub id,
    and went into `datasets: [builtin]` (a Hub dataset link to someone else's repo)."""
    for data in ("builtin:arithmetic", "builtin:arithmetic?n=50"):
        meta = card_of(student_of(tmp_path / data.replace(":", "_"), "Qwen/Qwen2.5-1.5B", data))
        assert "datasets" not in meta, (data, meta.get("datasets"))


def test_a_base_under_license_other_keeps_its_license_name(tmp_path):
    """A local base whose README says `license: other` with `license_name: llama3`: the card
    said only `license: other`, the base's license named nowhere; a student's weights are
    under its base's terms, so its name and link travel with it."""
    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text("{}")
    (base / "README.md").write_text(
        "---\nlicense: other\nlicense_name: llama3\n"
        "license_link: https://llama.meta.com/llama3/license\n---\n# base\n"
    )
    meta = card_of(student_of(tmp_path / "s", str(base)))
    assert meta["license"] == "other"
    assert meta.get("license_name") == "llama3"
    assert meta.get("license_link") == "https://llama.meta.com/llama3/license"
    # --license given: the user's alone
    meta = card_of(student_of(tmp_path / "s2", str(base)), license="mit")
    assert meta["license"] == "mit" and "license_name" not in meta


# =========================================================================== batch


class UnlistedServer(FaultyBatchServer):
    """A compatible provider without GET /v1/batches; `create_503` creates answer 503 without
    making a batch (a transient refusal)."""

    async def list_batches(self, request):
        return web.json_response({"error": {"message": "Not Found"}}, status=404)


def test_a_provider_without_batches_list_still_retries_a_failed_create(tmp_path):
    """Create answered 503 (nothing made): the lookup before the next try asked batches.list,
    which such a provider answers 404, and the run stopped on 'HTTP 404 ... one without a Batch
    API: generate without --batch' (it has one); every rerun stopped on the same lookup."""
    server = UnlistedServer().start()
    try:
        server.create_503 = 1
        out = tmp_path / "t.jsonl"
        generate(cfg(server, out), progress=False)
        assert len(server.batches) == 1 and len(list(read_records(out))) == 3
    finally:
        server.stop()


class OneBatchPerFileServer(FaultyBatchServer):
    """Refuses a second batch of one input file (400), and lists a batch only `lag` list calls
    after it was made (a list that lags behind)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.lag = 0

    async def create(self, request):
        body = await request.json()
        if any(b["input_file_id"] == body.get("input_file_id") for b in self.batches.values()):
            self.creates += 1
            msg = {"error": {"message": "a batch of this file exists"}}
            return web.json_response(msg, status=400)
        return await super().create(request)

    async def list_batches(self, request):
        if self.lag:
            self.lag -= 1
            return web.json_response({"object": "list", "data": [], "has_more": False})
        return await super().list_batches(request)


def test_a_refusal_after_a_lost_create_is_not_taken_for_a_refused_file(tmp_path):
    """A rerun submits a file an earlier (killed) run uploaded: the create makes the batch, its
    reply is lost, the list does not show it yet, the next create is refused. The file was
    marked refused and its samples uploaded and bought again (two batches of the same
    requests); now the run stops, and the rerun finds the batch and collects it."""
    server = OneBatchPerFileServer().start()
    try:
        out = tmp_path / "t.jsonl"
        server.plans.append({"hold": True})
        server.windows = {"24h"}
        with pytest.raises(DistillError, match="refused the batch"):
            generate(cfg(server, out, batch_window="48h"), progress=False)
        assert server.uploads == 1 and not server.batches  # uploaded, never submitted
        server.create_then_500, server.lag = 1, 2
        with pytest.raises(DistillError, match="re-attach"):
            generate(cfg(server, out), progress=False)
        server.release()
        generate(cfg(server, out), progress=False)
        assert len(server.batches) == 1 and server.uploads == 1, "the same requests bought twice"
        ids = [r["id"] for r in read_records(out)]
        assert len(ids) == 3 == len(set(ids))
        [entry] = json.loads(state_path(out).read_text())["batches"]
        assert entry["collected"] and entry["batch_id"] == next(iter(server.batches))
    finally:
        server.stop()
