"""Second read of the s7 refusal-ordering fixes (4c5cf95 models.check_model_loadable and
teachers.check_teacher, 64ac407, e1e0d28): what they still let through, each test failing
before its fix."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.inproc import distill


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_a_model_under_home_written_with_a_tilde_loads(tmp_path, tiny_qwen, monkeypatch):
    """`--model=~/student` (no shell expands a tilde after `=`; a recipe's `model: ~/student`
    neither) passed check_model_loadable, which expands it, and the load then refused it as
    'model not found: ~/student (no such folder)', after eval had written its samples' files
    (generate: t.generate.yaml, an empty t.jsonl): the folder is loaded as the check found it."""
    home = tmp_path / "home"
    shutil.copytree(tiny_qwen, home / "student")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    res = distill(
        "eval", "--model=~/student", "--data", "builtin:arithmetic?n=1", "--max-tokens", "2",
        "--out", "o/eval.json", cwd=work,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert (work / "o" / "eval.json").is_file()


def test_qlora_without_cuda_is_refused_before_the_data_is_built(tmp_path, tiny_qwen):
    """--qlora on a machine without CUDA is known from the machine alone: it was refused as the
    weights began to load, which 64ac407 moved after the examples are built, so every example
    was tokenized and pre-flighted (a large file: minutes), its stats printed, and only then
    the refusal."""
    import json

    import pytest
    import torch

    if torch.cuda.is_available():
        pytest.skip("QLoRA is refused only without CUDA")
    chat = {
        "messages": [{"role": "user", "content": "1+1?"}, {"role": "assistant", "content": "2"}]
    }
    (tmp_path / "ok.jsonl").write_text(json.dumps(chat) + "\n")
    res = distill(
        "train", "--model", tiny_qwen, "--data", "ok.jsonl", "--qlora", "--output-dir", "o",
        "--max-steps", "1", cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        "error: QLoRA needs a CUDA GPU (bitsandbytes 4-bit); on CPU use --lora without --qlora"
    ]
    assert "examples" not in res.stdout, res.stdout  # the data was not built first
    assert not (tmp_path / "o").exists()


def test_a_tokenizer_of_another_vocabulary_is_refused_before_the_data_is_built(
    tmp_path, tiny_qwen, tiny_llama
):
    """--tokenizer of another vocabulary is known from the tokenizers (and the student's
    config): it was refused once the weights loaded, which 64ac407 moved after the examples are
    built, so the whole file was tokenized with the wrong vocabulary, pre-flighted and its
    stats printed before the one line."""
    import json

    chat = {
        "messages": [{"role": "user", "content": "1+1?"}, {"role": "assistant", "content": "2"}]
    }
    (tmp_path / "ok.jsonl").write_text(json.dumps(chat) + "\n")
    res = distill(
        "train", "--model", tiny_qwen, "--tokenizer", tiny_llama, "--data", "ok.jsonl",
        "--output-dir", "o", "--max-steps", "1", cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: tokenizer '{tiny_llama}'"), lines
    assert "examples" not in res.stdout, res.stdout  # the data was not built first
    assert not (tmp_path / "o").exists()


def test_the_offline_refusal_names_the_variable_that_is_set(monkeypatch):
    """huggingface_hub is offline under TRANSFORMERS_OFFLINE too: the line said 'HF_HUB_OFFLINE
    is set' to a user who had set only TRANSFORMERS_OFFLINE (and unset would not help)."""
    import pytest
    from huggingface_hub import constants

    from distill.errors import DistillError
    from distill.models import check_model_loadable

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    with pytest.raises(DistillError, match=r"TRANSFORMERS_OFFLINE is set") as e:
        check_model_loadable("org/missing")
    assert "HF_HUB_OFFLINE" not in str(e.value)
