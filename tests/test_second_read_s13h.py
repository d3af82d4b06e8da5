"""Second read of 56d8375, 89506bc and b83f7a9: a stated letter mid-line, the verifier's limits."""

from __future__ import annotations

import dataclasses

import pytest

from distill.filter.verify import verify_choice, verify_math


@pytest.mark.parametrize(
    "answer",
    [
        "The answer is C.\nIf the answer is B. Then x < 0, which is impossible.",
        "**Answer: C**\n\nWhy not B? Suppose the answer is B. Then x would be negative.",
    ],
)
def test_a_letter_stated_in_a_supposition_after_the_answer_is_not_read(answer):
    """b83f7a9's mid-line reading took the supposed B: a right C judged wrong."""
    assert verify_math(answer, "C") == "correct"
    assert verify_choice(answer, "C") == "correct"


def test_a_supposition_clause_before_a_statement_still_states_it():
    assert verify_math("If we add them, the answer is B. Done.", "B") == "correct"
    assert verify_choice("If we add them, the answer is B. Done.", "B") == "correct"


def test_a_letter_in_math_delimiters_then_another_stated_bare_reads_the_last():
    """'$B$' then a walk-back to a bare C was a hedge (wrong) under math, C under choice."""
    answer = "The answer is $B$.\nWait, the answer is C."
    assert verify_math(answer, "C") == verify_choice(answer, "C") == "correct"
    assert verify_math(answer, "B") == "wrong"
    # both bare: already the last
    assert verify_math("The answer is B.\nWait, the answer is C.", "C") == "correct"


def _saved(cfg):
    """train.yaml of the same run written before train had the verifier's limits."""
    saved = dataclasses.asdict(cfg)
    del saved["verify_timeout"], saved["code_memory_mb"]
    return saved


def test_an_sft_student_given_filters_limits_by_distill_run_is_the_same_run(tmp_path):
    """distill run gives train filter's --verify-timeout; an sft student trained before under a
    recipe whose filter sets 10 s was 'a different run' (refused, or trained again)."""
    from distill.train import sft
    from distill.train.config import TrainConfig

    was = TrainConfig(data="k.jsonl", model="m", output_dir=str(tmp_path))
    now = dataclasses.replace(was, verify_timeout=10, code_memory_mb=1024)
    assert sft.changed_run_keys(now, _saved(was)) == []


def test_a_reward_run_under_other_limits_is_still_another_run(tmp_path):
    from distill.train import sft
    from distill.train.config import TrainConfig

    was = TrainConfig(data="k.jsonl", model="m", output_dir=str(tmp_path))
    now = dataclasses.replace(was, verify_timeout=10)
    now.gate_teacher = True  # (onpolicy's own checks need a teacher; not what is compared)
    assert sft.changed_run_keys(now, {**_saved(was), "gate_teacher": True}) == [
        "verify_timeout: 5 -> 10"
    ]
