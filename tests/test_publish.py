"""The model card reads the other stages' saved configs as their dataclasses: what it shows is
each field by name, so a renamed field fails here instead of blanking a line of the card."""

from __future__ import annotations

import json

import yaml

from distill.config import keys_where
from distill.generate.config import GenerateConfig
from distill.publish import PublishConfig, build_card
from distill.train.config import TrainConfig


def run_folder(tmp_path):
    traces = tmp_path / "traces.jsonl"
    traces.write_text("")
    gen = {"data": "open-r1/OpenR1-Math-220k", "template": "r1-math", "n": 4,
           "temperature": 0.6, "top_p": 0.95, "max_tokens": 512}  # fmt: skip
    (tmp_path / "traces.generate.yaml").write_text(yaml.safe_dump(gen))
    summary = {
        "prompts": 3,
        "samples": 12,
        "by_teacher": {"openai:r1": 12},
        "completion_tokens": 99,
    }
    (tmp_path / "traces.summary.json").write_text(json.dumps(summary))
    report = {"input": str(traces), "total": 12, "kept": 5, "reject_reasons": {}, "verify": {}}
    (tmp_path / "kept.report.json").write_text(json.dumps(report))
    student = tmp_path / "student"
    student.mkdir()
    (student / "adapter_config.json").write_text("{}")
    train = {"data": str(tmp_path / "kept.jsonl"), "model": "Qwen/Qwen2.5-1.5B", "lora_r": 8,
             "learning_rate": 1e-4, "method": "sft", "an_old_key": 1}  # fmt: skip
    (student / "train.yaml").write_text(yaml.safe_dump(train))
    return student


def test_card_shows_the_saved_configs_by_field(tmp_path):
    student = run_folder(tmp_path)
    card = str(build_card(student, student, PublishConfig(dir=str(student), local_dir="x")))
    assert "- Prompts: 3 from `open-r1/OpenR1-Math-220k` with template `r1-math`" in card
    assert "- Sampling: n=4, temperature=0.6, top_p=0.95, max_tokens=512" in card
    assert "| lora_r | 8 |" in card and "| learning_rate | 0.0001 |" in card
    # a key the saved config predates is not shown (the run may not have used today's default);
    # one the config no longer has is dropped
    assert "| lora_alpha |" not in card and "an_old_key" not in card
    assert "base_model: Qwen/Qwen2.5-1.5B" in card


def test_the_cards_table_is_declared_on_the_fields():
    shown = keys_where(TrainConfig, "card")
    assert {"lora_r", "learning_rate", "max_length", "seed"} <= set(shown)
    assert set(shown) <= set(TrainConfig.__dataclass_fields__)
    assert "temperature" in GenerateConfig.__dataclass_fields__  # the card's Sampling line


def test_card_of_a_folder_without_train_yaml_claims_no_hyperparameters(tmp_path):
    # a student trained elsewhere: no train.yaml, so no row of TrainConfig's defaults
    student = tmp_path / "student"
    student.mkdir()
    (student / "adapter_config.json").write_text("{}")
    card = str(build_card(student, student, PublishConfig(dir=str(student), local_dir="x")))
    assert "| hyperparameter | value |" in card
    assert "| lora_r |" not in card and "| learning_rate |" not in card
    assert "from `unknown`" in card


def test_a_student_trained_on_the_traces_themselves_shows_their_generate_summary(tmp_path):
    """No filter between generate and train (train --data traces.jsonl): the card found no
    generate summary, though traces.summary.json sits beside the traces (a walkthrough)."""
    student = run_folder(tmp_path)
    (tmp_path / "kept.report.json").unlink()
    train = yaml.safe_load((student / "train.yaml").read_text())
    (student / "train.yaml").write_text(
        yaml.safe_dump({**train, "data": str(tmp_path / "traces.jsonl")})
    )
    card = str(build_card(student, student, PublishConfig(dir=str(student), local_dir="x")))
    assert "- Prompts: 3 from `open-r1/OpenR1-Math-220k` with template `r1-math`" in card
    assert "No generate summary or filter report was found" not in card


def test_merged_is_named_after_the_run_and_a_missing_one_says_merge(tmp_path):
    import pytest

    from distill.errors import DistillError
    from distill.publish import run as publish

    student = run_folder(tmp_path)
    with pytest.raises(DistillError, match="train with --merge to write it"):
        publish(PublishConfig(dir=str(student), local_dir=str(tmp_path / "pub"), merged=True))
    merged = student / "merged"
    merged.mkdir()
    (merged / "config.json").write_text("{}")
    (merged / "model.safetensors").write_bytes(b"")
    card = str(
        build_card(merged, student, PublishConfig(dir=str(student), local_dir="x", merged=True))
    )
    assert card.splitlines()[card.splitlines().index("---", 1) + 2] == "# student"


def test_a_full_fine_tunes_card_lists_no_lora_settings(tmp_path):
    """lora: false trained every weight: the LoRA rank, alpha, dropout and modules the card
    listed (train.yaml keeps their defaults) were never used."""
    student = run_folder(tmp_path)
    (student / "adapter_config.json").unlink()
    (student / "model.safetensors").write_bytes(b"")
    train = yaml.safe_load((student / "train.yaml").read_text())
    train |= {"lora": False, "lora_alpha": 32, "lora_target_modules": ["all-linear"]}
    (student / "train.yaml").write_text(yaml.safe_dump(train))
    card = str(build_card(student, student, PublishConfig(dir=str(student), local_dir="x")))
    assert "| lora | False |" in card and "| learning_rate | 0.0001 |" in card
    assert "| lora_r |" not in card and "| lora_alpha |" not in card
    assert "| lora_target_modules |" not in card


def test_the_cards_license_is_the_base_models_not_apache_by_default(tmp_path, capsys):
    """Every card said license: apache-2.0 unless --license was given: a student of gemma-3 (the
    Gemma terms) or of a Llama base was published under a license its base never gave."""
    student = run_folder(tmp_path)

    def card_with(model, **kw):
        train = yaml.safe_load((student / "train.yaml").read_text())
        (student / "train.yaml").write_text(yaml.safe_dump({**train, "model": model}))
        cfg = PublishConfig(dir=str(student), local_dir="x", **kw)
        return str(build_card(student, student, cfg))

    assert "license: gemma" in card_with("builtin:gemma3-270m")
    assert "license: apache-2.0" in card_with("builtin:smollm2")
    base = tmp_path / "llama-base"
    base.mkdir()
    (base / "README.md").write_text("---\nlicense: llama3.1\n---\n# base\n")
    assert "license: llama3.1" in card_with(str(base))
    capsys.readouterr()
    assert "license: other" in card_with("Qwen/Qwen2.5-1.5B")  # not looked up offline
    assert "give --license" in capsys.readouterr().out
    assert "license: mit" in card_with("Qwen/Qwen2.5-1.5B", license="mit")
