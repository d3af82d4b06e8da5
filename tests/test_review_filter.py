"""Review of the filter stage's core: dedup scope, decontamination of short benchmark problems,
records of other tools, which duplicate prompt survives, kept records of a re-filtered rejects
file."""

import pytest

from tests.test_filter import filt, trace


@pytest.mark.parametrize("dedup", ["exact", "near"])
def test_the_same_short_answer_to_two_different_prompts_is_no_duplicate(tmp_path, dedup):
    # A classification set: many different prompts whose right answer is the same word. Each
    # (prompt, answer) pair is its own training example; dedup dropped all but the first.
    recs = [
        trace(prompt="Classify the sentiment: I love it.", reasoning=None, answer="Positive"),
        trace(prompt="Classify the sentiment: a great film.", reasoning=None, answer="Positive"),
        trace(prompt="Classify the sentiment: a great film.", reasoning=None, answer="positive"),
    ]
    kept, rejects, report = filt(tmp_path, recs, dedup=dedup)
    assert [r["id"] for r in kept] == [recs[0]["id"], recs[1]["id"]]
    # Two samples of one prompt with the same answer still are duplicates.
    assert [(r["id"], r["reject_reason"]) for r in rejects] == [(recs[2]["id"], "duplicate")]
    assert report["kept"] + report["rejected"] == report["total"] == 3


def test_near_duplicate_samples_of_one_prompt_are_still_found(tmp_path):
    words = [f"w{i}" for i in range(200)]
    a, b = " ".join(words), " ".join(words[:199] + ["changed"])
    recs = [trace(reasoning=a, prompt="q1"), trace(reasoning=b, prompt="q1")]
    recs += [trace(reasoning=b, prompt="q2")]  # the same text for another prompt: kept
    kept, rejects, _ = filt(tmp_path, recs, dedup="near")
    assert [r["id"] for r in kept] == [recs[0]["id"], recs[2]["id"]]
    assert rejects[0]["reject_reason"] == "near_duplicate"
