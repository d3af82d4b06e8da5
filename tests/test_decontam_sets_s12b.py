"""--decontam against benchmark files as they are published: AIME 2024's `Problem`, GPQA's
`Question`, ids repeated across merged sets, and LaTeX written another way."""

from __future__ import annotations

import json

import pytest

from distill.errors import DistillError
from distill.filter.decontam import Decontaminator

AIME = "Every morning Aya goes for a 9 kilometer long walk and stops at a coffee shop afterwards."
GPQA = "A spin-half particle is in a linear superposition of its spin-up and spin-down states."


def write(tmp_path, name, rows):
    p = tmp_path / name
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(p)


def test_a_benchmark_whose_problem_column_is_capitalised_is_read(tmp_path):
    # Maxwell-Jia/AIME_2024 names it `Problem`, Idavidrein/gpqa `Question`: refused before with
    # "pass --prompt-field", a flag `distill filter` does not have.
    aime = write(tmp_path, "aime24.jsonl", [{"ID": "2024-I-1", "Problem": AIME, "Answer": "204"}])
    gpqa = write(tmp_path, "gpqa.jsonl", [{"Question": GPQA, "Correct Answer": "-0.7"}])
    d = Decontaminator([aime, gpqa])
    assert d.hit(AIME) == "aime24"
    assert d.hit("Solve: " + GPQA) == "gpqa"
    assert d.hit("What is 2 + 2?") is None


def test_a_benchmark_with_no_problem_column_is_one_line_naming_its_columns(tmp_path):
    bad = write(tmp_path, "odd.jsonl", [{"text_body": AIME}])
    with pytest.raises(DistillError) as e:
        Decontaminator([bad])
    assert "odd.jsonl" in str(e.value) and "text_body" in str(e.value)
    assert "--prompt-field" not in str(e.value)


def test_ids_repeated_across_a_merged_benchmark_are_no_reason_to_refuse(tmp_path):
    # aime24.jsonl + aime25.jsonl concatenated, each numbered from 0: the ids mean nothing here.
    other = "Find the number of triples of nonnegative integers a b c with a plus b plus c 300."
    merged = write(
        tmp_path,
        "aime.jsonl",
        [{"id": 0, "problem": AIME, "answer": "204"}, {"id": 0, "problem": other, "answer": "601"}],
    )
    d = Decontaminator([merged])
    assert d.hit(AIME) == "aime" and d.hit(other) == "aime"


def test_latex_spelled_another_way_is_the_same_problem(tmp_path):
    # MATH-500's short problems (fewer than 8 words: matched whole) as a training set copies
    # them with \binom for \dbinom, \frac for \dfrac, no \left( \right) and a_5 for a_{5}.
    problems = [
        r"Compute $\dbinom{31}{28}$.",
        r"Simplify $\left(\dfrac{3}{4}\right)^{2}$.",
        r"Evaluate $a_{5}$ for $a_{n}=2n$.",
    ]
    bench = write(tmp_path, "math500.jsonl", [{"problem": q} for q in problems])
    d = Decontaminator([bench])
    assert d.hit(r"Compute $\binom{31}{28}$. Think step by step.") == "math500"
    assert d.hit(r"Simplify $(\frac{3}{4})^2$.") == "math500"
    assert d.hit(r"Evaluate $a_5$ for $a_n=2n$.") == "math500"
    # Fullwidth digits (NFKC) are the ASCII ones.
    assert d.hit("Compute $\\dbinom{３１}{２８}$.") == "math500"
    # Another problem is not.
    assert d.hit(r"Compute $\binom{31}{27}$.") is None
    assert d.hit("What is left to the right of the house?") is None


def test_a_first_row_with_a_null_problem_is_left_out_as_before(tmp_path):
    bench = write(tmp_path, "b.jsonl", [{"Problem": None}, {"Problem": AIME}])
    assert Decontaminator([bench]).hit(AIME) == "b"
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(DistillError, match="no rows"):
        Decontaminator([str(empty)])
