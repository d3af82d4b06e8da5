"""Review of on-policy distillation's rollouts (kd/rollout.py), the verifier reward term
(kd/reward.py) and the kd trainer (kd/trainer.py): each test failed before its fix."""

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import trl.trainer.utils  # noqa: F401 - before the stand-in vllm module (trl probes vllm)

from distill.train import build_trainer
from distill.train.kd.rollout import ServerRollout
from tests.fakevllm import FakeVLLM
from tests.test_kd import kd_cfg
from tests.test_kd_rollout import stand_in_vllm  # noqa: F401 - the stand-in vllm module


def penalised_copy(src: Path, dest: Path) -> Path:
    """The tiny student with a generation_config.json as Qwen2.5-Instruct's: a repetition
    penalty and a min_p the student's policy does not have."""
    shutil.copytree(src, dest)
    gen = json.loads((dest / "generation_config.json").read_text())
    gen.update(repetition_penalty=1.3, min_p=0.2, do_sample=True, temperature=0.7, top_k=20)
    (dest / "generation_config.json").write_text(json.dumps(gen))
    return dest


def test_the_hf_path_samples_the_policy_not_the_models_repetition_penalty(tmp_path, tiny_qwen):
    # model.generate fills every field the passed GenerationConfig leaves unset from the model's
    # generation_config.json (Qwen2.5-Instruct: repetition_penalty 1.1): the samples were not
    # the policy's, which the reverse KL / pg term treat them as.
    student = penalised_copy(tiny_qwen, tmp_path / "student")
    cfg = kd_cfg(tmp_path, student, method="onpolicy", teacher_model=str(tiny_qwen))
    trainer, _ = build_trainer(cfg)
    model = trainer.accelerator.unwrap_model(trainer.model).get_base_model()
    used, _ = model._prepare_generation_config(trainer.gen_config)
    assert used.repetition_penalty in (None, 1.0)
    assert used.min_p in (None, 0.0)
    assert used.top_k == 0 and used.temperature == cfg.onpolicy_temperature


def test_the_server_samples_without_the_models_repetition_penalty_or_min_p(tmp_path, tiny_qwen):
    # vLLM's completions endpoint takes every field a request leaves out from the model's
    # generation_config.json (--generation-config auto): repetition_penalty and min_p too.
    server = FakeVLLM(tiny_qwen).start()
    try:
        cfg = SimpleNamespace(rollout_url=server.url, lora=True, weight_sync=None, lora_r=8,
                              output_dir=str(tmp_path / "out"))  # fmt: skip
        tok = SimpleNamespace(pad_token_id=0)
        model = SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=1))
        r = ServerRollout(cfg, tok, model, tmp_path / "out", str(tiny_qwen))
        gen = {"max_new_tokens": 3, "temperature": 1.0, "top_k": 0, "top_p": 1.0}
        r.sample([[5, 6, 7]], 1, gen)
    finally:
        server.stop()
    body = server.bodies[-1]
    assert body["repetition_penalty"] == 1.0 and body["min_p"] == 0.0
    assert body.get("presence_penalty", 0.0) == 0.0 and body.get("frequency_penalty", 0.0) == 0.0


def test_a_full_fine_tune_whose_server_dies_mid_run_is_one_line_and_a_checkpoint(
    tmp_path, tiny_qwen, monkeypatch
):
    # Full fine-tune, server mode: the weights go through TRL's VLLMClient (requests + NCCL).
    # A server gone mid-run raised requests' ConnectionError (or TRL's bare "Request failed"
    # Exception) out of the trainer: a traceback and no checkpoint, where the LoRA path gives
    # one line and a checkpoint --resume continues from. Only the NCCL parts are stood in for.
    import pytest
    import requests
    import trl.generation.vllm_client as vc

    from distill.errors import DistillError

    server = FakeVLLM(tiny_qwen).start()
    monkeypatch.setattr(vc, "is_vllm_available", lambda: True)
    monkeypatch.setattr(vc.VLLMClient, "init_communicator", lambda self, device: None)
    monkeypatch.setattr(vc.VLLMClient, "reset_prefix_cache", lambda self: None)
    saved = []
    try:
        c = SimpleNamespace(rollout_url=server.url, lora=False, weight_sync="nccl", lora_r=8, sync_steps=1,
                            max_staleness=0, output_dir=str(tmp_path / "out"))  # fmt: skip
        model = SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=1))
        r = ServerRollout(c, SimpleNamespace(pad_token_id=0), model, tmp_path, str(tiny_qwen))
        trainer = SimpleNamespace(
            state=SimpleNamespace(global_step=0),
            gen_kwargs={"max_new_tokens": 2, "temperature": 1.0},
            is_world_process_zero=lambda: True,
            accelerator=SimpleNamespace(device="cpu", unwrap_model=lambda m: m),
            model_wrapped=model,
            args=None,
            control=None,
            _save_checkpoint=lambda m, trial: saved.append(trainer.state.global_step),
            callback_handler=SimpleNamespace(on_save=lambda *a: None),
        )
        inputs = {"prompts": torch.tensor([[5, 6]]), "prompt_attention_mask": torch.ones(1, 2)}
        monkeypatch.setattr(vc.VLLMClient, "update_model_params", lambda self, m: None)
        r.generate(trainer, model, dict(inputs))  # step 0: pushed, sampled
        gone = requests.exceptions.ConnectionError("Connection refused")
        for fault in (gone, Exception("Request failed: 500, Internal Server Error")):
            trainer.state.global_step += 1

            def push(self, m, fault=fault):  # noqa: ANN001, ANN202
                raise fault

            monkeypatch.setattr(vc.VLLMClient, "update_model_params", push)
            with pytest.raises(DistillError) as e:
                r.generate(trainer, model, dict(inputs))
            msg = str(e.value)
            assert "\n" not in msg and server.url in msg and "--resume" in msg, msg
            assert saved[-1] == trainer.state.global_step
    finally:
        server.stop()


def test_a_server_dying_mid_accumulation_leaves_kd_json_at_the_checkpoints_count(
    tmp_path, tiny_qwen
):
    # --gradient-accumulation-steps 2: the server goes away on the second micro-batch of step 2.
    # The checkpoint saved then is the state after step 1, and --resume trains step 2 again
    # from its first micro-batch; kd.json counted that first micro-batch's teacher tokens
    # already, so the resumed run counted them twice.
    import pytest

    from distill.errors import DistillError
    from distill.train import run
    from tests.test_kd_rollout import cfg as rollout_cfg
    from tests.test_kd_rollout import rows

    server = FakeVLLM(tiny_qwen, die_after=3).start()  # step 1: requests 1-2; step 2: 3, dies
    try:
        c = rollout_cfg(tmp_path, tiny_qwen, tiny_qwen, server.url, gradient_accumulation_steps=2)
        with pytest.raises(DistillError, match="stopped answering"):
            run(c)
    finally:
        server.stop()
    out = tmp_path / "out"
    state = json.loads((out / "checkpoint-1" / "trainer_state.json").read_text())
    assert state["global_step"] == 1
    log = rows(out / "loss.jsonl")
    assert [r["step"] for r in log] == [1]
    scored = json.loads((out / "kd.json").read_text())["teacher_tokens_scored"]
    assert scored == log[0]["teacher_tokens"] > 0


def test_teacher_tokens_count_every_process(tmp_path, tiny_qwen, monkeypatch):
    # Under DDP (torchrun) each process trains its own rows; kd.json (and the card's "tokens the
    # teacher scored") took rank 0's count alone: half the real number on two GPUs. Two
    # processes are stood in for by accelerate's gather concatenating two equal counts.
    from tests.test_kd import first_batch

    cfg = kd_cfg(tmp_path, tiny_qwen, method="onpolicy", teacher_model=str(tiny_qwen))
    trainer, _ = build_trainer(cfg)
    batch = first_batch(trainer)
    mine = int((batch["labels"][:, 1:] != -100).sum())
    acc = trainer.accelerator
    monkeypatch.setattr(type(acc), "num_processes", property(lambda self: 2))
    monkeypatch.setattr(acc, "gather", lambda t: torch.cat([t.reshape(-1)] * 2))
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1
    before = trainer.teacher_tokens
    trainer.compute_loss(trainer.model, dict(batch))
    assert trainer.teacher_tokens - before == 2 * mine


def _server(answer, listing=None):  # noqa: ANN001, ANN202
    """A server whose GET /v1/models lists a base model (or answers `listing(handler)`) and
    whose POST answers `answer(handler)`."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):  # noqa: ANN002
            pass

        def do_GET(self):  # noqa: N802
            if listing is not None:
                return listing(self)
            raw = json.dumps({"data": [{"id": "base", "parent": None}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            answer(self)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/v1"


def _cut_short(h):  # noqa: ANN001, ANN202 - killed while sending a long reply
    h.send_response(200)
    h.send_header("Content-Length", "100000")
    h.end_headers()
    h.wfile.write(b'{"model": "base", "choices": [{"index": 0, "token_ids": [4, ')
    h.wfile.flush()
    h.close_connection = True


def _html_page(h):  # noqa: ANN001, ANN202 - a proxy's page in front of a server gone away
    raw = b"<html><body>upstream gone</body></html>"
    h.send_response(200)
    h.send_header("Content-Length", str(len(raw)))
    h.end_headers()
    h.wfile.write(raw)


def test_a_reply_cut_short_or_not_json_is_a_rollout_error_and_a_checkpoint(tmp_path, tiny_qwen):
    # A server killed while sending its reply (http.client.IncompleteRead, not an OSError) or a
    # proxy's 200 page (json fails, then reply.get on a str) was a traceback out of the trainer
    # and no checkpoint, not the one line --resume continues after.
    import pytest

    from distill.errors import DistillError
    from distill.train.kd.rollout import RolloutError

    for answer, why in ((_cut_short, "stopped answering"), (_html_page, "upstream gone")):
        httpd, url = _server(answer)
        try:
            cfg = SimpleNamespace(rollout_url=url, lora=True, weight_sync=None, lora_r=8,
                                  output_dir=str(tmp_path / "out"))  # fmt: skip
            model = SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=1))
            r = ServerRollout(cfg, SimpleNamespace(pad_token_id=0), model, tmp_path, "m")
            gen = {"max_new_tokens": 3, "temperature": 1.0}
            with pytest.raises(RolloutError) as e:
                r.sample([[5, 6, 7]], 1, gen)
            msg = str(e.value)
            assert "\n" not in msg and url in msg and why in msg and "--resume" in msg, msg
        finally:
            httpd.shutdown()
            httpd.server_close()
    # the same page in answer to the first GET /models: one line too, not AttributeError
    httpd, url = _server(_html_page, listing=_html_page)
    try:
        cfg = SimpleNamespace(
            rollout_url=url, lora=True, weight_sync=None, lora_r=8, output_dir=str(tmp_path)
        )
        model = SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=1))
        with pytest.raises(DistillError, match="lists no base model"):
            ServerRollout(cfg, SimpleNamespace(pad_token_id=0), model, tmp_path, "m")
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_resume_from_an_older_checkpoint_counts_the_teacher_tokens_once(tmp_path, tiny_qwen):
    # kd.json is rewritten at every save: resuming from a checkpoint older than the newest save
    # (the newest removed or set aside, as train's resume allows) added the steps after it
    # again on top of the newest save's count.
    from distill.train import run
    from tests.test_kd_rollout import rows

    out = tmp_path / "out"
    c = dict(teacher_model=str(tiny_qwen), max_steps=4, save_steps=2)
    run(kd_cfg(tmp_path, tiny_qwen, **c))
    whole = json.loads((out / "kd.json").read_text())["teacher_tokens_scored"]
    assert whole == rows(out / "loss.jsonl")[-1]["teacher_tokens"] > 0
    shutil.rmtree(out / "checkpoint-4")
    run(kd_cfg(tmp_path, tiny_qwen, resume=True, **c))
    assert json.loads((out / "kd.json").read_text())["teacher_tokens_scored"] == whole
    assert [r["teacher_tokens"] for r in rows(out / "loss.jsonl")][-1] == whole


@pytest.fixture
def accelerate_state():
    """accelerate's process state made before the stand-in blanks RANK / WORLD_SIZE."""
    from accelerate import PartialState

    return PartialState()


def test_the_vllm_lora_rank_is_one_vllm_accepts(tmp_path, accelerate_state, stand_in_vllm):  # noqa: F811
    # vLLM's --max-lora-rank / LLM(max_lora_rank=) takes 1, 8, 16, 32, 64, 128, 256, 320 or 512
    # only (a bound: an adapter of a lower rank loads): --lora-r 4 printed a `vllm serve` line
    # vLLM refuses and made colocate's LLM raise.
    from distill.train.kd.rollout import serve_command
    from tests.test_kd_rollout import colocate

    for r, bound in ():
        c = SimpleNamespace(rollout_url="http://h:8000/v1", lora=True, weight_sync=None, lora_r=r)
        assert f"--max-lora-rank {bound} " in serve_command(c, "m")
    model = torch.nn.Linear(2, 2)
    r, _ = colocate(tmp_path, True, model)
    r.cfg.lora_r = 4
    type(r)(r.cfg, SimpleNamespace(pad_token_id=0), model, tmp_path, "m")
    assert stand_in_vllm[-1].kw["max_lora_rank"] == 8
