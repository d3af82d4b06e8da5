"""A second read of eval and publish: the card's eval table is the published student's, and its
loading snippet names a base model that loads."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from distill.errors import DistillError
from distill.eval import weights_stamp
from distill.publish import PublishConfig, build_card


def student_folder(path, base="Qwen/Qwen2.5-1.5B"):
    path.mkdir(parents=True)
    (path / "adapter_config.json").write_text("{}")
    (path / "adapter_model.safetensors").write_bytes(b"weights")
    (path / "train.yaml").write_text(yaml.safe_dump({"model": base, "lora_r": 8}))
    return path


def eval_json(path, student, pass1, weights=None):
    ev = {
        "data": "builtin:arithmetic?n=100",
        "verify": "math",
        "n": 1,
        "temperature": 0.0,
        "max_tokens": 40,
        "format": "r1",
        "student": {"model": str(student), "problems": 100, "pass@1": pass1},
        "baseline": {"model": "builtin:smollm2", "problems": 100, "pass@1": 0.06},
    }
    if weights is not None:
        ev["weights"] = {"student": weights}
    path.write_text(json.dumps(ev))
    return path


def card(student, **kw):
    return str(build_card(student, student, PublishConfig(dir=str(student), local_dir="x", **kw)))


def test_the_run_folders_eval_of_another_student_is_not_this_students_card(tmp_path):
    # make smoke-kd's layout: sft, kd, onpolicy students side by side, eval.json of onpolicy
    sft = student_folder(tmp_path / "sft")
    onpolicy = student_folder(tmp_path / "onpolicy")
    eval_json(tmp_path / "eval.json", onpolicy, 0.66)
    assert "0.660" in card(onpolicy)  # its own numbers
    text = card(sft)
    assert "0.660" not in text and "## Evaluation" not in text


def test_an_explicit_eval_of_another_student_is_one_error_line(tmp_path):
    sft = student_folder(tmp_path / "sft")
    onpolicy = student_folder(tmp_path / "onpolicy")
    ev = eval_json(tmp_path / "other.json", onpolicy, 0.66)
    with pytest.raises(DistillError, match="--eval .*other.json: it evaluates .*onpolicy"):
        card(sft, eval=str(ev))


def test_eval_of_the_student_before_it_was_retrained_is_not_on_the_card(tmp_path):
    student = student_folder(tmp_path / "student")
    eval_json(tmp_path / "eval.json", student, 0.45, weights=weights_stamp(str(student)))
    assert "0.450" in card(student)
    weights = student / "adapter_model.safetensors"
    weights.write_bytes(b"new weights!")  # train wrote another student into the folder
    os.utime(weights, ns=(1, 2))
    assert "0.450" not in card(student)


def test_eval_json_records_the_weights_it_evaluated(tmp_path, monkeypatch):
    from distill import eval as eval_stage

    student = student_folder(tmp_path / "student")
    monkeypatch.setattr(eval_stage, "_generate", lambda cfg, model, which: [])
    out = tmp_path / "eval.json"
    cfg = eval_stage.EvalConfig(
        model=str(student),
        backend="openai",
        base_url="http://127.0.0.1:9/v1",
        data="builtin:arithmetic?n=3",
        out=str(out),
    )
    eval_stage.run(cfg)
    assert json.loads(out.read_text())["weights"] == {"student": weights_stamp(str(student))}


def test_a_lora_student_of_builtin_gemma_loads_on_its_hub_base(tmp_path):
    student = student_folder(tmp_path / "student", base="builtin:gemma3-270m")
    text = card(student)
    assert 'AutoModelForCausalLM.from_pretrained("google/gemma-3-270m")' in text
    assert "base_model: google/gemma-3-270m" in text
    assert 'builtin:gemma3-270m")' not in text


def test_countdown_maj_at_k_votes_on_the_expression_the_verifier_reads():
    from distill.eval import score

    def rec(sample, answer):
        return {"id": f"p-{sample}", "prompt_id": "p", "answer": answer, "gold": "35",
                "meta": {"numbers": [3, 4, 5], "target": 35}}  # fmt: skip

    # every sample right: boxed expressions had no vote key (read as "a computation still to
    # do"), so maj@3 was 0 beside pass@1 1
    s = score([rec(i, "\\boxed{(3+4)*5}") for i in range(3)], "countdown")
    assert s["pass@1"] == 1.0 and s["maj@3"] == 1.0
    # the majority (two spellings of one expression) is wrong, the odd one right
    s = score(
        [rec(0, "<answer>3*4+5</answer>"), rec(1, "<answer> 3 * 4 + 5 </answer>"),
         rec(2, "<answer>(3+4)*5</answer>")],
        "countdown",
    )  # fmt: skip
    assert s["pass@1"] == round(1 / 3, 4) and s["maj@3"] == 0.0


def test_an_alpaca_students_card_prompts_it_with_alpacas_prompt_not_a_chat_template(tmp_path):
    """A --format alpaca student never saw a chat template: its card's snippet builds Alpaca's
    prompt (as training rendered it) and says so; an r1 student's keeps the chat template."""
    from distill.templates import load_template

    alpaca = student_folder(tmp_path / "alpaca")
    (alpaca / "train.yaml").write_text(
        yaml.safe_dump({"model": "Qwen/Qwen2.5-1.5B", "lora_r": 8, "format": "alpaca"})
    )
    text = card(alpaca)
    prompt = load_template("alpaca-no-input").render({"instruction": "What is 12 + 34?"})
    assert f"prompt = {prompt!r}" in text and "apply_chat_template" not in text
    assert "Trained on Alpaca's prompt" in text
    r1 = card(student_folder(tmp_path / "r1"))
    assert "apply_chat_template" in r1 and "chat template shipped with the tokenizer" in r1


def test_the_card_says_n_a_where_nothing_was_verifiable_and_counts_each_sides_unverifiable(
    tmp_path,
):
    """eval.json's pass@1 is None where no problem could be verified, and names `unverifiable`
    only where it is > 0: the card printed "None", and a count the baseline alone had was left
    out of the table (its rows were the student's keys)."""
    student = student_folder(tmp_path / "s")
    ev = json.loads(eval_json(tmp_path / "eval.json", student, None).read_text())
    ev["baseline"]["unverifiable"] = 2
    (tmp_path / "eval.json").write_text(json.dumps(ev))
    text = card(student)
    assert "| pass@1 | 0.060 | n/a |" in text
    assert "| unverifiable | 2 | 0 |" in text
    assert "None" not in text.split("## Evaluation")[1].split("\n\n")[2]


def test_a_sharded_models_stamp_changes_with_its_shards(tmp_path):
    """weights_stamp read model.safetensors.index.json but no shard: a sharded student whose
    shards were replaced (the index copied back with its mtime) kept its stamp, and eval.json
    of the old weights was reused and put on the card."""
    import os

    student = tmp_path / "student"
    student.mkdir()
    (student / "config.json").write_text("{}")
    (student / "model.safetensors.index.json").write_text("{}")
    shard = student / "model-00001-of-00002.safetensors"
    shard.write_bytes(b"a" * 8)
    before = weights_stamp(str(student))
    shard.write_bytes(b"b" * 8)
    os.utime(shard, ns=(1, 1))
    assert weights_stamp(str(student)) != before
