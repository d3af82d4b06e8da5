"""instruct reruns pay only for replies they lack (s7): a finished run rerun at another
--concurrency (the default round size), --rpm/--tpm or progress sends nothing; a killed run
resumed at another --concurrency sends only what was not yet received; magpie too. Before, a
finished one-round run rerun at a larger --concurrency sized its round 0 from the new value
before reading the replies on disk, and paid for requests it never kept."""

from __future__ import annotations

import shutil

from distill.instruct import InstructConfig, run
from tests.test_instruct import cfg as instruct_cfg
from tests.test_instruct import records


def cfg(tmp_path, server, **kw):
    return instruct_cfg(tmp_path, server, **kw)


def test_a_finished_run_rerun_at_a_larger_concurrency_sends_nothing(tmp_path, tasks_server):
    out = tmp_path / "instructions.jsonl"
    run(cfg(tmp_path, tasks_server, num_instructions=12, concurrency=2))  # round 0: 2 requests
    before, sent = out.read_text(), len(tasks_server.log)
    assert sent == 2
    run(cfg(tmp_path, tasks_server, num_instructions=12, concurrency=6), progress=False)
    assert len(tasks_server.log) == sent  # was 6: 4 paid, none kept
    assert out.read_text() == before


def test_a_finished_run_rerun_at_other_harmless_settings_sends_nothing(tmp_path, tasks_server):
    """Smaller and larger --concurrency over several rounds, rate limits, a lower N: replays."""
    out = tmp_path / "instructions.jsonl"
    run(cfg(tmp_path, tasks_server, num_instructions=40, concurrency=4))  # 2 rounds
    assert len({r["lineage"]["round"] for r in records(out)}) == 2
    before, sent = out.read_text(), len(tasks_server.log)
    for kw in (
        {"concurrency": 2},  # was refused: "a round 4 -> 2"
        {"concurrency": 3},
        {"concurrency": 9, "rpm": 100000, "tpm": 10**9},
        {"concurrency": 1, "num_instructions": 7},
        {"num_instructions": 33},
    ):
        run(cfg(tmp_path, tasks_server, **{"num_instructions": 40, **kw}), progress=False)
        assert len(tasks_server.log) == sent, kw
        assert out.read_text() == before, kw


def _killed_copy(src, dst, keep_out, keep_requests):
    """dst as a run killed after writing keep_out records and the replies keep_requests."""
    dst.mkdir()
    lines = (src / "instructions.jsonl").read_text().splitlines(keepends=True)
    (dst / "instructions.jsonl").write_text("".join(lines[:keep_out]))
    req = (src / "instructions.requests.jsonl").read_text().splitlines(keepends=True)
    import json

    (dst / "instructions.requests.jsonl").write_text(
        "".join(x for x in req if json.loads(x)["id"] in keep_requests)
    )
    shutil.copy(src / "instructions.instruct.yaml", dst / "instructions.instruct.yaml")


def _request_ids(path, rnd):
    return sorted(
        {r["lineage"]["request_id"] for r in records(path) if r["lineage"]["round"] == rnd}
    )


def test_a_run_killed_in_round_1_resumed_at_a_larger_concurrency_pays_only_the_rest(
    tmp_path, tasks_server
):
    whole = tmp_path / "whole"
    whole.mkdir()
    run(cfg(whole, tasks_server, num_instructions=36, concurrency=2))  # 3 rounds of 2
    total = len(tasks_server.log)
    assert total == 6
    out = whole / "instructions.jsonl"
    r0, r1 = _request_ids(out, 0), _request_ids(out, 1)
    assert len(r0) == len(r1) == 2
    killed = tmp_path / "killed"  # round 0 written, one reply of round 1 received
    _killed_copy(whole, killed, 12, {*r0, r1[0]})
    sent = len(tasks_server.log)
    run(cfg(killed, tasks_server, num_instructions=36, concurrency=4))
    assert len(tasks_server.log) - sent == total - 3  # the round-1 reply on disk is used
    assert (killed / "instructions.jsonl").read_text() == out.read_text()


def test_a_run_killed_in_round_0_resumed_at_a_smaller_concurrency_pays_only_the_rest(
    tmp_path, tasks_server
):
    whole = tmp_path / "whole"
    whole.mkdir()
    run(cfg(whole, tasks_server, num_instructions=30, concurrency=4))
    total = len(tasks_server.log)
    out = whole / "instructions.jsonl"
    r0 = _request_ids(out, 0)
    assert len(r0) == 4
    killed = tmp_path / "killed"  # nothing written yet, 3 of round 0's 4 replies received
    _killed_copy(whole, killed, 0, {r0[0], r0[1], r0[3]})
    sent = len(tasks_server.log)
    run(cfg(killed, tasks_server, num_instructions=30, concurrency=2))
    assert len(tasks_server.log) - sent == total - 3
    assert (killed / "instructions.jsonl").read_text() == out.read_text()
    # a larger N after that buys only the difference: what a fresh run at that N sends more
    sent = len(tasks_server.log)
    run(cfg(killed, tasks_server, num_instructions=60, concurrency=4))
    more = len(tasks_server.log) - sent
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    sent = len(tasks_server.log)
    run(cfg(fresh, tasks_server, num_instructions=60, concurrency=4))
    assert len(tasks_server.log) - sent == total + more
    assert (fresh / "instructions.jsonl").read_text() == (killed / "instructions.jsonl").read_text()


class _CountingMagpieTeacher:
    """Stands in for the hf teacher: each instruction is a function of its request id."""

    sent: list[str] = []

    def __init__(self, cfg):
        self.cfg = cfg

    def run(self, jobs, sink):
        from distill.teachers import Completion

        words = ["river", "prime", "poem", "budget", "verb", "orbit", "recipe", "tax"]
        for job in jobs:
            rid, kind = job.payload
            self.sent.append(kind)
            h = int(rid, 16)
            text = "Explain " + " ".join(words[(h >> (3 * k)) % 8] for k in range(8)) + "."
            if kind != "magpie-instruction":
                text = "An answer."
            sink.done(job, job.samples[0], Completion(text=text, finish_reason="stop"))


def test_magpie_reruns_pay_only_for_what_they_lack(tmp_path, tiny_qwen, monkeypatch):
    from distill.instruct import stage

    monkeypatch.setitem(stage.TEACHERS, "hf", _CountingMagpieTeacher)
    sent = _CountingMagpieTeacher.sent
    sent.clear()

    def mcfg(d, **kw):
        base = dict(
            teacher="hf", model=str(tiny_qwen), method="magpie", out=str(d / "m.jsonl"),
            min_words=0, language="any", dedup="exact", max_rouge=1.0, seed=0, batch_size=4,
            num_instructions=6,
        )  # fmt: skip
        return InstructConfig(**{**base, **kw})

    run(mcfg(tmp_path))  # rounds of 4 (--batch-size): 4 + 2 instructions, 6 answers
    first = len(sent)
    before = (tmp_path / "m.jsonl").read_text()
    assert len(records(tmp_path / "m.jsonl")) == 6
    for kw in ({"batch_size": 8}, {"batch_size": 2}, {"num_instructions": 3}):
        run(mcfg(tmp_path, **kw), progress=False)  # was refused (a round 4 -> 8, 4 -> 2)
        assert len(sent) == first, kw
        assert (tmp_path / "m.jsonl").read_text() == before
    run(mcfg(tmp_path, num_instructions=10))
    more = len(sent) - first
    assert more == 8  # 4 instructions, 4 answers
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    sent.clear()
    run(mcfg(fresh, num_instructions=10))
    assert len(sent) == first + more
    assert (fresh / "m.jsonl").read_text() == (tmp_path / "m.jsonl").read_text()
