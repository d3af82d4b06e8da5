"""The published card's metadata is read by the Hub: base_model and datasets are Hub ids or
absent (never a local path), and an adapter whose base is a local folder is said to be one."""

from __future__ import annotations

import json

import yaml
from huggingface_hub import ModelCard

from distill.publish import PublishConfig, build_card
from distill.publish import run as publish
from tests.test_publish import run_folder


def student_of(tmp_path, model: str, data: str = "open-r1/OpenR1-Math-220k"):
    tmp_path.mkdir(parents=True, exist_ok=True)
    student = run_folder(tmp_path)
    train = yaml.safe_load((student / "train.yaml").read_text())
    (student / "train.yaml").write_text(yaml.safe_dump({**train, "model": model}))
    gen = yaml.safe_load((tmp_path / "traces.generate.yaml").read_text())
    (tmp_path / "traces.generate.yaml").write_text(yaml.safe_dump({**gen, "data": data}))
    return student


def metadata(student, **kw) -> dict:
    cfg = PublishConfig(dir=str(student), local_dir="x", **kw)
    model_dir = student / "merged" if cfg.merged else student
    return ModelCard(str(build_card(model_dir, student, cfg))).data.to_dict()


def test_prompt_files_not_on_this_machine_are_not_listed_as_hub_datasets(tmp_path):
    """generate --data data/prompts.jsonl, published from another folder (or machine): the
    file is not found here, and its name went into `datasets:` as a Hub dataset id."""
    for data in ("data/prompts.jsonl", "prompts.csv", "~/x.parquet", "../p.jsonl.gz"):
        meta = metadata(student_of(tmp_path / data.replace("/", "_"), "Qwen/Qwen2.5-1.5B", data))
        assert "datasets" not in meta, data
    meta = metadata(student_of(tmp_path / "hub", "Qwen/Qwen2.5-1.5B", "openai/gsm8k:main"))
    assert meta["datasets"] == ["openai/gsm8k"]


def test_base_model_is_a_hub_id_or_left_out(tmp_path):
    """./ckpt and ~/ckpt (one '/') went into base_model; gpt2 (a Hub id without an org) was
    left out."""
    for model in ("./ckpt", "~/ckpt", "/home/me/ckpt"):
        meta = metadata(student_of(tmp_path / model.replace("/", "_"), model))
        assert "base_model" not in meta, model
    assert metadata(student_of(tmp_path / "gpt2", "gpt2"))["base_model"] == "gpt2"
    meta = metadata(student_of(tmp_path / "builtin", "builtin:smollm2"))
    assert meta["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"


def test_a_merged_lora_student_is_not_tagged_a_full_fine_tune(tmp_path):
    student = student_of(tmp_path, "Qwen/Qwen2.5-1.5B")
    merged = student / "merged"
    merged.mkdir()
    (merged / "config.json").write_text("{}")
    (merged / "model.safetensors").write_bytes(b"")
    meta = metadata(student, merged=True)
    assert meta["library_name"] == "transformers"
    assert "lora" in meta["tags"] and "full-finetune" not in meta["tags"]
    assert metadata(student)["library_name"] == "peft"


def test_an_adapter_on_a_local_base_is_flagged(tmp_path, capsys):
    """adapter_config.json names /home/me/ckpt: whoever loads the adapter from the Hub has no
    such folder. publish said nothing, and the card's snippet loaded the local path."""
    student = student_of(tmp_path, "/home/me/ckpt")
    config = {"base_model_name_or_path": "/home/me/ckpt", "peft_type": "LORA"}
    (student / "adapter_config.json").write_text(json.dumps(config))
    (student / "adapter_model.safetensors").write_bytes(b"")
    out = tmp_path / "pub"
    publish(PublishConfig(dir=str(student), local_dir=str(out)))
    said = capsys.readouterr().out
    assert "warning" in said and "/home/me/ckpt" in said
    card = (out / "README.md").read_text()
    assert "local folder" in card and "/home/me/ckpt" in card
    # a Hub base: no such line
    student = student_of(tmp_path / "hub", "Qwen/Qwen2.5-1.5B")
    config = {"base_model_name_or_path": "Qwen/Qwen2.5-1.5B", "peft_type": "LORA"}
    (student / "adapter_config.json").write_text(json.dumps(config))
    (student / "adapter_model.safetensors").write_bytes(b"")
    publish(PublishConfig(dir=str(student), local_dir=str(tmp_path / "hub" / "pub")))
    assert "warning" not in capsys.readouterr().out
    assert "local folder" not in (tmp_path / "hub" / "pub" / "README.md").read_text()


def test_a_repo_id_the_hub_refuses_is_refused_before_the_card_is_built(monkeypatch):
    """me/bad name passed the USER/NAME check and failed in create_repo, after the card was
    built and the files staged, as huggingface_hub's validation error."""
    import pytest

    from distill.errors import DistillError

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for repo in ("me/bad name", "me/x--y", "-me/x"):
        with pytest.raises(DistillError, match="--repo-id"):
            PublishConfig(dir="d", repo_id=repo)
    assert PublishConfig(dir="d", repo_id="me/qwen-1.5b_r1.v2").repo_id == "me/qwen-1.5b_r1.v2"
