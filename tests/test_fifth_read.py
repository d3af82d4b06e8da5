"""Fifth read of the filter core (094993c..5cb0901, 33a9647), --lora-trainable-tokens
(4f1dd81, 74d204b, 9066c13), the fresh kd.json (438a702) and --batch errors (19953d6, c88e346)."""

from __future__ import annotations

from distill.records import read_records
from tests.test_filter import filt, trace
from tests.test_select import select


def test_select_keeps_no_earlier_reject_reason_on_a_kept_record(tmp_path):
    # a4091db dropped the old verdict in filter only: select over a rejects file (filter's, or
    # its own with a bigger --budget) wrote kept records still saying why they were rejected.
    recs = [trace(prompt="q1", answer="\\boxed{5}"), trace(prompt="q2", answer="\\boxed{6}")]
    filt(tmp_path, recs, verify="math")
    rejects = tmp_path / "kept.rejects.jsonl"
    assert all(r["reject_reason"] == "wrong_answer" for r in read_records(rejects))
    kept, _, _ = select(tmp_path, rejects, criteria=["length"])
    assert len(kept) == 2
    assert all("reject_reason" not in r and "reject_reasons" not in r for r in kept)
