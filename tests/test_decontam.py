"""distill/filter/decontam.py: word n-gram overlap between training prompts and benchmarks.

The reject reason and report counts it gives `distill filter` are tested in tests/test_filter.py.
"""

from __future__ import annotations

import json

from distill.filter.decontam import Decontaminator, ngrams

PROBLEM = (
    "Find the number of ordered pairs of positive integers (a, b) whose product is one hundred."
)


def bench(tmp_path, name, problems):
    p = tmp_path / f"{name}.jsonl"
    p.write_text("".join(json.dumps({"problem": q, "answer": "9"}) + "\n" for q in problems))
    return str(p)


def test_ngrams_are_case_and_punctuation_blind_word_windows():
    assert ngrams("A b, C!", 2) == ngrams("a B c", 2)
    assert len(ngrams("one two three four", 2)) == 3
    # Shorter than n: the whole text is its one n-gram; no words, no n-grams.
    assert ngrams("two words", 8) == ngrams("Two, words!", 8) and len(ngrams("two words", 8)) == 1
    assert ngrams("?!", 8) == set()


def test_a_prompt_sharing_eight_words_in_a_row_with_a_problem_is_dropped(tmp_path):
    d = Decontaminator([bench(tmp_path, "math500", [PROBLEM])])
    assert d.hit(PROBLEM + "\nPlease reason step by step.") == "math500"
    # Rephrased around a run of 8 of its words (case and punctuation aside): still caught.
    assert d.hit("Question: NUMBER of ordered pairs of positive integers (a,b) - how many?") == (
        "math500"
    )
    assert d.hit("What is 2 + 2?") is None


def test_a_shorter_overlap_is_not_contamination(tmp_path):
    d = Decontaminator([bench(tmp_path, "math500", [PROBLEM])])
    seven = "Count the ordered pairs of positive integers (a, b) with a sum of ten."
    assert d.hit(seven) is None  # "ordered pairs of positive integers a b" is 7 words
    assert Decontaminator([bench(tmp_path, "m", [PROBLEM])], n=7).hit(seven) == "m"


def test_a_short_benchmark_problem_matches_only_a_prompt_that_is_that_problem(tmp_path):
    d = Decontaminator([bench(tmp_path, "tiny", ["What is 2 + 2?"])])
    assert d.hit("what is 2+2") == "tiny"
    assert d.hit("What is 2 + 3?") is None


def test_each_source_is_named_and_the_first_one_listed_wins_a_shared_problem(tmp_path):
    other = "A train leaves the station at noon travelling at sixty miles per hour east."
    a = bench(tmp_path, "aime", [PROBLEM])
    b = bench(tmp_path, "gsm", [other, PROBLEM])
    d = Decontaminator([a, b])
    assert d.hit(other) == "gsm" and d.hit(PROBLEM) == "aime"
    assert Decontaminator([b, a]).hit(PROBLEM) == "gsm"
