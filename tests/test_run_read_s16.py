"""Second read of distill run's s16 changes (301c310, 7ee3689): what they missed.

1. eval's max_tokens taken from generate is capped at a served model's max_model_len as GET
   /models lists it. vLLM lists a LoRA adapter it serves (`--lora-modules student=DIR`, how a
   trained student is served: DESIGN.md) without max_model_len, naming its base as `parent`:
   the student was asked generate's length and answered every request with a 400.
"""

from __future__ import annotations

import json

import pytest
import yaml
from aiohttp import web

from distill.pipeline import run as pipeline_run
from tests.test_run_eval_context_s16 import ShortContextServer


class LoraServer(ShortContextServer):
    """vLLM serving base model `base` at --max-model-len 2048 with the trained adapter as
    `fake-r1` (--lora-modules fake-r1=DIR): vLLM's GET /v1/models lists the adapter without
    max_model_len, its base as `parent` (vllm/entrypoints/openai/serving_models.py)."""

    async def models(self, request: web.Request) -> web.Response:
        listed = [
            {"id": "base", "object": "model", "root": "/models/base", "parent": None,
             "max_model_len": self.context},
            {"id": self.model, "object": "model", "root": "/adapters/student", "parent": "base"},
        ]  # fmt: skip
        return web.json_response({"object": "list", "data": listed})


@pytest.fixture
def lora_server():
    s = LoraServer().start()
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
