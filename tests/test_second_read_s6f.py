"""Second read (s6f) of instruct's rerun refusals (a9cb5a2, 6be325d): a run killed in its second
round leaves one round in --out; a rerun at a lower --concurrency (rate limits) asks fewer
requests in round 0, so the file's instructions from its later requests are never kept again,
and the run's own land beside them, never deduplicated against them."""

from __future__ import annotations

import pytest

from distill.errors import DistillError
from distill.instruct import InstructConfig, run
from tests.test_instruct import cfg as instruct_cfg
from tests.test_instruct import records


def cfg(tmp_path, server, **kw):
    """test_instruct's config at concurrency 4 (rounds of 4 requests)."""
    return instruct_cfg(tmp_path, server, **{"concurrency": 4, **kw})


def test_a_lower_request_batch_size_after_a_one_round_file_is_refused(tmp_path, tasks_server):
    out = tmp_path / "instructions.jsonl"
    run(cfg(tmp_path, tasks_server, num_instructions=20))  # round 0 of 4 requests: one round
    first = records(out)
    assert {r["lineage"]["round"] for r in first} == {0}
    assert len({r["lineage"]["request_id"] for r in first}) > 2  # from more than 2 requests
    before, sent = out.read_text(), len(tasks_server.log)
    with pytest.raises(DistillError, match=r"--request-batch-size 4 -> 2.*leave out --request"):
        run(cfg(tmp_path, tasks_server, num_instructions=40, request_batch_size=2))
    assert out.read_text() == before and len(tasks_server.log) == sent
    # a lower --concurrency goes on at the run's 4: the file's instructions are its first, once
    run(cfg(tmp_path, tasks_server, num_instructions=40, concurrency=2))
    recs = records(out)
    assert recs[:20] == first and len(recs) == len({r["id"] for r in recs}) == 40


def test_a_higher_concurrency_after_a_one_round_file_goes_on(tmp_path, tasks_server):
    """Round 0 shows the seeds only: a larger round 0 asks the file's requests and more."""
    out = tmp_path / "instructions.jsonl"
    run(cfg(tmp_path, tasks_server, num_instructions=12, concurrency=2))
    first = records(out)
    assert {r["lineage"]["round"] for r in first} == {0}
    run(cfg(tmp_path, tasks_server, num_instructions=40, concurrency=4))
    recs = records(out)
    assert recs[:12] == first and len(recs) == len({r["id"] for r in recs}) == 40


def test_the_round_size_check_reads_the_file_not_only_the_last_runs_n(tmp_path, tasks_server):
    """.instruct.yaml holds the last run's --num-instructions: after a rerun at N=1 (a note) the
    file's round 0 still came from 4 requests, and a rerun at --request-batch-size 2 would leave
    the instructions of 2 of them beside its own."""
    out = tmp_path / "instructions.jsonl"
    run(cfg(tmp_path, tasks_server, num_instructions=20))
    run(cfg(tmp_path, tasks_server, num_instructions=1))
    before = out.read_text()
    with pytest.raises(DistillError, match=r"--request-batch-size 4 -> 2.*leave out --request"):
        run(cfg(tmp_path, tasks_server, num_instructions=40, request_batch_size=2))
    assert out.read_text() == before


def test_a_killed_run_goes_on_after_flags_that_keep_the_same_instructions(tmp_path, tasks_server):
    """Rate limits and timeouts (and --concurrency beside the earlier --request-batch-size)
    decide how requests are sent, not what is kept: a killed run goes on from the file."""
    out = tmp_path / "instructions.jsonl"
    run(cfg(tmp_path, tasks_server, num_instructions=14, request_batch_size=2))  # 2 rounds
    first = records(out)
    assert len({r["lineage"]["round"] for r in first}) > 1
    harmless = dict(
        concurrency=1, request_batch_size=2, request_timeout=7.0, max_retries=3, rpm=100000,
        tpm=10**9, stall_rounds=9, include_seeds=True,
    )  # fmt: skip
    run(cfg(tmp_path, tasks_server, num_instructions=40, **harmless))
    recs = [r for r in records(out) if r["source"] != "seed"]
    assert recs[:14] == first and len(recs) == len({r["id"] for r in recs}) == 40
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    run(cfg(fresh, tasks_server, num_instructions=40, request_batch_size=2))
    assert [r["id"] for r in records(fresh / "instructions.jsonl")] == [r["id"] for r in recs]


class _FakeMagpieTeacher:
    """Stands in for the hf teacher: each instruction is a function of its request id."""

    def __init__(self, cfg):
        self.cfg = cfg

    def run(self, jobs, sink):
        from distill.teachers import Completion

        words = ["river", "prime", "poem", "budget", "verb", "orbit", "recipe", "tax"]
        for job in jobs:
            rid, kind = job.payload
            h = int(rid, 16)
            text = "Explain " + " ".join(words[(h >> (3 * k)) % 8] for k in range(6)) + "."
            if kind != "magpie-instruction":
                text = "An answer."
            sink.done(job, job.samples[0], Completion(text=text, finish_reason="stop"))


def test_a_changed_multi_line_system_prompt_is_refused_in_one_line(
    tmp_path, tiny_qwen, monkeypatch
):
    """A recipe's system prompt is often a YAML block of several lines: the refusal printed it
    as it was, old and new, across lines (and a long one whole)."""
    from distill.instruct import stage

    monkeypatch.setitem(stage.TEACHERS, "hf", _FakeMagpieTeacher)
    kw = dict(
        teacher="hf", model=str(tiny_qwen), method="magpie", out=str(tmp_path / "m.jsonl"),
        min_words=0, language="any", dedup="exact", max_rouge=1.0, request_batch_size=4,
        seed=0, stall_rounds=5,
    )  # fmt: skip
    old = "You write questions.\nEach one is about science.\n" + "Be specific. " * 60
    run(InstructConfig(num_instructions=4, system_prompt=old, **kw))
    with pytest.raises(DistillError) as e:
        run(InstructConfig(num_instructions=8, system_prompt="You write poems.\nShort.", **kw))
    msg = str(e.value)
    assert "\n" not in msg and "--system-prompt" in msg and len(msg) < 600, msg
