"""Second read of the --rollout vllm sync commits (1bdc2f5..da5268a, distill/train/kd/rollout.py),
against the fake vLLM server (tests/fakevllm.py); TRL's NCCL push is stood in for."""

from types import SimpleNamespace

import pytest
import torch
import trl.trainer.utils  # noqa: F401 - before the stand-in vllm module (trl probes vllm)

from distill.train.kd.rollout import RolloutError
from tests.fakevllm import FakeVLLM
from tests.test_kd_rollout import stand_in_vllm  # noqa: F401 - the stand-in vllm module
from tests.test_review_kd_rollout import accelerate_state  # noqa: F401 - before the stand-in
from tests.test_rollout_sync_s12f import nccl_client, nccl_rollout  # noqa: F401 - fixture


@pytest.mark.usefixtures("accelerate_state")  # (made before the stand-in blanks RANK...)
def test_colocated_vllm_keeps_a_rope_scaled_students_long_context(tmp_path, request):
    # b0624f0 capped max_model_len at max_position_embeddings: a YaRN student (Qwen2.5's
    # 32768 positions, factor 4: vLLM serves 131072) with --max-length 30000 and
    # --max-new-tokens 8192 got a vLLM of 32768, which cut a long prompt's sample short of
    # --max-new-tokens (the very cut b0624f0 meant to end; model.generate samples them all).
    from transformers import Qwen2Config

    from distill.train.kd.rollout import ColocateRollout

    c = SimpleNamespace(resume=False, lora=False, lora_r=8, vllm_gpu_memory_utilization=0.3,
                        max_length=30000, max_new_tokens=8192, seed=0)  # fmt: skip
    rope = {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}
    model = SimpleNamespace(
        generation_config=SimpleNamespace(eos_token_id=1),
        config=Qwen2Config(max_position_embeddings=32768, rope_scaling=rope),
    )
    made = request.getfixturevalue("stand_in_vllm")
    ColocateRollout(c, SimpleNamespace(pad_token_id=0), model, tmp_path, "m")
    assert made[0].kw["max_model_len"] == 30000 + 8192


@pytest.mark.usefixtures("nccl_client")
def test_a_server_that_does_not_keep_the_pushed_version_stops_the_run_at_the_push(
    tmp_path, tiny_qwen
):
    # 8529909: a server whose GET /weight_info answers is taken as versioned, and every sample
    # is then of the version it reports. One that answers /update_weight_version without keeping
    # it reported 'default' after every push: every sample of the run dropped as stale, the run
    # training nothing (a counter in loss.jsonl its only sign). The push now reads it back.
    class Forgetting(FakeVLLM):
        def dev(self, route, body):  # noqa: ANN001, ANN202
            if route == "/update_weight_version":
                self.dev_calls.append(route)
                return 200, {"success": True}
            return super().dev(route, body)

    server = Forgetting(tiny_qwen, dev_mode=True).start()
    try:
        r = nccl_rollout(server.url, tmp_path, tiny_qwen)
        trainer = SimpleNamespace(
            is_world_process_zero=lambda: True,
            accelerator=SimpleNamespace(device="cpu", unwrap_model=lambda m: m),
        )
        with pytest.raises(RolloutError) as e:
            r.sync(trainer, SimpleNamespace(rank=0), 0)
    finally:
        server.stop()
    assert "GET /weight_info reports 'default'" in str(e.value)
    assert "--resume" in str(e.value)


def test_a_batch_whose_rollouts_are_all_stale_is_said_on_stderr(tmp_path, capsys):
    # Every rollout of a batch stale (a restarted server's base weights): the step trained
    # nothing and only loss.jsonl's rollouts_stale counter showed it.
    from tests.test_kd_rollout import _Given

    inputs = {"prompts": torch.tensor([[5, 6], [7, 8]]), "prompt_attention_mask": torch.ones(2, 2)}
    r = _Given.rollout(tmp_path, [([4, 1], "stop", "default")] * 2, 1)
    trainer = _Given.trainer(4)
    r.generate(trainer, None, dict(inputs))
    err = capsys.readouterr().err
    assert "step 0: all 2 rollouts of this batch are stale" in err and "default" in err
    fresh = _Given.rollout(tmp_path, [([4, 1], "stop", "given")] * 2, 1)
    fresh.generate(trainer, None, dict(inputs))
    assert "stale" not in capsys.readouterr().err
