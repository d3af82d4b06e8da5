"""A second read of three fixes of tests/test_leftovers_s14.py.

generate --batch, a result file that stays short: the requests it never returned are bought
again, and the line saying so told the user they "were not completed, so not billed" while
the batch's own request counts (printed on the next line: "3 ok") said they were completed,
and so billed: bought again, they are paid twice.
filter's and generate's per-teacher counts: a traces file resumed across the change that
added `teacher.hub` (its first samples without it, the later ones with it) showed one Hub
model as two teachers, `hf:NAME` and `hf:NAME@hub`, although generate took all of them as its
own and no folder of that name was ever used.
"""

from __future__ import annotations

import json

import pytest

from distill.generate import GenerateConfig, generate_planned, run, summarize
from distill.records import read_records, write_atomic
from tests.test_batch import cfg, records
from tests.test_cache_keys_s13 import NAME, drawn  # noqa: F401 - the fixture
from tests.test_leftovers_s14 import StaysShortServer, quick_waits  # noqa: F401 - a fixture

# ============================================================== what a short file cost


class CountsNeverRan(StaysShortServer):
    """As StaysShortServer (the first batch's output file is its first line, then part of the
    second), and its request counts say only that first request completed: the two with no
    line never ran."""

    async def retrieve(self, request):
        first = next(iter(self.batches.values()))
        if first["status"] == "completed":
            first["request_counts"] = {"total": 3, "completed": 1, "failed": 0}
        return await super().retrieve(request)


@pytest.fixture
def never_ran_server():
    s = CountsNeverRan().start()
    s.tail = b"cut"
    yield s
    s.stop()


@pytest.fixture
def short_server():
    s = StaysShortServer().start()
    yield s
    s.stop()


def stayed_short(capsys) -> str:
    said = [line for line in capsys.readouterr().out.splitlines() if "stayed short" in line]
    assert len(said) == 1
    return said[0]


def test_requests_the_counts_say_completed_are_not_called_unbilled(short_server, tmp_path, capsys):
    """The provider counts all 3 requests completed (billed) and its file holds 1 line: the 2
    asked again are paid twice, which the line says instead of 'not billed'."""
    out = tmp_path / "t.jsonl"
    run(cfg(short_server, out, limit=3, n=1), progress=False)
    line = stayed_short(capsys)
    assert "not billed" not in line
    assert "3 completed of 3" in line and "paid again" in line
    assert len(short_server.batches) == 2 and len(records(out)) == 3


def test_requests_the_counts_say_never_ran_are_not_billed(never_ran_server, tmp_path, capsys):
    out = tmp_path / "t.jsonl"
    run(cfg(never_ran_server, out, limit=3, n=1), progress=False)
    line = stayed_short(capsys)
    assert "its 2 requests in neither its output nor its error file never ran" in line
    assert "(not billed)" in line and "paid again" not in line and "round 2" in line
    first, second = (b["_lines"] for b in never_ran_server.batches.values())
    assert [x["custom_id"] for x in second] == [x["custom_id"] for x in first[1:]]
    ids = [r["id"] for r in records(out)]
    assert len(ids) == 3 == len(set(ids))


# ============================================================== one Hub teacher, old and new records


def test_a_hub_teachers_records_from_before_hub_was_kept_are_the_same_teacher(
    tmp_path,
    monkeypatch,
    drawn,  # noqa: F811
):
    from distill.filter import FilterConfig
    from distill.filter import run as filter_run

    monkeypatch.chdir(tmp_path)

    def gen(limit: int) -> GenerateConfig:
        return GenerateConfig(
            data="builtin:arithmetic", limit=limit, n=2, teacher="hf", model=NAME, seed=0,
            out="traces.jsonl",
        )  # fmt: skip

    generate_planned(gen(2), progress=False)
    # written by a version before teacher.hub: the same records without it
    old = list(read_records("traces.jsonl"))
    for r in old:
        del r["teacher"]["hub"]
    write_atomic(tmp_path / "traces.jsonl", "".join(json.dumps(r) + "\n" for r in old))
    generate_planned(gen(3), progress=False)  # resumed now: the 4 old ones are its own
    assert drawn[-1] == (NAME, 2)
    recs = list(read_records("traces.jsonl"))
    assert len(recs) == 6 and sum(r["teacher"].get("hub") is True for r in recs) == 2

    assert summarize("traces.jsonl")["by_teacher"] == {f"hf:{NAME}": 6}
    filter_run(FilterConfig(input="traces.jsonl", out="kept.jsonl", verify="none"), quiet=True)
    report = json.loads((tmp_path / "kept.report.json").read_text())
    assert {k: v["total"] for k, v in report["by_teacher"].items()} == {f"hf:{NAME}": 6}
