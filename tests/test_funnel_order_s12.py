"""The filter report's first failures in the order the filter applies its steps, also for the
steps that look only at the traces still left (response dedup, selection): their traces carry
no earlier reason, so the order cannot be read off the traces' reason lists."""

from __future__ import annotations

from tests.test_filter import filt, trace


def test_dedup_and_selection_are_listed_after_the_answer_check_whatever_their_counts(tmp_path):
    """bd718b4 ordered rows by the reasons traces share: a duplicate is looked for among the
    traces that passed the answer check only, so it never shares one, and 5 duplicates were
    listed before 2 wrong answers (the card: '5 left' after dedup, where 3 were)."""
    recs = [trace(prompt=f"What is {i} + 2?", answer="\\boxed{0}", gold=str(i + 2)) for i in (1, 2)]
    recs += [trace(prompt="What is 2 + 2?") for _ in range(6)]  # 1 kept, 5 copies
    recs += [trace(prompt="What is 3 + 3?", answer=f"\\boxed{{6}} ({i})", gold="6")
             for i in range(5)]  # fmt: skip  # 5 distinct correct: 2 kept, 3 over the cap
    _, _, report = filt(tmp_path, recs, verify="math", dedup="exact", max_per_prompt=2)
    assert report["total"] == 13 and report["kept"] == 3
    assert list(report["reject_reasons"].items()) == [
        ("wrong_answer", 2),
        ("duplicate", 5),
        ("selection", 3),
    ]


def test_a_check_is_listed_before_the_answer_check_and_exact_dedup_before_near(tmp_path):
    """The checks run before verify: 1 truncated trace (its answer right) goes before 3 wrong
    answers it shares no trace with; exact copies go before near copies (near dedup looks at
    the traces exact dedup left)."""
    long = "Adding the two numbers step by step, carefully, one digit at a time, gives us"
    recs = [trace(prompt="What is 1 + 1?", answer="\\boxed{2}", gold="2", finish="length")]
    recs += [trace(prompt=f"What is {i} + 5?", answer="\\boxed{0}", gold=str(i + 5))
             for i in range(3)]  # fmt: skip
    recs += [trace(prompt="What is 2 + 2?", reasoning=long) for _ in range(2)]  # 1 exact copy
    recs += [trace(prompt="What is 2 + 2?", reasoning=f"{long} {w}") for w in ("it", "so", "ok")]
    _, _, report = filt(tmp_path, recs, verify="math", dedup="near", dedup_threshold=0.5)
    reasons = report["reject_reasons"]
    assert list(reasons) == ["truncated", "wrong_answer", "duplicate", "near_duplicate"], reasons
    assert reasons["near_duplicate"] >= 2 and reasons["duplicate"] == 1
