"""A second read of fixes of tests/test_leftovers_s14.py.

generate --batch, a result file that stays short: the requests it never returned are bought
again, and the line saying so told the user they "were not completed, so not billed" while
the batch's own request counts (printed on the next line: "3 ok") said they were completed,
and so billed: bought again, they are paid twice.
"""

from __future__ import annotations

import pytest

from distill.generate import run
from tests.test_batch import cfg, records
from tests.test_leftovers_s14 import StaysShortServer

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
