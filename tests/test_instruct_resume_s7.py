"""instruct reruns pay only for replies they lack (s7): a finished run rerun at another
--concurrency (the default round size), --rpm/--tpm or progress sends nothing; a killed run
resumed at another --concurrency sends only what was not yet received; magpie too. Before, a
finished one-round run rerun at a larger --concurrency sized its round 0 from the new value
before reading the replies on disk, and paid for requests it never kept."""

from __future__ import annotations

import shutil

import yaml

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


def _magpie_cfg(d, model, **kw):
    """A magpie run of the hf teacher (the counting stand-in) writing d/m.jsonl."""
    base = dict(
        teacher="hf", model=str(model), method="magpie", out=str(d / "m.jsonl"), min_words=0,
        language="any", dedup="exact", max_rouge=1.0, seed=0, batch_size=4,
    )  # fmt: skip
    return InstructConfig(**{**base, **kw})


def test_magpie_reruns_pay_only_for_what_they_lack(tmp_path, tiny_qwen, monkeypatch):
    from distill.instruct import stage

    monkeypatch.setitem(stage.TEACHERS, "hf", _CountingMagpieTeacher)
    sent = _CountingMagpieTeacher.sent
    sent.clear()

    def mcfg(d, **kw):
        return _magpie_cfg(d, tiny_qwen, **{"num_instructions": 6, **kw})

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


# --------------------------------------------------------------------------- the run's round size
# --concurrency (hf --batch-size) is a throughput setting; it sized the rounds of a fresh run by
# default, and so decided which instructions a run keeps. A killed run of several rounds resumed
# at another --concurrency was refused ("rerun with --request-batch-size N"): the rerun now goes
# on at the round size the run was made with, as an unbroken run would have, and says so.


def test_a_killed_multi_round_run_resumes_at_any_concurrency(tmp_path, tasks_server, capsys):
    whole = tmp_path / "whole"
    whole.mkdir()
    run(cfg(whole, tasks_server, num_instructions=72, concurrency=4))  # 4 rounds (of 4)
    total = len(tasks_server.log)
    assert total == 13
    out = whole / "instructions.jsonl"
    r0, r1, r2 = (_request_ids(out, k) for k in range(3))
    assert len(r0) == len(r1) == len(r2) == 4
    for concurrency in (8, 2, 3):
        killed = tmp_path / f"killed{concurrency}"  # rounds 0 and 1 written, one of round 2's
        _killed_copy(whole, killed, 48, {*r0, *r1, r2[1]})
        capsys.readouterr()
        sent = len(tasks_server.log)
        run(cfg(killed, tasks_server, num_instructions=72, concurrency=concurrency))
        assert len(tasks_server.log) - sent == total - 9, concurrency  # only the 4 missing
        assert (killed / "instructions.jsonl").read_text() == out.read_text(), concurrency
        notes = [x for x in capsys.readouterr().out.splitlines() if "rounds of 4" in x]
        assert len(notes) == 1 and f"not {concurrency}" in notes[0], notes


def test_an_old_yaml_without_the_round_size_resumes_at_its_concurrency(tmp_path, tasks_server):
    """A .instruct.yaml written before the round size was saved (request_batch_size: null, as
    a run without --request-batch-size saved it): the size the old rule gave, the saved
    --concurrency."""
    whole = tmp_path / "whole"
    whole.mkdir()
    run(cfg(whole, tasks_server, num_instructions=36, concurrency=2))  # 3 rounds of 2
    total = len(tasks_server.log)
    out = whole / "instructions.jsonl"
    r0, r1 = _request_ids(out, 0), _request_ids(out, 1)
    killed = tmp_path / "killed"
    _killed_copy(whole, killed, 24, {*r0, *r1})
    y = killed / "instructions.instruct.yaml"
    lines = y.read_text().splitlines(keepends=True)
    y.write_text(
        "".join("request_batch_size: null\n" if x.startswith("request_batch_size:") else x
                for x in lines)
    )  # fmt: skip
    assert yaml.safe_load(y.read_text())["request_batch_size"] is None
    sent = len(tasks_server.log)
    run(cfg(killed, tasks_server, num_instructions=36, concurrency=5))
    assert len(tasks_server.log) - sent == total - 4
    assert (killed / "instructions.jsonl").read_text() == out.read_text()


def test_an_explicit_other_request_batch_size_on_a_killed_run_is_refused(tmp_path, tasks_server):
    """--request-batch-size is the round size itself: another one keeps other instructions."""
    import pytest

    from distill.errors import DistillError

    whole = tmp_path / "whole"
    whole.mkdir()
    run(cfg(whole, tasks_server, num_instructions=72, concurrency=4))
    out = whole / "instructions.jsonl"
    killed = tmp_path / "killed"
    _killed_copy(whole, killed, 48, {*_request_ids(out, 0), *_request_ids(out, 1)})
    files = {p.name: p.read_text() for p in killed.iterdir()}
    sent = len(tasks_server.log)
    for kw in ({"request_batch_size": 2}, {"request_batch_size": 8, "concurrency": 8}):
        with pytest.raises(DistillError, match=r"--request-batch-size 4 -> ") as e:
            run(cfg(killed, tasks_server, num_instructions=72, **kw))
        assert "\n" not in str(e.value) and "leave out --request-batch-size" in str(e.value)
        assert len(tasks_server.log) == sent, kw
        assert {p.name: p.read_text() for p in killed.iterdir()} == files, kw
    # the same size given explicitly, at another --concurrency: goes on
    run(cfg(killed, tasks_server, num_instructions=72, concurrency=1, request_batch_size=4))
    assert (killed / "instructions.jsonl").read_text() == out.read_text()


def test_a_killed_magpie_run_resumes_at_any_batch_size(tmp_path, tiny_qwen, monkeypatch):
    from distill.instruct import stage

    monkeypatch.setitem(stage.TEACHERS, "hf", _CountingMagpieTeacher)
    sent = _CountingMagpieTeacher.sent
    sent.clear()

    def mcfg(d, **kw):
        return _magpie_cfg(d, tiny_qwen, **{"num_instructions": 12, **kw})

    whole = tmp_path / "whole"
    whole.mkdir()
    run(mcfg(whole))  # 3 rounds of 4 instructions, each answered
    total = len(sent)
    assert total == 24
    recs = records(whole / "m.jsonl")
    assert {r["lineage"]["round"] for r in recs} == {0, 1, 2}
    # the requests file in the order sent: round 0's 4 asks and 4 answers, round 1's, round 2's
    req = (whole / "m.requests.jsonl").read_text().splitlines(keepends=True)
    out = (whole / "m.jsonl").read_text().splitlines(keepends=True)
    for batch_size in (8, 2):
        killed = tmp_path / f"killed{batch_size}"  # rounds 0, 1 written, 1 ask of round 2 sent
        killed.mkdir()
        (killed / "m.jsonl").write_text("".join(out[:8]))
        (killed / "m.requests.jsonl").write_text("".join(req[:17]))
        shutil.copy(whole / "m.instruct.yaml", killed / "m.instruct.yaml")
        sent.clear()
        run(mcfg(killed, batch_size=batch_size))  # was refused: "a round 4 -> 8" ("4 -> 2")
        assert len(sent) == total - 17, batch_size
        assert (killed / "m.jsonl").read_text() == (whole / "m.jsonl").read_text(), batch_size
