"""A second read of 4131a10, c06209c and f9195d7 (kd/onpolicy: what each side reads).

- --reward (and --gate-teacher's references) read a multiple-choice set's layout from its first
  row alone: MedMCQA's release JSON (lighteval/med_mcqa, cop 1-4) then refused every row whose
  cop is 1-3 ("MedMCQA's copies count it ..."), though training (load_examples) reads the same
  rows settled by the rows after them. The references now take the layout as load_examples.
- A served teacher of another tokenizer is asked `add_special_tokens: false` for a rendered chat
  (its template writes BOS): a server that ignores the field (SGLang's completions endpoint has
  none) still put its BOS before the text, and the teacher scored after two BOS tokens while
  the tokens' texts placed the text after them (ServedTeacher.score_text dropped the extra one
  from what it returned, silently). It is refused in one line now.
- (a guard, no change) f9195d7's teacher_pos: a batch whose rows' prompts differ from the
  teacher's by different lengths, completions cut at --max-length, loses no alignment.
"""

from __future__ import annotations

import json

import pytest

from tests.test_kd import teacher  # noqa: F401 - the fixture, a parameter here

MEDMCQA = {
    "question": "Chronic urethral obstruction can lead to which change in kidney parenchyma?",
    "exp": "progressive atrophy of the kidney",
    "cop": 3,
    "opa": "Hyperplasia",
    "opb": "Hyperophy",
    "opc": "Atrophy",
    "opd": "Dyplasia",
    "id": "1",
}
SECOND = {"question": "Which vitamin is fat soluble?", "opa": "B1", "opb": "C", "opc": "B12",
          "opd": "K", "cop": 4, "id": "2"}  # fmt: skip


def _refs(tmp_path, tiny_qwen, rows, **kw):
    from transformers import AutoTokenizer

    from distill.train.config import TrainConfig
    from distill.train.kd import reward

    data = tmp_path / "medmcqa.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = TrainConfig(
        data=str(data), model=str(tiny_qwen), output_dir=str(tmp_path / "o"), method="onpolicy",
        teacher_model=str(tiny_qwen), max_length=512, prompt_field="question",
        answer_field="cop", reward="math", **kw,
    )  # fmt: skip
    tok = AutoTokenizer.from_pretrained(tiny_qwen)
    return reward._references(cfg, tok, tok.eos_token_id)


def test_reward_golds_of_medmcqa_release_read_as_training_reads_them(tmp_path, tiny_qwen):
    # cop 1-4 (the release's JSON): the second row's 4 settles it; cop 3 is C (Atrophy)
    refs = _refs(tmp_path, tiny_qwen, [MEDMCQA, {**MEDMCQA, **SECOND}])
    assert sorted(r["gold"] for r in refs.values()) == ["C", "D"]
    # --limit 1: the rows past it still settle the count, as load_examples reads them
    (ref,) = _refs(tmp_path, tiny_qwen, [MEDMCQA, {**MEDMCQA, **SECOND}], limit=1).values()
    assert ref["gold"] == "C"
    # openlifescienceai/medmcqa counts from 0: its cop 2 is C too
    rows = [{**MEDMCQA, "cop": 2}, {**MEDMCQA, **SECOND, "cop": 0}]
    assert sorted(r["gold"] for r in _refs(tmp_path, tiny_qwen, rows).values()) == ["A", "C"]


def test_a_served_teacher_that_adds_bos_though_asked_not_to_is_refused(
    tmp_path, tiny_qwen, tiny_llama
):
    from distill.errors import DistillError
    from distill.train import build_trainer
    from tests.test_kd import kd_cfg
    from tests.xtokserver import TextScoringServer

    # tiny_llama's template writes <|begin_of_text|>, its tokenizer adds it too when asked
    srv = TextScoringServer(str(tiny_llama), str(tiny_llama), honours_special=False).start()
    try:
        cfg = kd_cfg(tmp_path, tiny_qwen, teacher_url=srv.url, teacher_model=str(tiny_llama))
        with pytest.raises(DistillError, match=r"though asked add_special_tokens false"):
            build_trainer(cfg)
    finally:
        srv.stop()
    # (refused at the build's first text: a BOS it was not asked for)
    assert srv.scored_ids and srv.scored_ids[0][0] == srv.tok.bos_token_id


# a teacher of the student's vocabulary whose system prompt repeats the question 1-3 times: its
# prompt differs from the student's by another length in each row
ECHO = (
    "{% if messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nRepeat: ' + "
    "messages[0]['content'] * (messages[0]['content'] | length % 3 + 1) + '<|im_end|>\\n' }}"
    "{% endif %}"
)


def test_own_prompts_of_other_lengths_in_one_batch_cut_at_max_length_stay_aligned(
    tmp_path,
    tiny_qwen,
    teacher,  # noqa: F811
):
    """Each row's KL takes the teacher's logits at its own row's position predicting the same
    token, whatever its prompt's length difference and where --overlong truncate cut it."""
    from distill.train import build_trainer
    from tests.test_kd import first_batch, kd_cfg, loss_of
    from tests.test_kd2_s17 import completion, hand_loss, own_ids, with_template
    from tests.tiny import CHATML

    t_dir = with_template(teacher, tmp_path / "echo", ECHO + CHATML)
    cfg = kd_cfg(tmp_path, tiny_qwen, teacher_model=str(t_dir), kd_alpha=1.0, max_length=30,
                 overlong="truncate")  # fmt: skip
    trainer = build_trainer(cfg)[0]
    batch = first_batch(trainer, 8)
    rows = [json.loads(x) for x in (tmp_path / "kept.jsonl").read_text().splitlines()]
    mine, shifts = [], set()
    for i in range(8):
        at, c = completion(batch, i)
        own = own_ids(t_dir, rows[i]["messages"])
        mine.append(own + c)
        shifts.add(len(own) - int(at[0]))
    assert len(shifts) > 1 and batch["input_ids"].shape[1] == 30  # other lengths; cut
    assert loss_of(trainer, batch) == pytest.approx(hand_loss(trainer, batch, mine), rel=1e-4)
