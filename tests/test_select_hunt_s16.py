"""select, hunted for wrong numbers (session 16)."""

import pytest

from distill.select.judge import parse_score


@pytest.mark.parametrize(
    "reply, score",
    [("8", 8.0), ("**8**", 8.0), ("10", 10.0), ("1", 1.0), ("10.", 10.0), (" **7** \n", 7.0)],
)
def test_a_judge_that_replies_with_the_score_alone_is_scored_not_dropped(reply, score):
    """A judge asked for the number only writes "8" or "**8**": it was judge_no_score (the trace
    rejected, judge.malformed counted); "10" is ten, never one."""
    assert parse_score(reply)[0] == score


@pytest.mark.parametrize("reply", ["0", "11", "100", "-3"])
def test_a_bare_number_outside_one_to_ten_is_still_no_score(reply):
    assert parse_score(reply)[0] is None


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_every_prompts_first_trace_is_drawn_before_any_prompts_second(tmp_path, seed):
    """--by meta.d: group A is one prompt with three traces, group B three prompts with one. The
    round-robin went over each group's whole list, so --budget 3 spent two of three on A's one
    prompt (a-0, b1-0, a-1: two of B's prompts got nothing), against the README's "every
    prompt's best trace before any prompt's second"."""
    from tests.test_select import select, trace, write

    recs = [trace("a", "What is a?", s, meta={"d": "A"}) for s in range(3)]
    recs += [trace(f"b{k}", f"What is b{k}?", meta={"d": "B"}) for k in (1, 2, 3)]
    src = write(tmp_path / "kept.jsonl", recs)
    kept, _, _ = select(tmp_path, src, budget=3, by="meta.d", seed=seed)
    pids = [r["prompt_id"] for r in kept]
    assert len(pids) == 3 and len(set(pids)) == 3, pids
    kept, _, _ = select(tmp_path, src, budget=5, by="meta.d", seed=seed, out="five.jsonl")
    pids = sorted(r["prompt_id"] for r in kept)
    assert pids == ["a", "a", "b1", "b2", "b3"]  # then the second of a prompt, A's turn again
