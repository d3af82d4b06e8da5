"""select's paid parts on a rerun (a loopback server counting requests): a student folder that
only gained an eval.json is the same student, its samples not paid for again; a retrained one is
sampled again; samples cached under the ids before stay used; an interrupted or killed sampling resumes
without re-sampling; a LoRA student on the vllm backend is one line; the judge asks again for a
changed rubric, not for a changed budget, through 429s."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from distill.errors import DistillError
from distill.records import read_records, sample_id, stable_hash
from distill.select import difficulty
from distill.select.config import SelectConfig
from distill.select.reward import fingerprint
from distill.select.stage import run
from tests import forked
from tests.test_select import (
    ROOT,
    FakeJudge,
    FakeStudent,
    judged_traces,
    select,
    trace,
    write,
)

RATES = {f"What is {k} + 1?": 0.5 for k in range(3)}


def student_dir(tmp_path: Path) -> Path:
    d = tmp_path / "student"
    d.mkdir()
    (d / "config.json").write_text("{}")
    (d / "model.safetensors").write_text("weights")
    return d


def kept(tmp_path: Path) -> Path:
    recs = [trace(f"p{k}", q, gold=str(k + 1)) for k, q in enumerate(RATES)]
    # a second trace of p0: difficulty is per prompt, the two share its samples
    recs.append(trace("p0", "What is 0 + 1?", sample=1, gold="1"))
    return write(tmp_path / "kept.jsonl", recs)


@pytest.fixture
def student(tmp_path):
    d = student_dir(tmp_path)
    s = FakeStudent(RATES)
    s.model = str(d)
    s.start()
    yield d, s
    s.stop()


def test_a_student_folder_that_gained_an_eval_json_is_not_sampled_again(tmp_path, student):
    d, s = student
    src = kept(tmp_path)
    kw = dict(student=str(d), student_base_url=s.url, samples=4, pass_rate="0:1")
    _, _, rep = select(tmp_path, src, **kw)
    assert rep["difficulty"]["sampled_this_run"] == 12  # 3 prompts, not 4 traces
    asked = len(s.log)
    # `distill eval --model student --out student/eval.json` (where publish looks for it)
    (d / "eval.json").write_text('{"pass@1": 0.5}')
    (d / "eval.json.manifest.json").write_text("{}")
    _, _, rep = select(tmp_path, src, out="b.jsonl", **{**kw, "budget": 1})
    assert len(s.log) == asked and rep["difficulty"]["sampled_this_run"] == 0
    # trained again in place: another student, sampled again
    (d / "model.safetensors").write_text("new weights")
    _, _, rep = select(tmp_path, src, out="c.jsonl", **kw)
    assert rep["difficulty"]["sampled_this_run"] == 12 and len(s.log) > asked


def test_samples_cached_under_the_ids_before_are_used(tmp_path, student):
    d, s = student
    src = kept(tmp_path)
    kw = dict(student=str(d), student_base_url=s.url, samples=2, pass_rate="0:1")
    select(tmp_path, src, **kw)
    cache = tmp_path / "kept.select-student.jsonl"
    # rewrite the cache as the ids were keyed before (every .json/.safetensors of the folder)
    old = f"{d}@{fingerprint(str(d))}"
    recs = []
    for r in read_records(cache):
        mh = stable_hash(r["messages"])
        params = r["teacher"]["params"]
        r["id"] = sample_id(r["prompt_id"], old, params, r["sample"], r["messages"], mh)
        recs.append(r)
    write(cache, recs)
    asked = len(s.log)
    _, _, rep = select(tmp_path, src, out="b.jsonl", **kw)
    assert len(s.log) == asked and rep["difficulty"]["sampled_this_run"] == 0


def test_an_interrupted_sampling_resumes_without_resampling(tmp_path, student, monkeypatch):
    d, s = student
    src = kept(tmp_path)
    kw = dict(student=str(d), student_base_url=s.url, samples=4, pass_rate="0:1", concurrency=1)
    real = difficulty._Sink.done
    seen = []

    def stop_after_a_prompt(self, job, sample, c):  # Ctrl-C once the first prompt is on disk
        real(self, job, sample, c)
        seen.append(sample)
        if len(seen) == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(difficulty._Sink, "done", stop_after_a_prompt)
    with pytest.raises(KeyboardInterrupt):
        select(tmp_path, src, **kw)
    monkeypatch.setattr(difficulty._Sink, "done", real)
    cache = tmp_path / "kept.select-student.jsonl"
    on_disk = {r["prompt_id"] for r in read_records(cache)}
    assert on_disk == {"p0"}
    # The resume asks a server of its own (the samples' ids hold no URL): p1's request, sent
    # before p0's samples were written (as the openai teacher sends the next request first) and
    # cut by the interrupt, may reach the first server's log only after the interrupted run
    # returned, and counted among the resume's requests it read as p1 asked twice.
    again_server = FakeStudent(RATES)
    again_server.model = str(d)
    again_server.start()
    try:
        _, _, rep = select(tmp_path, src, **{**kw, "student_base_url": again_server.url})
    finally:
        again_server.stop()
    again = [e["messages"][-1]["content"] for e in again_server.log]
    assert sorted(again) == ["What is 1 + 1?", "What is 2 + 1?"]
    assert rep["difficulty"]["sampled_this_run"] == 8 and rep["difficulty"]["cached"] == 4


def test_a_lora_student_on_the_vllm_backend_is_one_line(tmp_path):
    d = tmp_path / "adapter"
    d.mkdir()
    (d / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "x/y"}))
    (d / "adapter_model.safetensors").write_text("w")
    src = kept(tmp_path)
    with pytest.raises(DistillError, match="LoRA adapter.*--student-backend hf"):
        select(tmp_path, src, student=str(d), student_backend="vllm", pass_rate="0:1")


def test_a_lora_students_local_base_retrained_is_sampled_again(tmp_path):
    base = student_dir(tmp_path)
    d = tmp_path / "adapter"
    d.mkdir()
    (d / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(base)}))
    (d / "adapter_model.safetensors").write_text("w")
    before = difficulty.student_weights(str(d))
    (d / "eval.json").write_text("{}")
    assert difficulty.student_weights(str(d)) == before
    (base / "model.safetensors").write_text("retrained")
    assert difficulty.student_weights(str(d)) != before


def test_the_judge_asks_again_for_a_new_rubric_not_a_new_budget_through_429s(tmp_path):
    src = judged_traces(tmp_path, ["Score: 8", "Score: 3", "no verdict"])
    rubric = tmp_path / "rubric.txt"
    rubric.write_text("Grade {reasoning}\n")
    j = FakeJudge().start()
    try:
        kw = dict(judge="judge", judge_base_url=j.url, judge_template=str(rubric))
        j.faults.extend([{"status": 429, "retry_after": 0}] * 2)
        _, rejects, rep = select(tmp_path, src, **kw)
        assert len(j.log) == 5 and rep["judge"]["malformed"] == 1
        assert [r["reject_reason"] for r in rejects] == ["judge_no_score"]
        # another budget: nothing asked, the reply without a score not asked again either
        _, _, rep = select(tmp_path, src, out="b.jsonl", **{**kw, "budget": 1})
        assert len(j.log) == 5 and rep["judge"]["requests_this_run"] == 0
        rubric.write_text("Grade this one {reasoning}\n")
        _, _, rep = select(tmp_path, src, out="c.jsonl", **kw)
        assert len(j.log) == 8 and rep["judge"]["requests_this_run"] == 3
    finally:
        j.stop()


def test_a_run_killed_mid_sampling_resamples_nothing_on_disk(tmp_path, student):
    d, s = student
    src = kept(tmp_path)
    out = tmp_path / "sel.jsonl"
    args = ["select", str(src), "--out", str(out), "--student", str(d), "--student-base-url"]
    args += [s.url, "--samples", "4", "--pass-rate", "0:1", "--concurrency", "1"]
    # killed (SIGKILL) with the 6th sample on disk: p0's 4 and 2 of p1's
    res = forked.distill(
        *args,
        cwd=ROOT,
        before=lambda: os.environ.update(DISTILL_TEST_KILL_AT="select:sampled:6"),
        imports=("openai", "distill.select.stage", "distill.select.difficulty"),
        timeout=120,
    )
    assert res.returncode == -signal.SIGKILL, res.stderr
    first = len(s.log)
    cfg = SelectConfig(
        input=str(src),
        out=str(out),
        student=str(d),
        student_base_url=s.url,
        samples=4,
        pass_rate="0:1",
    )
    run(cfg, quiet=True)
    asked = sorted((e["messages"][-1]["content"], e["n"] or 1) for e in s.log[first:])
    assert asked == [("What is 1 + 1?", 2), ("What is 2 + 1?", 4)]
    report = json.loads(Path(cfg.report).read_text())
    assert report["difficulty"]["cached"] == 6 and report["difficulty"]["sampled_this_run"] == 6


class ThinkingJudge(FakeJudge):
    """A reasoning judge: on a trace marked LONG it needs 100 tokens, and under a smaller cap
    its reply is cut off inside its thinking (finish_reason 'length', no score)."""

    def _choice(self, i: int, prompt: str, max_tokens: int) -> dict:
        c = super()._choice(i, prompt, max_tokens)
        if "LONG" in prompt and max_tokens < 100:
            c["message"]["content"] = "Let me check each step. The first step"
            c["finish_reason"] = "length"
        return c


def test_a_larger_judge_max_tokens_asks_again_only_for_the_cut_off_replies(tmp_path):
    src = judged_traces(tmp_path, ["Score: 8", "Score: 3", "LONG Score: 6"])
    j = ThinkingJudge().start()
    try:
        kw = dict(judge="judge", judge_base_url=j.url, judge_max_tokens=50)
        _, rejects, rep = select(tmp_path, src, **kw)
        assert len(j.log) == 3 and rep["judge"]["cut_off"] == 1
        assert [r["reject_reason"] for r in rejects] == ["judge_no_score"]
        assert any("--judge-max-tokens 50" in n for n in rep["notes"])
        # the same cap again: nothing asked (the cut-off reply is this cap's answer)
        select(tmp_path, src, out="b.jsonl", **kw)
        assert len(j.log) == 3
        # a larger cap: the one cut off is asked again, the two finished replies are not
        kept, _, rep = select(tmp_path, src, out="c.jsonl", **{**kw, "judge_max_tokens": 200})
        assert [e["messages"][-1]["content"].count("LONG") for e in j.log[3:]] == [1]
        assert sorted(r["meta"]["select"]["judge"] for r in kept) == [3.0, 6.0, 8.0]
    finally:
        j.stop()


def test_a_judge_cut_off_on_every_trace_names_judge_max_tokens(tmp_path):
    src = judged_traces(tmp_path, ["LONG Score: 8", "LONG Score: 3"])
    j = ThinkingJudge().start()
    try:
        with pytest.raises(DistillError, match="cut off at --judge-max-tokens 50.*raise it"):
            select(tmp_path, src, judge="judge", judge_base_url=j.url, judge_max_tokens=50)
    finally:
        j.stop()


def test_judge_replies_cached_under_the_keys_before_are_used(tmp_path):
    from distill.select.judge import judge_id
    from distill.templates import load_template

    replies = ["Score: 8", "Score: 3"]
    src = judged_traces(tmp_path, replies)
    j = FakeJudge().start()
    try:
        kw = dict(judge="judge", judge_base_url=j.url)
        select(tmp_path, src, **kw)
        # the cache as written before: --judge-max-tokens in the key, no cap in the record
        sha = load_template("prompts/judge.txt").sha256
        sent = {f"p{k}-0": e["messages"][-1]["content"] for k, e in enumerate(j.log)}
        cache = tmp_path / "kept.select-judge.jsonl"
        recs = []
        for r in read_records(cache):
            r["id"] = judge_id(r["trace_id"], "judge", sha, 512, sent[r["trace_id"]])
            del r["max_tokens"]
            recs.append(r)
        write(cache, recs)
        _, _, rep = select(tmp_path, src, out="b.jsonl", **kw)
        assert len(j.log) == 2 and rep["judge"]["scored"] == 2
    finally:
        j.stop()
