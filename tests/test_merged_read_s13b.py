"""A last read of the session's merged change (d37eac3..1aac2db), part 2: what the commits got
wrong together.

- 593ee01 added `precision_from_step` to train.yaml, a key TrainConfig does not have:
  `make smoke-kd TEACHER=DIR` (scripts/kd_smoke.given_teacher) builds the student's config from
  its train.yaml with from_dict, which names any other key as unknown: a student resumed in
  another precision was refused as a teacher.
- 39e72ef/fa56c5b made verify_choice judge a hedge ("The answer is B. But C also works.")
  wrong, while eval's maj@k vote under --verify choice (extract_choice) still gave the hedge a
  vote for the letter it stated first: hedges carried a letter to the majority.
- daa2cd9 refused two assistant turns in a row in a chat, but a prompt/completion row whose
  prompt ends with an assistant turn was trained as the same reply to its own reply.
- the card's usage snippet (0b36c7a) sent generate's or eval's system prompt, never the one an
  on-policy student sampled after (train's own --system-prompt).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from distill.errors import DistillError
from tests import inproc


def test_a_student_resumed_in_another_precision_is_a_smoke_kd_teacher(tmp_path, monkeypatch):
    import distill.models
    import distill.train
    from distill.config import save_config
    from distill.train.config import TrainConfig
    from scripts.kd_smoke import given_teacher

    data = tmp_path / "kept.jsonl"
    data.write_text(json.dumps({"prompt": "q", "completion": "a"}) + "\n")
    student = tmp_path / "student"
    student.mkdir()
    (student / "adapter_config.json").write_text("{}")
    cfg = TrainConfig(data=str(data), model="builtin:smollm2", output_dir=str(student))
    # as sft.precision_record writes it for a bf16 run resumed where auto is fp16
    save_config(
        cfg, student / "train.yaml", {"precision": "bf16", "precision_from_step": {301: "fp16"}}
    )
    merged: list = []
    monkeypatch.setattr(distill.models, "load_tokenizer", lambda name: None)
    monkeypatch.setattr(
        distill.train,
        "merge_adapter",
        lambda c, path, tok: merged.append(c) or path / "merged",
        raising=False,
    )
    assert given_teacher(student) == student / "merged"
    assert merged[0].output_dir == str(student) and merged[0].precision == "bf16"


def test_eval_maj_at_k_gives_a_hedge_no_vote_for_its_first_letter():
    from distill.eval import score
    from distill.filter.verify import choice_key

    answers = [
        "The answer is C.",
        "The answer is B.\nBut C also works.",
        "The answer is B. Wait... option C works.",
        "The answer is B.",
    ]
    recs = [
        {"prompt_id": "p", "id": str(i), "sample": i, "answer": a, "gold": "B"}
        for i, a in enumerate(answers)
    ]
    s = score(recs, "choice")
    assert s["pass@1"] == 0.25  # the two hedges are wrong, as verify_choice judges them
    # B once, C once, B-or-C twice: the majority answer is the hedge, not B
    assert s["maj@4"] == 0.0
    assert [choice_key(a) for a in answers] == ["C", "B, C", "B, C", "B"]
    # a letter and why the others fail: one vote for it, as before
    assert choice_key("The answer is B.\nOption C fails because it ignores friction.") == "B"


@pytest.mark.parametrize("completion", ["b", [{"role": "assistant", "content": "b"}]])
def test_a_prompt_ending_with_an_assistant_turn_is_refused_as_two_turns_in_a_row(
    tmp_path, completion
):
    from distill.examples import from_row

    prompt = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    row = {"prompt": prompt, "completion": completion}
    with pytest.raises(DistillError, match=r"prompt\[1\] and the completion are two assistant"):
        from_row(row, "data.jsonl row 1")
    data = tmp_path / "data.jsonl"
    data.write_text(json.dumps(row) + "\n")
    out = tmp_path / "out.jsonl"
    res = inproc.distill("export", data, "--format", "r1", "--out", out)
    assert res.returncode == 1 and "two assistant turns in a row" in res.stderr, res.stderr
    assert not out.exists()
    # a prompt that ends with the request, as before
    row["prompt"] = [*prompt, {"role": "user", "content": "and now?"}]
    assert from_row(row, "data.jsonl row 1").completion == "b"


def test_the_cards_snippet_sends_the_system_prompt_an_on_policy_student_sampled_after(tmp_path):
    from distill.publish import PublishConfig, build_card

    system = "Answer in one line."
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"problem": "1 + 1", "answer": "2"}) + "\n")
    student = Path(tmp_path / "student")
    student.mkdir()
    (student / "adapter_config.json").write_text("{}")
    train = {"data": str(prompts), "model": "Qwen/Qwen2.5-0.5B-Instruct", "method": "onpolicy",
             "system_prompt": system, "lmbda": 1.0}  # fmt: skip
    (student / "train.yaml").write_text(yaml.safe_dump(train))
    card = str(build_card(student, student, PublishConfig(dir=str(student), local_dir="x")))
    use = next(ln for ln in card.splitlines() if "apply_chat_template" in ln)
    assert '{"role": "system", "content": ' + json.dumps(system) + "}" in use, use
