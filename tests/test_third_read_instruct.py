"""A third read of `distill instruct`: resume under --seed, a user's file at --out, a rerun with
other settings on the same --out, magpie's cut answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distill.errors import DistillError
from distill.instruct import InstructConfig, run
from tests.fakeserver import FakeServer


def records(path):
    return [json.loads(x) for x in Path(path).read_text().splitlines() if x.strip()]


@pytest.fixture
def tasks_server():
    s = FakeServer(style="tasks", model="m").start()
    yield s
    s.stop()


def cfg(tmp_path, server, **kw):
    base = dict(
        teacher="openai",
        model="m",
        base_url=server.url,
        num_instructions=20,
        out=str(tmp_path / "instructions.jsonl"),
        concurrency=2,
        max_retries=0,
    )
    return InstructConfig(**{**base, **kw})


def magpie(tmp_path, model, **kw):
    base = dict(
        teacher="hf", model=str(model), method="magpie", num_instructions=4,
        out=str(tmp_path / "m.jsonl"), max_tokens=4, instruction_max_tokens=12,
        min_words=0, language="any", dedup="exact", max_rouge=1.0, batch_size=2,
        request_batch_size=4, seed=0, temperature=1.0, stall_rounds=1,
    )  # fmt: skip
    return InstructConfig(**{**base, **kw})


def test_magpie_resumed_mid_round_under_a_seed_draws_new_instructions(tmp_path, tiny_qwen):
    """Every magpie request of a round is the same prompt as sample 0: the teacher's seed of a
    batch came from its rows and how many batches of those rows this call drew, so a rerun that
    asks only the rest of a killed round drew the first batch's numbers again: copies of the
    instructions on disk (paid, then dropped as duplicates), not the unbroken run's."""
    whole = tmp_path / "whole"
    run(magpie(whole, tiny_qwen, num_instructions=100, max_rouge=1.0, stall_rounds=1))
    asks = [r for r in records(whole / "m.requests.jsonl") if r["kind"] == "magpie-instruction"]
    first_round = [r["text"] for r in asks[:4]]
    # A run killed after the round's first batch of 2: only those replies are on disk.
    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / "m.requests.jsonl").write_text("".join(json.dumps(r) + "\n" for r in asks[:2]))
    run(magpie(cut, tiny_qwen, num_instructions=100, max_rouge=1.0, stall_rounds=1))
    again = [r for r in records(cut / "m.requests.jsonl") if r["kind"] == "magpie-instruction"]
    assert [r["text"] for r in again[:4]] == first_round


def test_a_users_own_file_at_out_is_refused_not_appended_to(tmp_path, tasks_server):
    own = tmp_path / "alpaca_data.jsonl"
    for text in (
        '{"instruction": "Give three tips for staying healthy.", "input": "", "output": "Eat."}\n',
        '{"id": 7, "instruction": "Give three tips for staying healthy.", "input": "", "output": "Eat."}\n',
    ):  # fmt: skip
        own.write_text(text)
        with pytest.raises(DistillError, match=r"alpaca_data.jsonl: record 1 .*--out"):
            run(cfg(tmp_path, tasks_server, out=str(own), num_instructions=4))
        assert own.read_text() == text and not tasks_server.log
        assert not (tmp_path / "alpaca_data.instruct.yaml").exists()
