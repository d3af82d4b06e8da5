"""--weight-sync reload's merged checkpoint (distill/train/kd/rollout.py, write_merged): written
layer by layer and shard by shard instead of `copy.deepcopy(model).merge_and_unload()` (a second
copy of the student on its device at every sync: a 7B bf16 student, +14 GB on the GPU), it is
the checkpoint that copy's save_pretrained wrote, tensor for tensor, and the trained model is
only read."""

import copy
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from distill.errors import DistillError
from distill.train.kd import rollout as ro


def policy(tiny: Path, dtype=torch.float32, tied=False, rows=None, seed=0, **lora):
    """A LoRA student as training leaves it: the tiny model's config, LoRA on every linear layer,
    every trainable weight moved off its initial value."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(tiny)
    config.tie_word_embeddings = tied
    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_config(config).to(dtype).eval()
    kw = dict(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM")
    if rows:
        kw["trainable_token_indices"] = rows
    model = get_peft_model(base, LoraConfig(**{**kw, **lora}))
    with torch.no_grad():  # as if trained
        for _, p in model.named_parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.5)
    return model


def write(tmp_path: Path, model) -> Path:
    r = ro.ServerRollout.__new__(ro.ServerRollout)
    r.out = tmp_path / "out"
    trainer = SimpleNamespace(accelerator=SimpleNamespace(unwrap_model=lambda m: m))
    return r.write_weights(trainer, model, r.out / ro.WEIGHTS_DIR / "step-000001")


def read(folder: Path) -> dict:
    from safetensors.torch import load_file

    return {k: v for f in sorted(folder.glob("*.safetensors")) for k, v in load_file(f).items()}


def snapshot(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize(
    "family, setup",
    [
        ("llama", {}),
        ("qwen2", {}),
        ("llama", dict(dtype=torch.bfloat16)),  # fp32 adapters (peft's autocast) over bf16
        ("qwen2", dict(rows=[3, 5, 7])),  # --lora-trainable-tokens
        ("qwen2", dict(tied=True, rows=[3, 5, 7])),  # Qwen2.5-0.5B: the head is the embedding
        ("llama", dict(tied=True, dtype=torch.bfloat16, rows=[1, 2])),
        # Qwen2's q/k/v biases merged too; rsLoRA's scaling
        ("qwen2", dict(lora_bias=True, use_rslora=True, target_modules=["q_proj", "v_proj"])),
        ("llama", dict(target_modules=["q_proj", "embed_tokens"])),  # a LoRA embedding layer
        # LoRA on a head tied to the embedding: merged into the one weight both are
        ("qwen2", dict(tied=True, target_modules=["q_proj", "lm_head"])),
    ],
)
def test_the_written_checkpoint_is_merge_and_unload_of_a_copy_and_the_model_is_untouched(
    tmp_path, family, setup
):
    from tests.tiny import make_tiny_model

    tiny = make_tiny_model(tmp_path / "tiny", family)
    model = policy(tiny, **setup)
    before = snapshot(model)
    folder = write(tmp_path, model)
    got = read(folder)
    # what the old write_weights wrote: save_pretrained of merge_and_unload on a copy
    reference = copy.deepcopy(model).merge_and_unload()
    want = reference.state_dict()
    reference.save_pretrained(tmp_path / "old", safe_serialization=True)
    assert got.keys() == read(tmp_path / "old").keys()  # the names, the tied head dropped
    # bitwise: the same ops on the same device as peft's merge (the delta added to a clone)
    for k in got:
        assert got[k].dtype == want[k].dtype and torch.equal(got[k], want[k]), k
    for name in ("config.json", "generation_config.json"):
        assert json.loads((folder / name).read_text()) == json.loads(
            (tmp_path / "old" / name).read_text()
        )
    # the trained model is only read: every weight and adapter bitwise as before, no layer merged
    after = model.state_dict()
    assert after.keys() == before.keys()
    assert all(torch.equal(after[k], before[k]) for k in before)
    assert not any(getattr(m, "merged", False) for m in model.modules())


def test_a_large_student_is_written_in_shards_that_transformers_loads(tmp_path, monkeypatch):
    # save_pretrained wrote one file (its default shard is 50 GB): the whole merged model in
    # memory at once. Shards of MERGED_SHARD hold one at a time; loaded as vLLM and transformers
    # load a checkpoint (the index), they are the merged model.
    from transformers import AutoModelForCausalLM

    from tests.tiny import make_tiny_model

    tiny = make_tiny_model(tmp_path / "tiny", "qwen2")
    model = policy(tiny, tied=True, rows=[4])
    monkeypatch.setattr(ro, "MERGED_SHARD", 20_000, raising=False)  # bytes
    folder = write(tmp_path, model)
    files = sorted(p.name for p in folder.glob("*.safetensors"))
    assert len(files) > 2 and files[0] == f"model-00001-of-{len(files):05d}.safetensors"
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"].values()) == set(files)
    want = copy.deepcopy(model).merge_and_unload().state_dict()
    assert index["weight_map"].keys() == want.keys() - {"lm_head.weight"}
    loaded = AutoModelForCausalLM.from_pretrained(folder).state_dict()
    assert all(torch.equal(loaded[k], want[k]) for k in want)


def test_the_gpu_out_of_memory_while_merging_is_one_line_and_no_half_copy(tmp_path, monkeypatch):
    # A layer's merge that ran out of GPU memory was a raw traceback out of the trainer (no
    # checkpoint of the steps done); now a RolloutError: a checkpoint, then this line.
    from peft.tuners.lora import Linear

    from tests.tiny import make_tiny_model

    model = policy(make_tiny_model(tmp_path / "tiny", "qwen2"))
    calls = []

    def oom(self, adapter):
        calls.append(adapter)
        if len(calls) > 3:  # a few layers written, then the GPU is full
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB")
        return real(self, adapter)

    real = Linear.get_delta_weight
    monkeypatch.setattr(Linear, "get_delta_weight", oom)
    monkeypatch.setattr(ro, "MERGED_SHARD", 20_000, raising=False)  # a shard written before
    with pytest.raises(ro.RolloutError) as e:
        write(tmp_path, model)
    msg = str(e.value)
    assert "\n" not in msg and "out of GPU memory" in msg and "--resume" in msg
    assert not (tmp_path / "out" / ro.WEIGHTS_DIR).exists()


def test_a_dora_adapter_is_refused_in_one_line(tmp_path):
    # distill trains plain LoRA (no flag asks for DoRA); a DoRA layer's merge is not the delta
    # added: refused, not written wrong.
    from tests.tiny import make_tiny_model

    model = policy(make_tiny_model(tmp_path / "tiny", "llama"), use_dora=True)
    with pytest.raises(DistillError, match="DoraLinearVariant") as e:
        write(tmp_path, model)
    assert "\n" not in str(e.value) and "model.layers.0.self_attn.q_proj" in str(e.value)
