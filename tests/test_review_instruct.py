"""A second read of `distill instruct`: the parser against Alpaca's, magpie rounds under --seed."""

from __future__ import annotations

import json
from pathlib import Path

from distill.instruct import InstructConfig, parse_tasks, run


def test_an_outputs_own_unnumbered_output_line_is_its_text_not_a_second_field():
    # A coding task's answer shows an example "Input: ... / Output: ..."; the item's fields
    # are the numbered ones (Alpaca splits on "N. Output:"), so the item is well formed.
    reply = (
        "4. Instruction: Write a Python function that sums a list, with one example.\n"
        "4. Input:\n<noinput>\n"
        "4. Output:\ndef total(xs):\n    return sum(xs)\n\nExample:\nInput: [1, 2]\nOutput: 3\n"
        "###\n"
        "5. Instruction: Name a fruit.\nInput: <noinput>\nOutput: Apple\n"  # unnumbered fields
    )
    tasks, counts = parse_tasks(reply, 4)
    assert not counts
    assert tasks[0]["instruction"].startswith("Write a Python function")
    assert tasks[0]["input"] == ""
    assert tasks[0]["output"].endswith("Input: [1, 2]\nOutput: 3")
    assert tasks[1] == {"instruction": "Name a fruit.", "input": "", "output": "Apple"}


def test_magpie_with_a_seed_writes_new_instructions_each_round(tmp_path, tiny_qwen):
    # Every magpie request is the same prompt; with --seed the hf teacher reseeds each call,
    # so each round must get its own seed or it repeats round 0's instructions forever.
    c = InstructConfig(
        teacher="hf", model=str(tiny_qwen), method="magpie", num_instructions=6,
        out=str(tmp_path / "m.jsonl"), max_tokens=4, instruction_max_tokens=12,
        min_words=0, language="any", dedup="exact", max_rouge=1.0, batch_size=2, seed=0,
        temperature=1.0, stall_rounds=2,
    )  # fmt: skip
    run(c)
    reqs = [json.loads(x) for x in Path(tmp_path / "m.requests.jsonl").read_text().splitlines()]
    asks = [r["text"] for r in reqs if r["kind"] == "magpie-instruction"]
    assert len(asks) >= 4
    assert asks[:2] != asks[2:4]
    # and a rerun replays the same rounds from disk (deterministic, nothing sent)
    before = (tmp_path / "m.requests.jsonl").read_text()
    run(c)
    assert (tmp_path / "m.requests.jsonl").read_text() == before


def test_a_reply_cut_after_a_tasks_closing_separator_keeps_that_task():
    # max_tokens ran out after "###" (the next task had not begun): the task before the
    # separator is whole. Alpaca splits on ### and drops only the part after the last one.
    head = "4. Instruction: Name a color.\n4. Input:\n<noinput>\n4. Output:\nRed\n###\n"
    last = "5. Instruction: Name a fruit.\n5. Output:\nApple\n###\n"
    tasks, counts = parse_tasks(head + last + "6.", 4, finish_reason="length")
    assert [t["output"] for t in tasks] == ["Red", "Apple"]
    assert counts == {"truncated": 1}
    tasks, counts = parse_tasks(head + last, 4, finish_reason="length")
    assert [t["output"] for t in tasks] == ["Red", "Apple"] and not counts
    # cut inside a task: that task is dropped, as before
    tasks, counts = parse_tasks(head + last[:30], 4, finish_reason="length")
    assert [t["output"] for t in tasks] == ["Red"] and counts == {"truncated": 1}
