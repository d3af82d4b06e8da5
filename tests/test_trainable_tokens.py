"""--lora-trainable-tokens (PEFT's trainable_token_indices): a base model's chat-template tokens
it never trained (gemma-3-270m's <end_of_turn>: cosine 0.99 with thousands of <unusedN> rows, so
a LoRA student's stop raised them all and its samples never ended) train as embedding rows
beside the adapter: exactly those rows change, in the adapter, the merged weights and what eval
loads."""

import json

import pytest
import torch

from distill.errors import DistillError
from tests.test_kd import kd_cfg


def tied_copy(src, dst):
    """The tiny student with its head tied to its input embeddings (as gemma-3's)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(src)
    model.config.tie_word_embeddings = True
    model.tie_weights()
    model.save_pretrained(dst)
    AutoTokenizer.from_pretrained(src).save_pretrained(dst)
    return dst


def test_template_names_the_special_tokens_the_chat_template_writes(tiny_qwen, tiny_llama):
    from distill.models import load_tokenizer
    from distill.train.sft import trainable_token_ids

    for path, want in (
        (tiny_qwen, ["<|im_start|>", "<|im_end|>"]),
        (
            tiny_llama,
            ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
        ),
    ):
        tok = load_tokenizer(str(path))
        cfg = kd_cfg(path.parent, path, method="sft", lora_trainable_tokens=["template"])
        assert trainable_token_ids(cfg, tok) == sorted(tok.convert_tokens_to_ids(want))
        one = kd_cfg(path.parent, path, method="sft", lora_trainable_tokens=[want[-1]])
        assert trainable_token_ids(one, tok) == [tok.convert_tokens_to_ids(want[-1])]


def test_a_token_the_student_lacks_or_full_fine_tuning_is_one_line(tiny_qwen):
    from distill.models import load_tokenizer
    from distill.train.sft import trainable_token_ids

    tok = load_tokenizer(str(tiny_qwen))
    bad = kd_cfg(tiny_qwen.parent, tiny_qwen, method="sft", lora_trainable_tokens=["<end_of_turn>"])
    with pytest.raises(DistillError, match="'<end_of_turn>' is no token"):
        trainable_token_ids(bad, tok)
    full = kd_cfg(
        tiny_qwen.parent, tiny_qwen, method="sft", lora=False, lora_trainable_tokens=["template"]
    )
    with pytest.raises(DistillError, match="LoRA student"):
        trainable_token_ids(full, tok)


@pytest.mark.parametrize("tied", [False, True])
def test_exactly_the_named_rows_train_and_eval_loads_them(tmp_path, tiny_qwen, tied):
    from transformers import AutoModelForCausalLM

    from distill.models import load_causal_lm, load_tokenizer
    from distill.train import run

    student = tied_copy(tiny_qwen, tmp_path / "tied") if tied else tiny_qwen
    tok = load_tokenizer(str(student))
    rows = tok.convert_tokens_to_ids(["<|im_start|>", "<|im_end|>"])
    cfg = kd_cfg(tmp_path, student, method="sft", max_steps=3, learning_rate=5e-2, merge=True,
                 lora_trainable_tokens=["template"])  # fmt: skip
    out = run(cfg)
    base = AutoModelForCausalLM.from_pretrained(student).get_input_embeddings().weight
    merged = AutoModelForCausalLM.from_pretrained(out / "merged")
    emb = merged.get_input_embeddings().weight
    moved = (emb - base).abs().sum(-1).nonzero().flatten().tolist()
    assert moved == sorted(rows)
    if tied:  # the head is the same rows
        assert torch.equal(merged.get_output_embeddings().weight, emb)
    else:  # an untied head keeps its own rows (PEFT trains the input embedding's)
        head = AutoModelForCausalLM.from_pretrained(student).get_output_embeddings().weight
        assert torch.equal(merged.get_output_embeddings().weight, head)
    # eval's loader (base + adapter) computes the merged model's logits
    ids = tok.apply_chat_template([{"role": "user", "content": "1 + 2"}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)["input_ids"]  # fmt: skip
    with torch.no_grad():
        a = load_causal_lm(str(out), device="cpu")(ids).logits
        b = merged(ids).logits
    assert torch.allclose(a, b, atol=1e-5)
    assert json.loads((out / "adapter_config.json").read_text())["trainable_token_indices"]


@pytest.mark.parametrize("tied", [False, True])
def test_the_chunked_head_of_kd_and_sft_computes_the_trained_rows_logits(tmp_path, tiny_qwen, tied):
    """kd/onpolicy's (and CPU sft's) chunked loss applies the head itself (loss.lm_head): with
    trained rows it must give the PEFT model's own logits, the rows' deltas included."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from distill.train.kd.loss import lm_head

    student = tied_copy(tiny_qwen, tmp_path / "tied") if tied else tiny_qwen
    model = AutoModelForCausalLM.from_pretrained(student)
    peft = get_peft_model(
        model, LoraConfig(r=4, target_modules="all-linear", trainable_token_indices=[1, 2, 3])
    )
    with torch.no_grad():
        for p in peft.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p))  # LoRA B and the rows' deltas away from 0
    ids = torch.tensor([[1, 5, 2, 7, 3]])
    with torch.no_grad():
        out = peft(ids, output_hidden_states=True)
        mine = lm_head(peft)(out.hidden_states[-1][0])
    assert torch.allclose(mine, out.logits[0], atol=1e-5)
    if tied:  # the rows' deltas move these logits: the frozen weight alone is not them
        frozen = AutoModelForCausalLM.from_pretrained(student).get_output_embeddings().weight
        assert not torch.allclose(out.hidden_states[-1][0] @ frozen.T, out.logits[0], atol=1e-3)


def test_vllm_rollouts_refuse_trained_rows_vllm_would_not_load(tiny_qwen):
    """vLLM's runtime LoRA loading takes the adapter's layers, not PEFT's trained rows: the
    server would sample another policy than the one trained."""
    with pytest.raises(DistillError, match="vLLM loads a LoRA adapter's layers"):
        kd_cfg(tiny_qwen.parent, tiny_qwen, method="onpolicy", teacher_model=str(tiny_qwen),
               rollout="vllm", rollout_url="http://localhost:8000/v1",
               lora_trainable_tokens=["template"])  # fmt: skip


def untrained_copy(src, dst, token="<|im_end|>", copies=40):
    """The tiny student with `token`'s row repeated (plus noise) in `copies` other rows, as a base
    model's reserved rows beside a template token it never trained."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(src)
    tok = AutoTokenizer.from_pretrained(src)
    emb = model.get_input_embeddings().weight
    i = tok.convert_tokens_to_ids(token)
    with torch.no_grad():
        for j in range(100, 100 + copies):
            emb[j] = emb[i] + 1e-3 * torch.randn_like(emb[i])
    model.save_pretrained(dst)
    tok.save_pretrained(dst)
    return dst


def test_a_template_token_whose_row_many_others_share_is_named(tmp_path, tiny_qwen):
    from transformers import AutoModelForCausalLM

    from distill.models import load_tokenizer
    from distill.train.sft import untrained_template_tokens

    tok = load_tokenizer(str(tiny_qwen))
    plain = AutoModelForCausalLM.from_pretrained(tiny_qwen).get_input_embeddings().weight
    assert untrained_template_tokens(tok, plain) == []
    alike = untrained_copy(tiny_qwen, tmp_path / "alike")
    rows = AutoModelForCausalLM.from_pretrained(alike).get_input_embeddings().weight
    assert untrained_template_tokens(tok, rows) == ["<|im_end|>"]
    assert untrained_template_tokens(tok, rows.to(torch.bfloat16)) == ["<|im_end|>"]


def test_train_warns_of_untrained_template_rows_unless_they_train(tmp_path, tiny_qwen, capsys):
    from distill.train.sft import build_trainer

    alike = untrained_copy(tiny_qwen, tmp_path / "alike")
    build_trainer(kd_cfg(tmp_path, alike, method="sft", output_dir=str(tmp_path / "a")))
    assert "template tokens <|im_end|> have embedding rows nearly equal" in capsys.readouterr().out
    build_trainer(kd_cfg(tmp_path, alike, method="sft", output_dir=str(tmp_path / "b"),
                         lora_trainable_tokens=["template"]))  # fmt: skip
    assert "nearly equal" not in capsys.readouterr().out
