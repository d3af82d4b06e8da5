"""A record holding a lone surrogate escape (`"\\ud83d"`: valid JSON, no UTF-8; emoji halves cut
by other tools) is read, filtered and written, never `UnicodeEncodeError` naming no file."""

import json

import pytest
from typer.testing import CliRunner

from distill.cli import app

LINE = (
    '{"id":"a","prompt_id":"p","messages":[{"role":"user","content":"hi \\ud83d"}],'
    '"answer":"ok \\ud83d","gold":null}\n'
)


@pytest.mark.parametrize("dedup", ["exact", "near"])
def test_filter_keeps_a_record_with_a_lone_surrogate(tmp_path, dedup):
    src = tmp_path / "s.jsonl"
    src.write_text(LINE)
    bench = tmp_path / "bench.jsonl"  # decontam reads it too
    bench.write_text('{"problem": "an unrelated problem \\ud83d with words enough to be eight"}\n')
    out = tmp_path / "k.jsonl"
    args = ["filter", str(src), "--out", str(out), "--dedup", dedup, "--decontam", str(bench)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    (kept,) = [json.loads(x) for x in out.read_text().splitlines()]
    assert kept["answer"] == "ok \ud83d"  # the same text back


def test_a_record_with_a_lone_surrogate_is_appended_and_read_back(tmp_path):
    from distill.records import RecordWriter, read_records, stable_hash

    rec = json.loads(LINE)
    w = RecordWriter(tmp_path / "t.jsonl")
    w.write(rec)
    w.close()
    assert list(read_records(tmp_path / "t.jsonl")) == [rec]
    assert stable_hash({"q": "hi \ud83d"}) != stable_hash({"q": "hi"})
    assert stable_hash({"q": "héllo"}) == stable_hash({"q": "héllo"})
