"""Second reading of select's student-sample key and judge reply cache (s12j)."""

from __future__ import annotations

import json
import os

from distill.records import read_records, sample_id, stable_hash
from distill.select import difficulty, judge
from distill.select.reward import fingerprint
from tests.test_select import FakeStudent, select, write
from tests.test_select_resume_s12i import RATES, kept, student_dir


def test_a_student_saved_as_pytorch_model_bin_with_new_weights_is_another_student(tmp_path):
    d = tmp_path / "student"
    d.mkdir()
    (d / "config.json").write_text("{}")
    (d / "pytorch_model.bin").write_text("weights")
    before = difficulty.student_weights(str(d))
    # new weights copied over the old ones (config.json as it was)
    (d / "pytorch_model.bin").write_text("new weights!")
    assert difficulty.student_weights(str(d)) != before
    sharded = tmp_path / "sharded"
    sharded.mkdir()
    (sharded / "config.json").write_text("{}")
    (sharded / "pytorch_model-00001-of-00002.bin").write_text("a")
    before = difficulty.student_weights(str(sharded))
    (sharded / "pytorch_model-00001-of-00002.bin").write_text("bb")
    assert difficulty.student_weights(str(sharded)) != before


def test_a_safetensors_students_key_is_as_before(tmp_path):
    # samples cached since the stamp came in keep their ids
    d = student_dir(tmp_path)
    from distill.eval import weights_stamp

    assert difficulty.student_weights(str(d)) == stable_hash([weights_stamp(str(d))], 16)


def test_an_adapters_base_under_home_is_stamped(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    base = student_dir(tmp_path)
    d = tmp_path / "adapter"
    d.mkdir()
    (d / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "~/student"}))
    (d / "adapter_model.safetensors").write_text("w")
    before = difficulty.student_weights(str(d))
    (base / "model.safetensors").write_text("retrained")
    assert difficulty.student_weights(str(d)) != before


def test_old_scheme_samples_of_an_adapter_whose_base_was_retrained_since_are_not_reused(
    tmp_path,
):
    base = student_dir(tmp_path)
    d = tmp_path / "adapter"
    d.mkdir()
    (d / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(base)}))
    (d / "adapter_model.safetensors").write_text("w")
    s = FakeStudent(RATES)
    s.model = str(d)
    s.start()
    try:
        src = kept(tmp_path)
        kw = dict(student=str(d), student_base_url=s.url, samples=2, pass_rate="0:1")
        select(tmp_path, src, **kw)
        cache = tmp_path / "kept.select-student.jsonl"
        # the cache as written before (the adapter's files only: its base was not in the key)
        old = f"{d}@{fingerprint(str(d))}"
        recs = []
        for r in read_records(cache):
            mh = stable_hash(r["messages"])
            params = r["teacher"]["params"]
            r["id"] = sample_id(r["prompt_id"], old, params, r["sample"], r["messages"], mh)
            recs.append(r)
        write(cache, recs)
        t = cache.stat().st_mtime_ns
        os.utime(base / "model.safetensors", ns=(t - 10**9, t - 10**9))
        os.utime(base / "config.json", ns=(t - 10**9, t - 10**9))
        asked = len(s.log)
        # the base as it was: the old samples are this student's
        _, _, rep = select(tmp_path, src, out="b.jsonl", **kw)
        assert len(s.log) == asked and rep["difficulty"]["sampled_this_run"] == 0
        # the base trained again after those samples: another student, sampled again
        (base / "model.safetensors").write_text("retrained")
        os.utime(base / "model.safetensors", ns=(t + 10**9, t + 10**9))
        _, _, rep = select(tmp_path, src, out="c.jsonl", **kw)
        assert rep["difficulty"]["sampled_this_run"] == 6 and len(s.log) > asked
    finally:
        s.stop()


def test_a_cut_off_reply_that_gave_its_score_is_not_asked_again_under_a_larger_cap():
    scored = {"text": "Score: 7\nThe steps are", "finish_reason": "length", "max_tokens": 50}
    assert judge.usable(scored, 200)
    thinking = {"text": "<think>Let me check", "finish_reason": "length", "max_tokens": 50}
    assert not judge.usable(thinking, 200)
    assert judge.usable(thinking, 50) and judge.usable(thinking, 20)
    assert judge.usable({"text": "x", "finish_reason": "stop", "max_tokens": 1024}, 256)
