import json

import pytest

from distill.errors import DistillError
from distill.records import RecordWriter, read_records, sample_id, stable_hash

MSGS = [{"role": "user", "content": "What is 1 + 1?"}]
PARAMS = {"temperature": 0.6, "top_p": 0.95, "max_tokens": 100, "seed": None}


def test_torn_last_line_is_skipped_and_cut_before_next_append(tmp_path):
    p = tmp_path / "t.jsonl"
    p.write_text(
        json.dumps({"id": "a"}) + "\n" + json.dumps({"id": "b"}) + "\n" + '{"id": "c", "ans'
    )
    assert [r["id"] for r in read_records(p)] == ["a", "b"]
    with RecordWriter(p) as w:
        w.write({"id": "d"})
    # The half record is gone, not glued to the new one.
    assert p.read_text().splitlines() == ['{"id": "a"}', '{"id": "b"}', '{"id": "d"}']
    assert {r["id"] for r in read_records(p)} == {"a", "b", "d"}


def test_a_whole_last_record_without_its_newline_is_kept_not_cut(tmp_path):
    """read_records reads it (a resume counts it done), so the writer must not cut it: that
    sample would be lost, never asked for again."""
    p = tmp_path / "t.jsonl"
    p.write_text(json.dumps({"id": "a"}) + "\n" + json.dumps({"id": "b"}))
    assert {r["id"] for r in read_records(p)} == {"a", "b"}  # what a resume counts done
    with RecordWriter(p) as w:
        w.write({"id": "c"})
    assert p.read_text().splitlines() == ['{"id": "a"}', '{"id": "b"}', '{"id": "c"}']


def test_broken_line_in_the_middle_names_file_and_line(tmp_path):
    p = tmp_path / "t.jsonl"
    p.write_text('{"id": "a"}\n{"id": oops}\n{"id": "c"}\n')
    with pytest.raises(DistillError, match=r"t\.jsonl:2: not valid JSON"):
        list(read_records(p))


def test_missing_required_field_names_line_and_field(tmp_path):
    p = tmp_path / "t.jsonl"
    p.write_text('{"id": "a"}\n{"answer": "x"}\n')
    with pytest.raises(DistillError, match=r"t\.jsonl:2: missing field 'id'"):
        list(read_records(p, required=("id",)))


def test_sample_id_changes_with_output_changing_params_only():
    base = sample_id("p1", "m", PARAMS, 0, MSGS)
    assert base == sample_id("p1", "m", dict(PARAMS), 0, MSGS)
    assert base != sample_id("p1", "m", {**PARAMS, "temperature": 0.7}, 0, MSGS)
    assert base != sample_id("p1", "m", {**PARAMS, "max_tokens": 200}, 0, MSGS)
    assert base != sample_id("p1", "m", PARAMS, 1, MSGS)
    assert base != sample_id("p1", "other-model", PARAMS, 0, MSGS)
    assert base != sample_id(
        "p1", "m", PARAMS, 0, [{"role": "user", "content": "changed template"}]
    )
    # Knobs that do not change outputs are not part of the id.
    assert base == sample_id("p1", "m", {**PARAMS, "concurrency": 128, "max_retries": 9}, 0, MSGS)


def test_sample_ids_stay_those_earlier_versions_wrote():
    """A resume finds the samples an earlier version of distill wrote (the values below were
    computed with the version before `messages_hash`): a changed id would buy them again."""
    msgs = [{"role": "user", "content": "What is 2 + 3? Put the final answer within \\boxed{}."}]
    params = {"temperature": 0.6, "top_p": 0.95, "max_tokens": 4096, "seed": None}
    assert stable_hash(msgs) == "9f4346611e8ec001"
    assert sample_id(stable_hash(msgs), "deepseek-reasoner", params, 1, msgs) == "3c4a3d92a706d702"
    assert (
        sample_id("9f4346611e8ec001", "deepseek-reasoner", params, 1, msgs, "9f4346611e8ec001")
        == "3c4a3d92a706d702"
    )
