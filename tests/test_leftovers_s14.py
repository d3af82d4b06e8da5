"""Three faults an earlier session left.

generate --batch: a batch whose result file stays short stopped every run until the user moved
the state file away; the requests in neither its output nor its error file (never completed,
never billed) are asked again now, and nothing that came back is bought again.
A Hub id and a same-named local folder (two models, kept apart by generate) were one teacher in
filter's per-teacher counts and in the card's lineage.
distill run read a Hub eval set only when eval started, after generate and train were paid for.
"""

from __future__ import annotations

import json
import shutil

import pytest
from aiohttp import web

from distill.errors import DistillError
from distill.generate import generate_planned, run, summarize
from distill.teachers.batch import state_path
from tests.fakebatch import FakeBatchServer
from tests.test_batch import cfg, records
from tests.test_cache_keys_s13 import NAME, drawn, gen  # noqa: F401 - the fixture

# ============================================================== a batch whose file stays short


class StaysShortServer(FakeBatchServer):
    """The first batch's output file comes back short on every download, as a provider that
    lost lines would serve it: its first line whole, then nothing (`tail` b"") or a part of
    the next line. Later batches' files come whole."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.tail = b""
        self.downloads = 0

    async def content(self, request: web.Request) -> web.Response:
        fid = request.match_info["fid"]
        first = next(iter(self.batches.values()), {})
        if fid != first.get("output_file_id"):
            return await super().content(request)
        self.downloads += 1
        body = self.files[fid]["_content"]
        head = body[: body.index(b"\n") + 1]
        cut = head + (body[len(head) : len(head) + 40] if self.tail else b"")
        return web.Response(body=cut, content_type="application/octet-stream")


@pytest.fixture
def short_server():
    s = StaysShortServer().start()
    yield s
    s.stop()


@pytest.mark.parametrize("tail", [b"", b"cut"], ids=["fewer-lines", "last-line-cut"])
def test_requests_a_short_file_never_returns_go_to_a_new_batch(
    short_server, tmp_path, capsys, tail
):
    """Every run stopped with 'came back short 3 times ... rerun the same command', and every
    rerun met the same file: no way on but moving the state file by hand."""
    short_server.tail = tail
    out = tmp_path / "t.jsonl"
    run(cfg(short_server, out, limit=3, n=1), progress=False)
    first, second = (b["_lines"] for b in short_server.batches.values())
    # the two requests of no line, and only those: the one that came is not bought again
    assert [x["custom_id"] for x in second] == [x["custom_id"] for x in first[1:]]
    assert short_server.downloads == 3  # read again first (max_retries 2), then given up
    ids = [r["id"] for r in records(out)]
    assert len(ids) == 3 == len(set(ids))
    said = [line for line in capsys.readouterr().out.splitlines() if "stayed short" in line]
    assert len(said) == 1
    assert "its 2 requests in neither its output nor its error file" in said[0]
    assert "not billed" in said[0] and "round 2" in said[0]
    entries = json.loads(state_path(out).read_text())["batches"]
    assert len(entries) == 2 and all(e["collected"] for e in entries)
    run(cfg(short_server, out, limit=3, n=1), progress=False)  # done: nothing asked again
    assert len(short_server.batches) == 2


def test_on_the_last_round_they_fail_and_a_rerun_asks_them_again(short_server, tmp_path):
    out = tmp_path / "t.jsonl"
    with pytest.raises(DistillError, match="2 samples failed"):
        run(cfg(short_server, out, limit=3, n=1, batch_max_rounds=1), progress=False)
    assert len(records(out)) == 1 and len(short_server.batches) == 1
    run(cfg(short_server, out, limit=3, n=1, batch_max_rounds=1), progress=False)  # the file
    first, second = (b["_lines"] for b in short_server.batches.values())  # is still short
    assert [x["custom_id"] for x in second] == [x["custom_id"] for x in first[1:]]
    ids = [r["id"] for r in records(out)]
    assert len(ids) == 3 == len(set(ids))


# ============================================================== a Hub id and a same-named folder


def test_a_hub_model_and_a_same_named_folder_are_two_teachers_in_filter_and_card(
    tiny_qwen,
    tmp_path,
    monkeypatch,
    drawn,  # noqa: F811
):
    from distill.filter import FilterConfig
    from distill.filter import run as filter_run
    from distill.publish import PublishConfig, build_card
    from tests.test_publish import run_folder

    monkeypatch.chdir(tmp_path)
    shutil.copytree(tiny_qwen, NAME)
    generate_planned(gen(), progress=False)  # the folder ./Qwen/Qwen2.5-0.5B, typed as the id
    shutil.move(tmp_path / "Qwen", tmp_path / "elsewhere")
    generate_planned(gen(), progress=False)  # the Hub model of that name
    assert [m for m, _ in drawn] == [NAME, NAME]  # two models, 4 samples each
    two = {f"hf:{NAME}": 4, f"hf:{NAME}@hub": 4}
    assert summarize("traces.jsonl")["by_teacher"] == two

    filter_run(FilterConfig(input="traces.jsonl", out="kept.jsonl", verify="none"), quiet=True)
    report = json.loads((tmp_path / "kept.report.json").read_text())
    assert {k: v["total"] for k, v in report["by_teacher"].items()} == two

    (tmp_path / "card").mkdir()
    student = run_folder(tmp_path / "card")  # the card's lineage: generate's summary
    (tmp_path / "card" / "traces.summary.json").write_text(json.dumps(summarize("traces.jsonl")))
    card = str(build_card(student, student, PublishConfig(dir=str(student), local_dir="x")))
    assert f"`hf:{NAME}` (4 samples), `hf:{NAME}@hub` (4 samples)" in card


def test_a_hub_teacher_alone_keeps_its_plain_name(tmp_path, monkeypatch, drawn):  # noqa: F811
    monkeypatch.chdir(tmp_path)
    generate_planned(gen(), progress=False)
    assert summarize("traces.jsonl")["by_teacher"] == {f"hf:{NAME}": 4}
