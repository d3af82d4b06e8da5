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
import yaml
from aiohttp import web

from distill.errors import DistillError
from distill.generate import generate_planned, run, summarize
from distill.teachers.batch import state_path
from tests.fakebatch import FakeBatchServer
from tests.fakeserver import FakeServer
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


@pytest.fixture(autouse=True)
def quick_waits(monkeypatch):
    """The batch teacher's waits between reads of a short file (0.25 s, 0.5 s, ...): these tests
    count reads and requests, not the wait."""
    import time

    import distill.teachers.batch as batch

    class QuickTime:
        def __getattr__(self, name):
            return getattr(time, name)

        @staticmethod
        def sleep(seconds):
            time.sleep(min(seconds, 0.01))

    monkeypatch.setattr(batch, "time", QuickTime())


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
    assert "3 completed of 3" in said[0] and "paid again" in said[0] and "round 2" in said[0]
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


# ============================================================== distill run's Hub eval set

HUB_SET = "no-such-org/bench"


def hub_cache(tmp_path, monkeypatch, rows) -> None:
    """`HUB_SET` (split test) in an offline datasets cache, as a download leaves it: what
    `datasets.load_dataset(HUB_SET)` reads with no network (HF_HUB_OFFLINE, tests/conftest)."""
    import datasets
    from datasets.packaged_modules.json.json import Json

    src = tmp_path / "bench-src.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cache = tmp_path / "hf-datasets"
    where = cache / HUB_SET.replace("/", "___") / "default" / "0.0.0" / "0123abcd"
    b = Json(cache_dir=str(tmp_path / "build"), data_files={"test": str(src)}, dataset_name="bench")
    b.download_and_prepare(output_dir=str(where))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    assert len(datasets.load_dataset(HUB_SET, split="test")) == len(rows)


@pytest.fixture
def teacher(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    s = FakeServer().start()
    yield s
    s.stop()


def recipe(tmp_path, url: str, data: str):
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({
        "run": {"dir": str(tmp_path / "run")},
        "generate": {"data": "builtin:arithmetic?n=3", "teacher": "openai", "base_url": url,
                     "model": "fake-r1", "out": "{run_dir}/traces.jsonl"},
        "eval": {"model": "fake-r1", "backend": "openai", "base_url": url, "data": data,
                 "verify": "math", "out": "{run_dir}/eval.json"},
    }))  # fmt: skip
    return path


def test_a_hub_eval_set_with_a_bad_row_stops_the_run_before_generate(
    tmp_path, monkeypatch, teacher
):
    from distill.pipeline import run as pipeline_run

    rows = [{"problem": "What is 1 + 1?", "answer": "2"}, {"text": "What is 2 + 2?"}]
    hub_cache(tmp_path, monkeypatch, rows)
    # a Hub set's rows share its columns: the row without a problem has a null one
    with pytest.raises(DistillError, match=f"{HUB_SET} row 2: field 'problem' is empty") as e:
        pipeline_run(recipe(tmp_path, teacher.url, HUB_SET))
    assert "\n" not in str(e.value)
    assert not (tmp_path / "run" / "traces.jsonl").exists() and not teacher.log
    pipeline_run(recipe(tmp_path, teacher.url, HUB_SET), dry_run=True)  # no download there


def test_a_hub_eval_set_not_reachable_is_one_line_before_generate(tmp_path, teacher):
    from distill.pipeline import run as pipeline_run

    with pytest.raises(DistillError, match="could not load dataset 'no-such-org/nope'") as e:
        pipeline_run(recipe(tmp_path, teacher.url, "no-such-org/nope"))
    assert "\n" not in str(e.value)
    assert not (tmp_path / "run" / "traces.jsonl").exists() and not teacher.log


def test_a_good_hub_eval_set_runs_through(tmp_path, monkeypatch, teacher):
    from distill.pipeline import run as pipeline_run

    rows = [{"problem": f"What is {i} + {i}?", "answer": str(2 * i)} for i in (1, 2)]
    hub_cache(tmp_path, monkeypatch, rows)
    pipeline_run(recipe(tmp_path, teacher.url, HUB_SET))
    assert len(records(tmp_path / "run" / "traces.jsonl")) == 3
    assert json.loads((tmp_path / "run" / "eval.json").read_text())["student"]["problems"] == 2
