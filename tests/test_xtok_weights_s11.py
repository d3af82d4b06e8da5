# ruff: noqa: F811 - the fixtures of the xtok and kd tests, imported, are parameters here
"""A row whose every assistant turn has weight 0 (ShareGPT OpenHermes/SlimOrca, OpenAI's format)
has nothing to train: SFT leaves it out and counts it; kd and onpolicy of a teacher of another
tokenizer (live, served, stored top-K), stored top-K of the same vocabulary and several teachers
left nothing of the run but "nothing to train: drop the row". They leave it out too, and
train_data.json, the train line and the card count it as such, not as a row too long.

    .venv/bin/python -m pytest tests/test_xtok_weights_s11.py -q
"""

from __future__ import annotations

import json

import pytest

from distill.train import build_trainer
from tests.test_kd import kd_cfg, teacher, write_stored_logprobs  # noqa: F401 (fixture)
from tests.test_train import kept_file
from tests.test_xtok import other_teacher, two_toks  # noqa: F401 (fixtures)
from tests.test_xtok_served import big_tok, served, served_cfg  # noqa: F401 (fixtures)
from tests.test_xtok_stored import stored_from, teacher_dir  # noqa: F401 (fixture)

# every gpt turn of weight 0 (OpenHermes-2.5's layout): nothing to train
UNTRAINED = {
    "conversations": [
        {"from": "human", "value": "What is 2 + 2?", "weight": 0.0},
        {"from": "gpt", "value": "It is 4.", "weight": 0.0},
    ]
}
# two trained turns: SFT trains both, a kd teacher's rendering the last (kd recounts)
CHAT = {
    "messages": [
        {"role": "user", "content": "What is 3 + 5?"},
        {"role": "assistant", "content": "The answer is 8."},
        {"role": "user", "content": "And doubled?"},
        {"role": "assistant", "content": "Doubled: 16."},
    ]
}


def with_rows(data, *rows):
    with open(data, "a") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    return data


def counted(tmp_path, n_kept):
    got = json.loads((tmp_path / "out" / "train_data.json").read_text())
    assert got["examples"] == n_kept + 1 and got["kept"] == n_kept
    assert (got["dropped_overlong"], got["dropped_all_masked"], got["all_masked_weight_0"]) == (
        0,
        1,
        1,
    )
    return got


@pytest.mark.parametrize("method", ["kd", "onpolicy"])
def test_a_teacher_of_another_tokenizer_leaves_out_a_row_of_weight_0_and_counts_it(
    tmp_path, tiny_qwen, other_teacher, method, capsys
):
    data = with_rows(kept_file(tmp_path, n=3), UNTRAINED, CHAT)
    kw = {"max_new_tokens": 8} if method == "onpolicy" else {}
    cfg = kd_cfg(tmp_path, tiny_qwen, data=str(data), teacher_model=str(other_teacher), **kw)
    trainer = build_trainer(cfg)[0]
    assert len(trainer.train_dataset) == 4 and all(
        any(m) for m in trainer.train_dataset["completion_mask"]
    )
    counted(tmp_path, 4)
    out = capsys.readouterr().out
    assert "1 with every assistant turn of weight 0" in out
    if method == "kd":  # the last turn of the chat alone: kd's recount, not one row "too long"
        assert (
            "(0 left out as longer than 128 tokens, 1 with every assistant turn of weight 0" in out
        )


def test_several_teachers_one_of_another_tokenizer_leave_out_a_row_of_weight_0(
    tmp_path, tiny_qwen, other_teacher, teacher
):
    data = with_rows(kept_file(tmp_path, n=3), UNTRAINED)
    cfg = kd_cfg(
        tmp_path, tiny_qwen, data=str(data), teacher_model=[str(other_teacher), str(teacher)]
    )
    trainer = build_trainer(cfg)[0]
    assert len(trainer.train_dataset) == 3
    counted(tmp_path, 3)


def test_a_served_teacher_of_another_tokenizer_leaves_out_a_row_of_weight_0(
    tmp_path, tiny_qwen, served
):
    srv, path = served
    data = with_rows(kept_file(tmp_path, n=3), UNTRAINED, CHAT)
    trainer = build_trainer(served_cfg(tmp_path, tiny_qwen, srv, path, data=str(data)))[0]
    assert len(trainer.train_dataset) == 4
    assert sum(len(r["prompts"]) for r in srv.log if isinstance(r["prompts"][0], str)) >= 4
    counted(tmp_path, 4)


def test_stored_topk_of_another_tokenizer_leaves_out_a_row_of_weight_0(
    tmp_path, tiny_qwen, teacher_dir
):
    # the row has no side file: nothing of it was generated, and nothing is read
    data = with_rows(stored_from(tmp_path, teacher_dir, k=4), UNTRAINED)
    trainer = build_trainer(kd_cfg(tmp_path, tiny_qwen, data=str(data)))[0]
    assert type(trainer.teacher).__name__ == "TopKXTok" and len(trainer.train_dataset) == 8
    counted(tmp_path, 8)


def test_stored_topk_of_the_same_vocabulary_leaves_out_a_row_of_weight_0(
    tmp_path, tiny_qwen, teacher
):
    data = with_rows(write_stored_logprobs(tmp_path, teacher, k=4), UNTRAINED)
    trainer = build_trainer(kd_cfg(tmp_path, tiny_qwen, data=str(data)))[0]
    assert trainer.teacher is None and len(trainer.train_dataset) == 8
    counted(tmp_path, 8)


def test_the_card_tells_rows_of_weight_0_from_those_truncation_emptied(tmp_path):
    from distill.publish import PublishConfig, build_card
    from tests.test_publish import run_folder

    student = run_folder(tmp_path)
    td = {"examples": 10, "kept": 7, "dropped_overlong": 0, "dropped_all_masked": 3,
          "all_masked_weight_0": 1, "truncated": 2, "completion_tokens": 99, "turns": 7,
          "sequences": 7}  # fmt: skip
    (student / "train_data.json").write_text(json.dumps(td))
    card = str(build_card(student, student, PublishConfig(dir=str(student), local_dir="x")))
    assert (
        "Examples: 7 trained on (0 dropped as too long, 2 dropped with no completion left after "
        "truncation, 1 left out with every assistant turn of weight 0, 2 truncated)" in card
    )
