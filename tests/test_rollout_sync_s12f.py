"""--rollout vllm weight syncs at scale (distill/train/kd/rollout.py), against the fake vLLM server
(tests/fakevllm.py); the NCCL parts of TRL's VLLMClient (CUDA) are stood in for."""

from types import SimpleNamespace

import pytest
import torch
import trl.trainer.utils  # noqa: F401 - before the stand-in vllm module (trl probes vllm)

from distill.train.kd.rollout import RolloutError, ServerRollout
from tests.fakevllm import FakeVLLM
from tests.test_kd_rollout import stand_in_vllm  # noqa: F401 - the stand-in vllm module
from tests.test_review_followups import two_processes
from tests.test_review_kd_rollout import accelerate_state  # noqa: F401 - before the stand-in


@pytest.fixture
def nccl_client(monkeypatch):
    """TRL's VLLMClient with its NCCL parts stood in for: records (method, process) of each."""
    import trl.generation.vllm_client as vc

    calls = []
    monkeypatch.setattr(vc, "is_vllm_available", lambda: True)
    monkeypatch.setattr(
        vc.VLLMClient, "init_communicator", lambda self, device: calls.append(("init", device))
    )
    monkeypatch.setattr(
        vc.VLLMClient, "update_model_params", lambda self, m: calls.append(("push", m.rank))
    )
    monkeypatch.setattr(vc.VLLMClient, "reset_prefix_cache", lambda self: None)
    return calls


def nccl_rollout(url, tmp_path, student):
    c = SimpleNamespace(resume=False, rollout_url=url, lora=False, weight_sync="nccl", lora_r=8,
                        model=str(student), output_dir=str(tmp_path / "out"))  # fmt: skip
    model = SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=1))
    return ServerRollout(c, SimpleNamespace(pad_token_id=0), model, tmp_path, str(student))


def broadcasting(monkeypatch):
    """accelerate's broadcast_object_list between stand-in processes called in rank order:
    process 0's objects are what the others get."""
    import accelerate.utils

    sent = []

    def broadcast(objects, from_process=0):
        if not sent:
            sent.append(list(objects))
            return objects
        return list(sent[0])

    monkeypatch.setattr(accelerate.utils, "broadcast_object_list", broadcast)


def test_a_full_fine_tune_under_ddp_pushes_its_weights_from_process_0_only(
    tmp_path, tiny_qwen, nccl_client, monkeypatch
):
    # --weight-sync nccl under DDP: every process built TRL's client, joined the server's
    # weight-transfer group (one trainer rank there) and pushed the whole model: the second
    # init hangs the run at its first sync. Process 0 alone pushes, as TRL's trainers do, and
    # every process then samples knowing the served weights are this step's.
    server = FakeVLLM(tiny_qwen).start()
    try:
        ranks = [nccl_rollout(server.url, tmp_path, tiny_qwen) for _ in range(2)]
        broadcasting(monkeypatch)
        for rank, r in enumerate(ranks):
            trainer = two_processes(rank)
            trainer.accelerator.device = f"cuda:{rank}"
            r.sync(trainer, SimpleNamespace(rank=rank), 3)
    finally:
        server.stop()
    assert nccl_client == [("init", "cuda:0"), ("push", 0)]
    assert ranks[1].client is None
    assert [r.names[r.base] for r in ranks] == [3, 3]


def test_a_push_failing_on_process_0_stops_every_process_with_its_line(
    tmp_path, tiny_qwen, nccl_client, monkeypatch
):
    import trl.generation.vllm_client as vc

    def gone(self, m):  # noqa: ANN001, ANN202 - the server died mid-push
        raise ConnectionError("Connection refused")

    monkeypatch.setattr(vc.VLLMClient, "update_model_params", gone)
    broadcasting(monkeypatch)
    server = FakeVLLM(tiny_qwen).start()
    lines = []
    try:
        ranks = [nccl_rollout(server.url, tmp_path, tiny_qwen) for _ in range(2)]
        for rank, r in enumerate(ranks):
            trainer = two_processes(rank)
            trainer.accelerator.device = f"cuda:{rank}"
            with pytest.raises(RolloutError) as e:
                r.sync(trainer, SimpleNamespace(rank=rank), 1)
            lines.append(str(e.value))
    finally:
        server.stop()
    assert "pushing the weights with TRL's VLLMClient failed" in lines[0]
    assert lines[1] == lines[0] and "--resume" in lines[0]
    assert ranks[1].client is None


def test_a_full_fine_tunes_server_restarted_mid_run_gives_stale_samples_not_the_base_models(
    tmp_path, tiny_qwen, nccl_client
):
    # --weight-sync nccl, --sync-steps 2: the server restarted after step 0's push serves the
    # base model again under the same name. Its samples at step 1 were recorded as step 0's
    # weights and trained as the student's. Each push now versions the weights (vLLM's
    # /update_weight_version, the dev routes the NCCL transfer is served with) and a sample is of
    # the version GET /weight_info reports: the restarted server's are stale.
    import json

    import torch

    server = FakeVLLM(tiny_qwen, dev_mode=True).start()
    try:
        r = nccl_rollout(server.url, tmp_path, tiny_qwen)
        r.cfg.sync_steps, r.cfg.max_staleness = 2, 1
        trainer = SimpleNamespace(
            state=SimpleNamespace(global_step=0),
            gen_kwargs={"max_new_tokens": 2, "temperature": 1.0},
            is_world_process_zero=lambda: True,
            accelerator=SimpleNamespace(device="cpu", unwrap_model=lambda m: m),
        )
        inputs = {"prompts": torch.tensor([[5, 6]]), "prompt_attention_mask": torch.ones(1, 2)}
        r.generate(trainer, SimpleNamespace(rank=0), dict(inputs))  # step 0: pushed, sampled
        server.weights = [[None, server.base]]  # restarted: the base weights, no version
        trainer.state.global_step = 1  # no push (--sync-steps 2)
        _, _, labels = r.generate(trainer, SimpleNamespace(rank=0), dict(inputs))
    finally:
        server.stop()
    assert nccl_client.count(("push", 0)) == 1
    got = [json.loads(x) for x in (tmp_path / "rollouts.jsonl").read_text().splitlines()]
    assert [(x["step"], x["stale"]) for x in got] == [(0, False), (1, True)]
    assert (labels == -100).all()  # the base model's sample trains nothing


def test_a_lora_server_restarted_between_syncs_gets_the_adapter_loaded_again(
    tmp_path, tiny_qwen, capsys
):
    # --sync-steps 2: the server restarted after step 0's sync answered 404 for the adapter at
    # step 1 and the run stopped (a checkpoint and --resume, by hand, each restart). The adapter
    # of the last sync is still on disk: it is loaded again under its name and step 1 samples it.
    from distill.train import run
    from distill.train.kd.rollout import run_name
    from tests.test_kd_rollout import cfg, rows
    from tests.tiny import make_tiny_model

    class Restarting(FakeVLLM):
        restarted = False

        def complete(self, body):  # noqa: ANN001, ANN202
            if self.requests == 2 and not self.restarted:  # before step 1's sampling
                FakeVLLM.__init__(self, tiny_qwen)  # a fresh server: no adapter loaded
                self.restarted, self.requests = True, 2
            return super().complete(body)

    teacher = make_tiny_model(tmp_path / "teacher", "qwen2", seed=1)
    server = Restarting(tiny_qwen).start()
    try:
        out = run(cfg(tmp_path, tiny_qwen, teacher, server.url, sync_steps=2, max_steps=3))
    finally:
        server.stop()
    name = f"{run_name(out)}-step-"
    assert server.restarted
    assert [x["name"] for x in server.loads] == [f"{name}0", f"{name}2"]
    recorded = rows(out / "rollouts.jsonl")
    assert [(r["step"], r["sync_step"], r["stale"]) for r in recorded] == [
        (s, 2 * (s // 2), False) for s in range(3) for _ in range(4)
    ]
    assert f"had lost the adapter {name}0" in capsys.readouterr().err


def test_a_full_fine_tunes_reload_writes_shards_of_the_merged_size(
    tmp_path, tiny_qwen, monkeypatch
):
    # --weight-sync reload of a full fine-tune wrote save_pretrained's default single shard (up to
    # 50 GB): on a GPU the CPU held a copy of the whole student at every sync, which the LoRA
    # path's MERGED_SHARD shards avoid. Both write shards of MERGED_SHARD now.
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    import distill.train.kd.rollout as rollout

    model = AutoModelForCausalLM.from_pretrained(str(tiny_qwen))
    size = sum(p.numel() * p.element_size() for p in model.parameters())
    monkeypatch.setattr(rollout, "MERGED_SHARD", size // 4)
    trainer = SimpleNamespace(accelerator=SimpleNamespace(unwrap_model=lambda m: m))
    r = ServerRollout.__new__(ServerRollout)  # (write_weights reads its output folder only)
    r.out = tmp_path
    folder = r.write_weights(trainer, model, tmp_path / "rollout-weights" / "step-000001")
    shards = sorted(folder.glob("*.safetensors"))
    assert len(shards) >= 4 and (folder / "model.safetensors.index.json").is_file()
    got = {k: v for f in shards for k, v in load_file(str(f)).items()}
    assert all(torch.equal(got[k], v) for k, v in model.state_dict().items() if k in got)


@pytest.mark.usefixtures("accelerate_state")  # (made before the stand-in blanks RANK...)
@pytest.mark.parametrize("positions, want", [(4096, 128 + 64), (150, 150)])
def test_colocated_vllm_has_room_for_a_long_prompts_whole_sample(
    tmp_path, request, positions, want
):
    # --vllm-mode colocate built vLLM with max_model_len = --max-length: a prompt near
    # --max-length (a traces source, --lmbda < 1) had its sample cut where vLLM's context ended,
    # not at --max-new-tokens as model.generate and a server sample it. The room is both, within
    # the student's max_position_embeddings (vLLM refuses a longer context).
    from distill.train.kd.rollout import ColocateRollout

    c = SimpleNamespace(resume=False, lora=False, lora_r=8, vllm_gpu_memory_utilization=0.3,
                        max_length=128, max_new_tokens=64, seed=0)  # fmt: skip
    model = SimpleNamespace(
        generation_config=SimpleNamespace(eos_token_id=1),
        config=SimpleNamespace(max_position_embeddings=positions),
    )
    made = request.getfixturevalue("stand_in_vllm")
    ColocateRollout(c, SimpleNamespace(pad_token_id=0), model, tmp_path, "m")
    assert made[0].kw["max_model_len"] == want


def test_a_long_sample_is_waited_for_as_long_as_its_tokens_take(tmp_path, tiny_qwen, monkeypatch):
    # Every completion request was given 600 s: a reply comes when its last sample ends, and a
    # batch of 32k-token samples on a loaded server (tens of tokens/s per sequence) takes
    # longer, so the run stopped with 'stopped answering (timed out)', and again on --resume.
    # The wait now grows with --max-new-tokens: at least 10 tokens/s of each sample's length.
    import distill.train.kd.rollout as rollout
    from tests.test_kd_rollout import bare_rollout

    server = FakeVLLM(tiny_qwen).start()
    try:
        r = bare_rollout(server.url, tmp_path / "out", tiny_qwen)
    finally:
        server.stop()
    waits = []

    def answer(url, key, command, method, route, body, timeout):  # noqa: ANN001, ANN202
        waits.append((route, timeout))
        return {
            "model": "base",
            "choices": [{"index": 0, "token_ids": [4, 1], "finish_reason": "stop"}],
        }

    monkeypatch.setattr(rollout, "_request", answer)
    for tokens in (256, 32768):
        gen = {"max_new_tokens": tokens, "temperature": 1.0, "top_k": 0, "top_p": 1.0}
        assert r.sample([[5, 6, 7]], 1, gen)[0][0] == [4, 1]
    assert [w[0] for w in waits] == ["/completions"] * 2
    assert waits[0][1] >= 600 and waits[1][1] >= 32768 / 10


def test_rollouts_jsonl_numbers_a_steps_rows_across_its_micro_batches(tmp_path):
    # --gradient-accumulation-steps 2: each micro-batch's rollouts were numbered from 0, so a
    # step's rows read 0, 1, 0, 1 (two rollouts called row 0, on one rank) and a rollout could
    # not be told from another. A step's rows are numbered on across its micro-batches.
    import json

    from tests.test_kd_rollout import _Given

    inputs = {"prompts": torch.tensor([[5, 6], [7, 8]]), "prompt_attention_mask": torch.ones(2, 2)}
    r = _Given.rollout(tmp_path, [([4, 1], "stop", "given")] * 2, 1)
    trainer = _Given.trainer(4)
    for step in (0, 0, 1, 1):
        trainer.state.global_step = step
        r.generate(trainer, None, dict(inputs))
    got = [json.loads(x) for x in (tmp_path / "rollouts.jsonl").read_text().splitlines()]
    assert [(x["step"], x["row"]) for x in got] == [(0, 0), (0, 1), (0, 2), (0, 3)] + [
        (1, 0), (1, 1), (1, 2), (1, 3)
    ]  # fmt: skip


def test_a_prompt_past_the_servers_context_names_the_max_model_len_to_serve_with(
    tmp_path, tiny_qwen
):
    # A server started with a --max-model-len below --max-length + --max-new-tokens answers a
    # long prompt of a traces source with vLLM's 400; the run stopped with 'check the server
    # (the vllm serve line), then --resume', and the resume stopped at the same batch again.
    # The line says which --max-model-len holds the run.
    from tests.test_kd_rollout import bare_rollout

    class Short(FakeVLLM):
        def complete(self, body):  # noqa: ANN001, ANN202
            message = (
                "This model's maximum context length is 6 tokens. However, you requested 7 "
                "tokens (3 in the messages, 4 in the completion). Please reduce the length of "
                "the messages or completion."
            )
            return 400, {"object": "error", "message": message, "code": 400}

    server = Short(tiny_qwen).start()
    try:
        r = bare_rollout(server.url, tmp_path / "out", tiny_qwen)
        r.cfg.max_length = 128
        gen = {"max_new_tokens": 4, "temperature": 1.0, "top_k": 0, "top_p": 1.0}
        with pytest.raises(RolloutError) as e:
            r.sample([[5, 6, 7]], 1, gen)
    finally:
        server.stop()
    line = str(e.value)
    assert "--max-model-len 132 or more" in line and "--resume" in line and "\n" not in line
