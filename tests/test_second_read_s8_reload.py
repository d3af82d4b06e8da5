# ruff: noqa: F811 - the fixtures of tests/test_kd_rollout.py, imported, are parameters here
"""Second read of --rollout vllm --weight-sync reload (distill/train/kd/rollout.py, d2f9a37):
a sync that fails never leaves the server paused nor half a model on disk, a full disk is one
line and a checkpoint, and the merged weights vLLM reloads are the policy the trainer samples
(tied embeddings, trained token rows), loaded as vLLM loads them (tests/fakevllm.py)."""

import errno
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from distill.errors import DistillError
from distill.train import run
from distill.train.kd import rollout as ro
from tests.test_kd_rollout import bare_rollout, cfg, fake, teacher  # noqa: F401 - fixtures


def reload_rollout(tmp_path, tiny_qwen, url):
    c = SimpleNamespace(rollout_url=url, lora=True, weight_sync="reload", lora_r=8,
                        output_dir=str(tmp_path / "out"))  # fmt: skip
    model = SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=1))
    return ro.ServerRollout(c, SimpleNamespace(pad_token_id=0), model, tmp_path, str(tiny_qwen))


def failing(monkeypatch, route, error, after=False):
    """_request raising `error` on `route` (after the server got it, when `after`)."""
    real = ro._request

    def request(url, key, command, method, path, body, timeout):
        if path == route:
            if after:
                real(url, key, command, method, path, body, timeout)
            raise error
        return real(url, key, command, method, path, body, timeout)

    monkeypatch.setattr(ro, "_request", request)


def test_ctrl_c_during_the_reload_does_not_leave_the_server_paused(
    tmp_path, tiny_qwen, fake, monkeypatch
):
    # Ctrl-C while the server reloads (seconds to minutes for a real model): only a RolloutError
    # resumed it, so the server stayed paused and every later request to it (another run, an
    # eval) queued forever.
    server = fake(dev_mode=True)
    r = reload_rollout(tmp_path, tiny_qwen, server.url)
    failing(monkeypatch, "/collective_rpc", KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        r._reload(tmp_path / "w", "v")
    assert server.dev_calls == ["/pause?mode=wait", "/resume"] and not server.paused


def test_a_pause_whose_answer_was_lost_is_undone(tmp_path, tiny_qwen, fake, monkeypatch):
    # The server paused but its answer never came (a timeout, a proxy dropping the reply): the
    # run stopped with the server paused.
    server = fake(dev_mode=True)
    r = reload_rollout(tmp_path, tiny_qwen, server.url)
    lost = ro.RolloutError(f"--rollout-url {r.url} stopped answering (timed out); restart it")
    failing(monkeypatch, "/pause?mode=wait", lost, after=True)
    with pytest.raises(ro.RolloutError, match="stopped answering"):
        r._reload(tmp_path / "w", "v")
    assert server.dev_calls == ["/pause?mode=wait", "/resume"] and not server.paused


def test_a_full_disk_while_writing_the_weights_is_one_line_a_checkpoint_and_no_half_copy(
    tmp_path, tiny_qwen, teacher, fake, monkeypatch
):
    # Each sync writes the whole model: a full disk raised OSError out of the trainer (a
    # traceback, no checkpoint of the steps done) and left the half-written copy in OUTPUT_DIR.
    # (the merged checkpoint's shards are written with safetensors' save_file, s9)
    import safetensors.torch

    real, calls = safetensors.torch.save_file, []

    def save(tensors, filename, metadata=None):
        if "rollout-weights" not in str(filename):
            return real(tensors, filename, metadata=metadata)
        calls.append(filename)
        if len(calls) < 2:
            return real(tensors, filename, metadata=metadata)
        Path(filename).write_bytes(b"\0" * 64)  # the part that fit
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", save)
    server = fake(dev_mode=True)
    with pytest.raises(DistillError) as e:
        run(cfg(tmp_path, tiny_qwen, teacher, server.url, weight_sync="reload", save_steps=1000))
    msg = str(e.value)
    assert "\n" not in msg and "No space left on device" in msg and "--resume" in msg
    out = tmp_path / "out"
    assert not (out / "rollout-weights").exists()
    assert (out / "checkpoint-1" / "trainer_state.json").is_file()  # step 1's sync failed
    assert len(server.reloads) == 1 and not server.paused


def test_the_merged_weights_vllm_reloads_are_the_policy_with_tied_embeddings_and_token_rows(
    tmp_path, tiny_qwen
):
    # A student with tied embeddings (Qwen2.5-0.5B, gemma-3), LoRA on every linear layer and
    # trained token rows: the checkpoint written, loaded as vLLM reloads it (into the served
    # model, by name, a missing weight kept), gives the logits the trainer's policy gives.
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(tiny_qwen)
    config.tie_word_embeddings = True
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_config(config).eval()
    served = AutoModelForCausalLM.from_config(config).eval()
    served.load_state_dict(base.state_dict())
    q = base.model.layers[0].self_attn.q_proj.weight.detach().clone()
    rows = [3, 5, 7]
    lora = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM",
                      trainable_token_indices=rows)  # fmt: skip
    policy = get_peft_model(base, lora)
    with torch.no_grad():  # as if trained
        for _, p in policy.named_parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.5)
    policy.eval()
    r = ro.ServerRollout.__new__(ro.ServerRollout)
    r.out = tmp_path / "out"
    trainer = SimpleNamespace(accelerator=SimpleNamespace(unwrap_model=lambda m: m))
    folder = r.write_weights(trainer, policy, r.out / ro.WEIGHTS_DIR / "step-000001")
    tensors = load_file(str(folder / "model.safetensors"))
    assert not any("lora" in k or "base_layer" in k or "trainable_tokens" in k for k in tensors)
    missing, _ = served.load_state_dict(tensors, strict=False)
    assert set(missing) <= {"lm_head.weight"}  # tied: the embedding is the head
    assert served.lm_head.weight.data_ptr() == served.model.embed_tokens.weight.data_ptr()
    ids = torch.tensor([[1, 3, 9, 5, 7, 2, 11]])
    with torch.no_grad():
        want, got = policy(input_ids=ids).logits, served(input_ids=ids).logits
    assert torch.allclose(got, want, atol=1e-5), (got - want).abs().max()
    # the trainer's weights are only read, never merged into
    assert torch.equal(
        policy.base_model.model.model.layers[0].self_attn.q_proj.base_layer.weight, q
    )


def test_the_printed_command_binds_the_loopback_the_url_names():
    # --rollout-url http://[::1]:8000/v1: the printed command bound 127.0.0.1, where the run
    # (asking ::1) never reaches it.
    c = SimpleNamespace(rollout_url="http://[::1]:8000/v1", lora=True, weight_sync="reload")
    assert " --host ::1 --port 8000" in ro.serve_command(c, "m")
    c.rollout_url = "http://localhost:8000/v1"
    assert " --host 127.0.0.1 --port 8000" in ro.serve_command(c, "m")


def test_a_sharded_student_is_refused_before_process_0_writes_a_shard(tmp_path, tiny_qwen, fake):
    # FSDP / ZeRO-3 (recipes/accelerate/fsdp.yaml, zero3.yaml): process 0 alone deep-copied,
    # merged and saved its shard of the weights (or waited alone on the gather FSDP2's save
    # needs): the server got a wrong model, or the run hung.
    server = fake(dev_mode=True)
    r = reload_rollout(tmp_path, tiny_qwen, server.url)
    zero = SimpleNamespace(state=SimpleNamespace(deepspeed_plugin=SimpleNamespace(zero_stage=3)))
    for trainer in (
        SimpleNamespace(is_fsdp_enabled=True, accelerator=SimpleNamespace()),
        SimpleNamespace(is_deepspeed_enabled=True, accelerator=zero),
    ):
        with pytest.raises(DistillError, match="under FSDP or DeepSpeed ZeRO-3"):
            r.sync(trainer, None, 0)
    assert server.dev_calls == [] and not (r.out / ro.WEIGHTS_DIR).exists()
    # the adapter path too (its save_adapter is process 0's save_pretrained of a shard)
    lora = bare_rollout(server.url, tmp_path / "lora", tiny_qwen)
    with pytest.raises(DistillError, match="under FSDP or DeepSpeed ZeRO-3"):
        lora.sync(SimpleNamespace(is_fsdp_enabled=True, accelerator=SimpleNamespace()), None, 0)
    assert server.loads == [] and not (tmp_path / "lora" / ro.ADAPTERS_DIR).exists()
    zero.state.deepspeed_plugin.zero_stage = 2  # every process holds the whole model
    assert not ro._sharded(SimpleNamespace(is_deepspeed_enabled=True, accelerator=zero))
