"""A card shows only eval.json numbers of the published weights: an eval of the base model, or
of a student folder that is no longer there, found beside DIR, is not this student's."""

from __future__ import annotations

import pytest

from distill.errors import DistillError
from tests.test_review_eval_publish import card, eval_json, student_folder


def test_an_eval_of_the_base_model_is_not_the_students(tmp_path):
    """distill eval --model Qwen/Qwen2.5-1.5B beside the student: the base's pass@1 was shown
    as the student's (a Hub name cannot be checked, but the base is never the student)."""
    student = student_folder(tmp_path / "student", base="Qwen/Qwen2.5-1.5B")
    eval_json(tmp_path / "eval.json", "Qwen/Qwen2.5-1.5B", 0.31)
    assert "0.310" not in card(student)
    with pytest.raises(DistillError, match="base model"):
        card(student, eval=str(tmp_path / "eval.json"))


def test_an_eval_of_a_student_folder_gone_since_is_not_this_ones(tmp_path):
    """runs/eval.json of runs/student2, removed since: a path that does not exist was taken
    for a served name and its numbers shown on runs/student's card."""
    student = student_folder(tmp_path / "student")
    eval_json(tmp_path / "eval.json", tmp_path / "student2", 0.52)
    assert "0.520" not in card(student)
    eval_json(tmp_path / "eval.json", "runs/r1/student2", 0.52)  # relative, from elsewhere
    assert "0.520" not in card(student)


def test_an_eval_of_this_folder_by_a_relative_path_from_another_cwd_is_kept(tmp_path, monkeypatch):
    student = student_folder(tmp_path / "runs" / "r1" / "student")
    eval_json(tmp_path / "runs" / "r1" / "eval.json", "runs/r1/student", 0.52)
    monkeypatch.chdir(student)  # runs/r1/student is not found here: still this folder
    assert "0.520" in card(student)


def test_an_eval_of_this_run_copied_from_another_machine_is_kept(tmp_path):
    """Trained and evaluated on a GPU machine, the run folder copied here to publish: eval.json
    names /gpu/home/me/runs/r1/student, not found here. 37a3811 left every such eval out."""
    student = student_folder(tmp_path / "runs" / "r1" / "student")
    eval_json(tmp_path / "runs" / "r1" / "eval.json", "/gpu/home/me/runs/r1/student", 0.52)
    assert "0.520" in card(student)
    eval_json(tmp_path / "runs" / "r1" / "eval.json", "/gpu/home/me/runs/r1/student2", 0.52)
    assert "0.520" not in card(student)
