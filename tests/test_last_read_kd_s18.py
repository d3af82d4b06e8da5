# ruff: noqa: F811 - the fixtures of tests/test_kd, test_kd2_s17 and test_kd_multi_s18, imported
"""Last read of 6530740 / ea19bb0 (kd: teacher_end_of_turn, the resume check, the counts),
64410d0 (publish's staging folder) and 15f4bc3 (train --resume's teacher fingerprint).

    .venv/bin/python -m pytest tests/test_last_read_kd_s18.py -q -p no:xdist
"""

from __future__ import annotations

import json

import pytest

from distill.errors import DistillError
from distill.train import build_trainer, run
from tests.test_kd import first_batch, kd_cfg, teacher  # noqa: F401 (fixture)
from tests.test_kd2_s17 import math_teacher, with_template  # noqa: F401 (fixture)
from tests.test_kd_multi_s18 import eot_teacher, plain  # noqa: F401 (fixture)


def rows_of(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def _card(kw, state):
    from distill.config import read_saved
    from distill.train.config import TrainConfig
    from distill.train.kd import card_lines

    return "\n".join(card_lines(read_saved(TrainConfig, kw | {"method": "kd"}), state))


@pytest.mark.parametrize("how", ["one", "weighted"])
def test_tokens_scored_agree_in_kd_json_loss_jsonl_and_the_card(
    tmp_path, tiny_qwen, eot_teacher, plain, how
):
    out = tmp_path / "run"
    kw = dict(teacher_model=str(eot_teacher))
    if how == "weighted":
        kw = dict(teacher_model=[str(eot_teacher), str(plain)], teacher_weight=[0.6, 0.4])
    cfg = kd_cfg(tmp_path, tiny_qwen, output_dir=str(out), max_steps=1,
                 per_device_train_batch_size=8, **kw)  # fmt: skip
    trainer = build_trainer(cfg)[0]
    batch = first_batch(trainer, 8)
    completion_tokens = int((batch["labels"][:, 1:] != -100).sum())
    trainer.train()
    state = json.loads((out / "kd.json").read_text())
    logged = [r["teacher_tokens"] for r in rows_of(out / "loss.jsonl") if "teacher_tokens" in r]
    n = state["teacher_tokens_scored"]
    assert logged[-1] == n
    assert f"teacher scored in training: {n:,}." in _card(kw | {"data": cfg.data}, state)
    if how == "one":  # its own end: no term on the `\n` after each of the 8 rows' <|im_end|>
        assert n == completion_tokens - 8
    else:  # the other teacher scores those
        assert n == completion_tokens
        assert [t["tokens_scored"] for t in state["teachers"]] == [n - 8, n]


def _as_written_by(out, keep):
    """Each kd.json of the run (its own, its checkpoints') as an earlier distill wrote it:
    `keep(entry)` edits each teacher's entry in place."""
    for path in [out / "kd.json", *out.glob("checkpoint-*/kd.json")]:
        state = json.loads(path.read_text())
        for entry in state.get("teachers") or [state]:
            keep(entry)
        path.write_text(json.dumps(state))


def _no_end(entry):  # 735957c: its own end read, not recorded
    entry.pop("teacher_end_of_turn", None)


def _resumes(tmp_path, tiny_qwen, base, edit=None):
    from tests.test_kd_multi_review_s18 import _saved_at_step_1

    out = tmp_path / "run"
    state = _saved_at_step_1(kd_cfg(tmp_path, tiny_qwen, output_dir=str(out), **base))
    if edit is not None:
        _as_written_by(out, edit)
    run(kd_cfg(tmp_path, tiny_qwen, output_dir=str(out), resume=True, **base))
    assert (out / "checkpoint-2").is_dir()
    return state, json.loads((out / "kd.json").read_text())


STEPS = dict(save_steps=1, per_device_train_batch_size=2, max_steps=2)


def test_a_teacher_of_the_students_template_resumes_with_no_new_key(tmp_path, tiny_qwen, teacher):
    state, after = _resumes(tmp_path, tiny_qwen, dict(teacher_model=str(teacher), **STEPS))
    for s in (state, after):
        assert "teacher_end_of_turn" not in s and "teacher_own_prompt" not in s
    assert after["teacher_tokens_scored"] > state["teacher_tokens_scored"]


def test_a_teacher_reading_its_own_prompt_and_the_students_end_resumes(
    tmp_path, tiny_qwen, math_teacher
):
    """Its own prompt, the same end of turn: kd.json as f9195d7 wrote it (no end key)."""
    state, _ = _resumes(tmp_path, tiny_qwen, dict(teacher_model=str(math_teacher), **STEPS))
    assert "teacher_own_prompt" in state and "teacher_end_of_turn" not in state


def test_several_teachers_run_by_735957c_resume(tmp_path, tiny_qwen, eot_teacher, plain):
    """735957c (several teachers: each its own prompt, teacher_own_prompt per teacher, and its
    own end of turn) recorded no end of turn: its run reads as this distill's and resumes.
    Before: refused as read 'after its own chat template's prompt' then, 'and its own end of
    turn' now."""
    base = dict(teacher_model=[str(eot_teacher), str(plain)], **STEPS)
    state, after = _resumes(tmp_path, tiny_qwen, base, _no_end)
    assert "teacher_own_prompt" in state["teachers"][0]
    assert after["teachers"][0]["teacher_end_of_turn"]["teacher"] == "<|endoftext|>"


def test_one_teacher_run_by_735957c_with_rows_read_in_the_students_resumes(
    tmp_path, tiny_qwen, eot_teacher
):
    """One teacher: read_in_students came with 735957c, as its own end did."""
    from tests.test_kd_multi_review_s18 import with_system
    from tests.test_kd_multi_s18 import EOT, NO_SYSTEM

    strict = with_template(eot_teacher, tmp_path / "strict", NO_SYSTEM + EOT)
    base = dict(teacher_model=str(strict), data=str(with_system(tmp_path, 3)), **STEPS)
    state, _ = _resumes(tmp_path, tiny_qwen, base, _no_end)
    assert state["teacher_own_prompt"]["read_in_students"] == 3


@pytest.mark.parametrize("several", [False, True])
def test_a_run_that_read_the_students_end_is_still_refused(
    tmp_path, tiny_qwen, eot_teacher, plain, several
):
    """Before 735957c: one teacher, teacher_own_prompt without read_in_students; several, no
    teacher_own_prompt (the student's rendering, end included)."""
    from tests.test_kd_multi_review_s18 import _pre_commit, _saved_at_step_1

    names = [str(eot_teacher), str(plain)] if several else str(eot_teacher)
    base = dict(teacher_model=names, **STEPS)
    out = tmp_path / "run"
    _saved_at_step_1(kd_cfg(tmp_path, tiny_qwen, output_dir=str(out), **base))
    _pre_commit(out, several)
    with pytest.raises(DistillError, match="its own end of turn"):
        run(kd_cfg(tmp_path, tiny_qwen, output_dir=str(out), resume=True, **base))
