"""Second read of --weight-sync reload's merged checkpoint (distill/train/kd/rollout.py,
write_merged / ServerRollout.write_weights): a tied head and embedding both under LoRA, and a
full disk as safetensors reports it."""

import copy

import pytest
import torch

from distill.train.kd import rollout as ro
from tests.test_kd_reload_merge_s9 import policy, read, write


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_lora_on_both_a_tied_embedding_and_head_writes_both_deltas(tmp_path, dtype):
    # --lora-target-modules ...,embed_tokens,lm_head on a tied student (Qwen2.5-0.5B, gemma-3):
    # both LoRA layers merge into the one weight the two share. write_merged wrote the
    # embedding's delta alone (the head's dropped with its tied name): vLLM, which ties the head
    # to that weight, sampled from a model without the head's adapter.
    from tests.tiny import make_tiny_model

    tiny = make_tiny_model(tmp_path / "tiny", "qwen2")
    model = policy(
        tiny, dtype=dtype, tied=True, target_modules=["q_proj", "embed_tokens", "lm_head"]
    )
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    got = read(write(tmp_path, model))
    reference = copy.deepcopy(model).merge_and_unload()
    reference.save_pretrained(tmp_path / "old", safe_serialization=True)
    want = read(tmp_path / "old")
    assert got.keys() == want.keys()
    for k in want:
        assert got[k].dtype == want[k].dtype and torch.equal(got[k], want[k]), k
    # the trained model only read
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


# What safetensors 0.8's save_file raises on a full disk (a 64 KB tmpfs): its own error, not
# an OSError
ENOSPC = "Error while serializing: I/O error: No space left on device (os error 28)"


@pytest.mark.parametrize("lora", [True, False])
def test_a_full_disk_in_a_shard_is_one_line_and_no_half_copy(tmp_path, monkeypatch, lora):
    # Each sync writes the whole model, in shards; the disk filling up in the second shard
    # raised safetensors' SafetensorError (not an OSError) out of the trainer: a traceback, no
    # checkpoint, and the first shard left in OUTPUT_DIR/rollout-weights.
    import safetensors.torch
    import transformers.modeling_utils
    from safetensors import SafetensorError
    from transformers import AutoModelForCausalLM

    from tests.tiny import make_tiny_model

    tiny = make_tiny_model(tmp_path / "tiny", "qwen2")
    model = policy(tiny) if lora else AutoModelForCausalLM.from_pretrained(tiny)
    real, calls = safetensors.torch.save_file, []

    def save(tensors, filename, metadata=None):
        calls.append(filename)
        if len(calls) < 2:
            return real(tensors, filename, metadata=metadata)
        raise SafetensorError(ENOSPC)

    monkeypatch.setattr(safetensors.torch, "save_file", save)
    monkeypatch.setattr(transformers.modeling_utils, "safe_save_file", save)
    monkeypatch.setattr(ro, "MERGED_SHARD", 20_000, raising=False)  # a shard written before
    if not lora:
        # (the full fine-tune's save_pretrained, in shards too)
        real_sp = type(model).save_pretrained
        monkeypatch.setattr(
            type(model),
            "save_pretrained",
            lambda self, path, **kw: real_sp(self, path, **{**kw, "max_shard_size": 20_000}),
        )
    with pytest.raises(ro.RolloutError) as e:
        write(tmp_path, model)
    assert len(calls) == 2
    msg = str(e.value)
    assert "\n" not in msg and "No space left on device" in msg and "--resume" in msg
    assert not (tmp_path / "out" / ro.WEIGHTS_DIR).exists()
