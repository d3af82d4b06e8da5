"""Second read of distill run's s16 changes (301c310, 7ee3689): what they missed.

1. eval's max_tokens taken from generate is capped at a served model's max_model_len as GET
   /models lists it. vLLM lists a LoRA adapter it serves (`--lora-modules student=DIR`, how a
   trained student is served: DESIGN.md) without max_model_len, naming its base as `parent`:
   the student was asked generate's length and answered every request with a 400.
2. A bare hub name and NAME:CONFIG are one source when CONFIG is the bare name's default:
   datasets' lookup of it asked the Hub at each run's start and, offline, answered from its
   cache `default` whichever config was cached (two sources offline, one online).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from aiohttp import web

from distill.pipeline import run as pipeline_run
from tests.test_run_eval_context_s16 import ShortContextServer

URL = "http://127.0.0.1:9/v1"  # (nothing is asked: planned configs)


class LoraServer(ShortContextServer):
    """vLLM serving base model `base` at --max-model-len 2048 with the trained adapter as
    `fake-r1` (--lora-modules fake-r1=DIR): vLLM's GET /v1/models lists the adapter without
    max_model_len, its base as `parent` (vllm/entrypoints/openai/serving_models.py; before
    0.5, as `root` and no parent)."""

    card = {"root": "/adapters/student", "parent": "base"}

    async def models(self, request: web.Request) -> web.Response:
        listed = [
            {"id": "base", "object": "model", "root": "/models/base", "parent": None,
             "max_model_len": self.context},
            {"id": self.model, "object": "model", **self.card},
        ]  # fmt: skip
        return web.json_response({"object": "list", "data": listed})


@pytest.fixture(params=[{"root": "/adapters/student", "parent": "base"}, {"root": "base"}])
def lora_server(request):
    s = LoraServer()
    s.card = request.param
    s.start()
    yield s
    s.stop()


def served_recipe(tmp_path, url):
    sections = {
        "run": {"dir": str(tmp_path / "run")},
        "generate": {"teacher": "openai", "model": "fake-r1", "base_url": url,
                     "data": "builtin:arithmetic?n=2", "out": "{run_dir}/traces.jsonl"},
        "eval": {"model": "fake-r1", "backend": "openai", "base_url": url,
                 "data": "builtin:arithmetic?start=100&n=2", "out": "{run_dir}/eval.json"},
    }  # fmt: skip
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(sections))
    return path


def test_a_served_lora_student_is_asked_what_its_bases_context_leaves(
    tmp_path, lora_server, capsys
):
    result = pipeline_run(served_recipe(tmp_path, lora_server.url), only=["eval"])
    asked = [e for e in lora_server.log if "max_tokens" in e]
    assert asked and not any(e.get("refused") for e in asked)  # every request a 400 before
    assert all(e["max_tokens"] < 2048 for e in asked)
    assert result["student_pass@1"] == 1.0
    said = capsys.readouterr().out
    assert "fake-r1's context of 2048 tokens" in said and "base" in said
    assert json.loads((tmp_path / "run" / "eval.json").read_text())["max_tokens"] < 2048


# --------------------------------------------------------------------------- 2. hub configs

CARD = """---
configs:
- config_name: cfgA
  data_files: cfgA/*.parquet
  default: true
- config_name: cfgB
  data_files: cfgB/*.parquet
---
# org/x
"""


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """org/x's dataset card in the HF cache, as load_dataset left it (cfgA the default)."""
    import huggingface_hub.constants

    cache = tmp_path / "hub"
    repo = cache / "datasets--org--x"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    (repo / "snapshots" / ("0" * 40)).mkdir(parents=True)
    (repo / "snapshots" / ("0" * 40) / "README.md").write_text(CARD)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    return cache


@pytest.fixture
def planned_eval(tmp_path, monkeypatch):
    """The eval config distill run would run with (offline: the tests' HF_HUB_OFFLINE)."""
    import distill.eval as eval_stage
    import distill.pipeline

    seen = []

    def fake_run(cfg):
        seen.append(cfg)
        Path(cfg.out).parent.mkdir(parents=True, exist_ok=True)
        Path(cfg.out).write_text(json.dumps({"student": {"pass@1": 1.0}}))

    monkeypatch.setattr(eval_stage, "run", fake_run)
    monkeypatch.setattr(eval_stage, "check_data", lambda cfg: None)

    def plan(gen: str, ev: str):
        distill.pipeline._default_config.cache_clear()
        shutil.rmtree(tmp_path / "run", ignore_errors=True)
        seen.clear()
        sections = {
            "run": {"dir": str(tmp_path / "run")},
            "generate": {"teacher": "openai", "model": "t", "base_url": URL, "data": gen,
                         "out": "{run_dir}/traces.jsonl", "template": "plain",
                         "prompt_field": "question"},
            "eval": {"model": "s", "backend": "openai", "base_url": URL, "data": ev,
                     "out": "{run_dir}/eval.json"},
        }  # fmt: skip
        path = tmp_path / "r.yaml"
        path.write_text(yaml.safe_dump(sections))
        pipeline_run(path, only=["eval"])
        return seen[0]

    return plan


def test_a_cached_hub_dataset_and_its_default_config_are_one_source_offline(
    hub_cache, planned_eval, monkeypatch
):
    """Offline (HF_HUB_OFFLINE, as on a cluster's compute nodes), datasets' lookup answered
    `default` (its cache) or nothing: org/x and org/x:cfgA were two sources, eval asked cfgA's
    problems without generate's template and prompt column (one source online). The card in
    the HF cache says cfgA, with no request."""
    import datasets

    def asked(name, **kw):
        raise AssertionError("datasets' lookup asks the Hub")

    monkeypatch.setattr(datasets, "get_dataset_default_config_name", asked)
    cfg = planned_eval("org/x", "org/x:cfgA")
    assert cfg.template == "plain" and cfg.prompt_field == "question"
    cfg = planned_eval("org/x:cfgB", "org/x")  # another config than the default: two
    assert cfg.template is None and cfg.prompt_field is None


# --------------------------------------------------------------------------- 3. teacher weights


def test_a_teachers_weights_hashed_whole_are_named_first_and_once(tmp_path, monkeypatch, capsys):
    """a12cded hashes a local kd/onpolicy teacher's weights whole at a run's first start: a
    70B teacher's 140 GB took minutes with nothing said (rank 0, before the student loads).
    Named once, with their size; the next start reads the cache and says nothing."""
    from types import SimpleNamespace

    import distill.train.fingerprint as fingerprint
    from tests.tiny import make_tiny_model

    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(fingerprint, "NOTE_BYTES", 1000, raising=False)  # (a tiny one)
    teacher = make_tiny_model(tmp_path / "teacher", "qwen2", seed=1)
    cfg = SimpleNamespace(method="kd", teacher_model=str(teacher), teacher_url=None,
                          teacher_weight=None, teacher_route_field=None)  # fmt: skip
    first = fingerprint.teacher_record(cfg)
    said = capsys.readouterr().out
    assert "hashing the teacher's weights" in said and "GB" in said and "once" in said
    assert fingerprint.teacher_record(cfg) == first
    assert "hashing" not in capsys.readouterr().out
