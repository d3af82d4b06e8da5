# ruff: noqa: F811 - the fixtures of tests/test_kd, test_kd2_s17 and test_kd_multi_s18, imported
"""Second read of 735957c (kd/onpolicy: a teacher of the student's vocabulary with another chat
template reads its own prompt among several teachers, and its own end of turn).

1. The single-teacher card left out kd.json's read_in_students (the several-teacher card had it).
2. Routed, a teacher reading its own end of turn scores no `\\n` after the student's
   `<|im_end|>`, but the run's teacher_tokens_scored (kd.json, loss.jsonl, the card's 'Completion
   tokens the teacher scored') still counted every completion position: the teachers' shares
   did not add up to 100%. It counts the positions some teacher scored, as one teacher's run does.
3. A teacher whose template refuses every row (read in the student's, as before) still had its
   end token exchanged with the student's in its logits: a row read in the student's template
   was scored with another end of turn than the one it reads.
4. A --resume of a run begun before the teacher read its own end of turn (or, among several,
   its own prompt) went on silently with the other teacher targets: refused in one line now
   (kd.json records teacher_end_of_turn), as other teacher data is (fingerprint.py).

    .venv/bin/python -m pytest tests/test_kd_multi_review_s18.py -q -p no:xdist
"""

from __future__ import annotations

import json

import pytest

from distill.errors import DistillError
from distill.train import build_trainer, run
from tests.test_kd import first_batch, kd_cfg, loss_of, teacher  # noqa: F401 (fixture)
from tests.test_kd2_s17 import math_teacher, with_template  # noqa: F401 (fixture)
from tests.test_kd_multi_s18 import EOT, NO_SYSTEM, eot_teacher, plain  # noqa: F401 (fixture)


def rows_of(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def with_system(tmp_path, rows_with_it):
    """kept.jsonl of 8 rows, the first `rows_with_it` with a system message."""
    from tests.test_train import kept_file

    data = kept_file(tmp_path, n=8)
    rows = rows_of(data)
    for row in rows[:rows_with_it]:
        row["messages"].insert(0, {"role": "system", "content": "Be brief."})
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return data


def test_the_single_teacher_card_says_how_many_rows_were_read_in_the_students_template():
    from distill.config import read_saved
    from distill.train.config import TrainConfig
    from distill.train.kd import card_lines

    train = read_saved(TrainConfig, {"method": "kd", "teacher_model": "T"})
    state = {
        "teacher_tokens_scored": 40,
        "teacher_own_prompt": {"rows": 5, "of": 8, "read_in_students": 3},
        "teacher_end_of_turn": {"student": "<|im_end|>\n", "teacher": "<|eot|>", "paired": True},
    }
    card = "\n".join(card_lines(train, state))
    assert "(5 of 8 rows rendered otherwise than the student's)" in card
    assert (
        "3 rows its template refuses or renders in other turns were read in the student's" in card
    )
    assert "ends a turn with '<|eot|>' where the student's writes '<|im_end|>\\n'" in card
    state["teacher_own_prompt"].pop("read_in_students")
    assert "were read in the student's" not in "\n".join(card_lines(train, state))


def test_routed_teachers_tokens_scored_add_up_to_the_runs(tmp_path, tiny_qwen, eot_teacher, plain):
    """Routed: the teacher reading its own end of turn scores its rows' completions but each
    `\\n` after the student's end; the run's count is the positions some teacher scored, the
    shares add up to 1, and loss.jsonl and the card say the same count as kd.json."""
    from distill.config import read_saved
    from distill.train.config import TrainConfig
    from distill.train.kd import card_lines
    from tests.test_train import kept_file

    data = kept_file(tmp_path, n=8)
    rows = rows_of(data)
    for i, row in enumerate(rows):
        row["domain"] = i % 2  # 4 of the step's 8 rows -> the teacher ending otherwise
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    kw = dict(data=str(data), teacher_model=[str(eot_teacher), str(plain)],
              teacher_route_field="domain")  # fmt: skip
    cfg = kd_cfg(tmp_path, tiny_qwen, output_dir=str(out), max_steps=1,
                 per_device_train_batch_size=8, **kw)  # fmt: skip
    trainer = build_trainer(cfg)[0]
    batch = first_batch(trainer, 8)
    completion_tokens = int((batch["labels"][:, 1:] != -100).sum())
    trainer.train()
    state = json.loads((out / "kd.json").read_text())
    each = [t["tokens_scored"] for t in state["teachers"]]
    assert state["teacher_tokens_scored"] == sum(each) == completion_tokens - 4  # four `\n`
    assert sum(t["share"] for t in state["teachers"]) == pytest.approx(1.0, abs=1e-3)
    logged = [r["teacher_tokens"] for r in rows_of(out / "loss.jsonl") if "teacher_tokens" in r]
    assert logged[-1] == state["teacher_tokens_scored"]
    card = "\n".join(card_lines(read_saved(TrainConfig, kw | {"method": "kd"}), state))
    assert f"teacher scored in training: {sum(each):,}." in card
    assert state["teachers"][0]["teacher_end_of_turn"]["paired"] is True
    assert "its first end token compared as the student's" in card


def test_a_teacher_whose_template_refuses_every_row_keeps_the_students_end(
    tmp_path, tiny_qwen, teacher, eot_teacher
):
    """Its template ends a turn otherwise but refuses every row (a system message in each): it
    reads the student's rows, end of turn included, and scores them as the same model under the
    student's template does (no end token exchanged); kd.json records no own reading."""
    strict = with_template(eot_teacher, tmp_path / "strict", NO_SYSTEM + EOT)
    data = with_system(tmp_path, 8)
    kw = dict(data=str(data), kd_alpha=1.0)
    got = build_trainer(kd_cfg(tmp_path, tiny_qwen, teacher_model=str(strict), **kw))[0]
    assert got.teacher.end_pair is None
    assert got.own_prompts is None
    same = build_trainer(kd_cfg(tmp_path, tiny_qwen, teacher_model=str(teacher), **kw))[0]
    want = loss_of(same, first_batch(same))
    assert want > 1e-3 and loss_of(got, first_batch(got)) == pytest.approx(want, rel=1e-5)


def _saved_at_step_1(cfg):
    """`cfg`'s run of 2 steps, as if killed after its first save: checkpoint-1 its newest."""
    import shutil

    run(cfg)
    out = cfg.output_dir
    shutil.rmtree(f"{out}/checkpoint-2")
    shutil.copy(f"{out}/checkpoint-1/kd.json", f"{out}/kd.json")
    return json.loads(open(f"{out}/kd.json").read())


def _pre_commit(out, several):
    """kd.json as a distill before the teacher read its own end of turn wrote it."""
    for path in [out / "kd.json", *out.glob("checkpoint-*/kd.json")]:
        state = json.loads(path.read_text())
        for entry in state.get("teachers", []) if several else [state]:
            entry.pop("teacher_end_of_turn", None)
            if several:
                entry.pop("teacher_own_prompt", None)
        path.write_text(json.dumps(state))


@pytest.mark.parametrize("several", [False, True])
def test_a_resume_of_a_run_whose_teacher_read_otherwise_is_refused(
    tmp_path, tiny_qwen, eot_teacher, plain, several
):
    """A run saved by a distill whose teacher read the student's end of turn (among several: the
    student's rendering of the prompt) is refused in one line on --resume, naming the teacher and
    both readings; the same run as this distill saved it resumes."""
    names = [str(eot_teacher), str(plain)] if several else str(eot_teacher)
    base = dict(teacher_model=names, save_steps=1, per_device_train_batch_size=2, max_steps=2,
                data=str(with_system(tmp_path, 0)))  # fmt: skip
    ok = tmp_path / "ok"
    state = _saved_at_step_1(kd_cfg(tmp_path, tiny_qwen, output_dir=str(ok), **base))
    entry = state["teachers"][0] if several else state
    assert entry["teacher_end_of_turn"] == {
        "student": "<|im_end|>\n", "teacher": "<|endoftext|>", "paired": True,
    }  # fmt: skip
    run(kd_cfg(tmp_path, tiny_qwen, output_dir=str(ok), resume=True, **base))
    assert (ok / "checkpoint-2").is_dir()
    assert (
        json.loads((ok / "kd.json").read_text())["teacher_tokens_scored"]
        > (state["teacher_tokens_scored"])
    )

    old = tmp_path / "old"
    _saved_at_step_1(kd_cfg(tmp_path, tiny_qwen, output_dir=str(old), **base))
    _pre_commit(old, several)
    with pytest.raises(DistillError) as e:
        run(kd_cfg(tmp_path, tiny_qwen, output_dir=str(old), resume=True, **base))
    msg = str(e.value)
    assert "\n" not in msg and f"teacher '{eot_teacher}'" in msg and "--overwrite" in msg
    assert "its own end of turn ('<|endoftext|>')" in msg
    assert ("after the student's rendering in the run so far" in msg) == several
    assert not (old / "checkpoint-2").exists()


def test_a_resume_with_a_kd_json_that_is_no_json_says_so_in_one_line(tmp_path, tiny_qwen, teacher):
    out = tmp_path / "run"
    base = dict(teacher_model=str(teacher), save_steps=1, output_dir=str(out), max_steps=2)
    _saved_at_step_1(kd_cfg(tmp_path, tiny_qwen, **base))
    (out / "kd.json").write_text("{not json")
    with pytest.raises(DistillError, match=r"^--resume: .*kd\.json is no kd\.json"):
        run(kd_cfg(tmp_path, tiny_qwen, resume=True, **base))


def test_own_end_replaces_the_end_of_turn_only_at_the_completions_end():
    """`<|endoftext|>` (the teacher's end token) and `<|im_end|>\\n` (the student's end) written
    inside a completion are text the teacher reads as it is; only the completion's own end of
    turn is the teacher's, its `\\n` at no position."""
    from distill.train.kd.data import own_end

    a, b, eot, im_end, nl = 5, 6, 1, 3, 9
    c = [a, eot, im_end, nl, b, im_end, nl]
    assert own_end(c, ([im_end, nl], [eot]), True) == (
        [a, eot, im_end, nl, b, eot],
        [0, 1, 2, 3, 4, 5, -1],
    )
    # unpaired (the student's end is no stop of its): no teacher term on its end at all
    assert own_end(c, ([im_end, nl], [eot]), False)[1] == [0, 1, 2, 3, 4, -1, -1]
    # cut before its end (max_length): read as it is
    assert own_end(c[:-1], ([im_end, nl], [eot]), True) == (c[:-1], list(range(6)))


def test_a_teacher_with_more_embedding_rows_exchanges_the_end_columns_within_the_vocabulary(
    tmp_path, tiny_qwen, eot_teacher
):
    """The teacher's head wider than the student's (Qwen2.5-7B's 152,064 rows beside 0.5B's
    151,936): its end token and the student's are exchanged in its logits, then both sides are
    read over the shared vocabulary, as the hand computation does."""
    import shutil

    from transformers import AutoModelForCausalLM

    from distill.models import load_tokenizer
    from tests.test_kd2_s17 import completion
    from tests.test_kd_multi_s18 import divergences, ids_of, wanted

    wide = tmp_path / "wide"
    shutil.copytree(eot_teacher, wide)
    model = AutoModelForCausalLM.from_pretrained(wide)
    n = len(load_tokenizer(str(wide)))
    model.resize_token_embeddings(n + 64, mean_resizing=False)
    model.save_pretrained(wide)
    cfg = kd_cfg(tmp_path, tiny_qwen, teacher_model=str(wide), kd_alpha=1.0)
    trainer = build_trainer(cfg)[0]
    batch = first_batch(trainer)
    im_end, eot = ids_of(tiny_qwen, "<|im_end|>", "<|endoftext|>")
    assert trainer.teacher.end_pair == (im_end, eot)
    rows = rows_of(tmp_path / "kept.jsonl")
    mine, where = [], []
    for i in range(4):
        _, c = completion(batch, i)
        want, pos = wanted(wide, rows[i]["messages"], c, [eot])
        mine.append(want)
        where.append(pos)
    t_model = trainer.teacher.model
    assert t_model.get_output_embeddings().weight.shape[0] == n + 64
    total, count = divergences(trainer, batch, t_model, mine, where, swap=(im_end, eot))
    assert loss_of(trainer, batch) == pytest.approx(total / count, rel=1e-4)
