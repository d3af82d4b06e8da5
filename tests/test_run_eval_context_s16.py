"""distill run: eval takes generate's max_tokens (the length the student's traces run to) when its
section sets none; taken as it was, a served student of a shorter context (vLLM's
--max-model-len 2048 under generate's 4096) answered every request with a 400 and eval stopped,
and an hf student was asked past the positions it has (on CPU, for a long time). Now the length
taken is capped at what each model's context leaves after the set's longest prompt: a local
model's max_position_embeddings, a served one's max_model_len from GET /models. An eval section's
own max_tokens is the user's and is kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from aiohttp import web

from distill.pipeline import run as pipeline_run
from tests.fakeserver import FakeServer


class ShortContextServer(FakeServer):
    """vLLM serving a model at --max-model-len `context`: GET /v1/models lists it, and a
    request whose prompt and max_tokens do not fit is a 400 (prompt counted generously)."""

    context = 2048

    async def models(self, request: web.Request) -> web.Response:
        listed = [{"id": self.model, "object": "model", "max_model_len": self.context}]
        return web.json_response({"object": "list", "data": listed})

    async def fitted(self, request: web.Request) -> web.Response:
        body = await request.json()
        prompt = sum(len(m["content"]) for m in body["messages"]) // 2 + 16
        asked = int(body.get("max_tokens") or 0)
        if asked + prompt > self.context:
            self.log.append({"max_tokens": asked, "refused": True})
            message = (
                f"This model's maximum context length is {self.context} tokens. However, you "
                f"requested {asked + prompt} tokens ({prompt} in the messages, {asked} in the "
                "completion)."
            )
            return web.json_response({"error": {"message": message}}, status=400)
        return await self.chat(request)

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.fitted)
        app.router.add_get("/v1/models", self.models)
        return app


@pytest.fixture
def short_server():
    s = ShortContextServer().start()
    yield s
    s.stop()


def served_recipe(tmp_path: Path, url: str, ev: dict | None = None) -> Path:
    sections = {
        "run": {"dir": str(tmp_path / "run")},
        "generate": {"teacher": "openai", "model": "fake-r1", "base_url": url,
                     "data": "builtin:arithmetic?n=2", "out": "{run_dir}/traces.jsonl"},
        "eval": {"model": "fake-r1", "backend": "openai", "base_url": url,
                 "data": "builtin:arithmetic?start=100&n=2", "out": "{run_dir}/eval.json",
                 **(ev or {})},
    }  # fmt: skip
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(sections))
    return path


def test_a_served_student_of_a_shorter_context_is_asked_what_fits(tmp_path, short_server, capsys):
    result = pipeline_run(served_recipe(tmp_path, short_server.url), only=["eval"])
    asked = [e for e in short_server.log if "max_tokens" in e]
    assert asked and not any(e.get("refused") for e in asked)  # every request a 400 before
    assert all(e["max_tokens"] < 2048 for e in asked)
    assert result["student_pass@1"] == 1.0
    said = capsys.readouterr().out
    assert "generate's max_tokens 4096 is more than fake-r1's context of 2048 tokens" in said
    ran = json.loads((tmp_path / "run" / "eval.json").read_text())
    assert ran["max_tokens"] == asked[0]["max_tokens"]


def test_an_eval_sections_own_max_tokens_is_kept(tmp_path, short_server):
    """The user's own length: asked as set (the server's 400 is theirs to read)."""
    pipeline_run(served_recipe(tmp_path, short_server.url, {"max_tokens": 1000}), only=["eval"])
    assert {e["max_tokens"] for e in short_server.log} == {1000}


def test_a_served_student_whose_server_lists_no_context_is_asked_generates_length(tmp_path, server):
    pipeline_run(served_recipe(tmp_path, server.url), only=["eval"])
    assert {e["max_tokens"] for e in server.log} == {4096}


def test_an_hf_student_is_asked_no_more_than_its_positions_leave(
    tmp_path, tiny_qwen, monkeypatch, capsys
):
    """tiny_qwen has 512 positions: eval sampled up to generate's 4096 tokens past them (on
    CPU, for a long time). Planned as distill run plans it: the eval config it runs."""
    import distill.eval as eval_stage
    from distill.models import load_tokenizer
    from distill.teachers.hf import render_prompt

    seen = []

    def fake_run(cfg):
        seen.append(cfg)
        Path(cfg.out).parent.mkdir(parents=True, exist_ok=True)
        Path(cfg.out).write_text(json.dumps({"student": {"pass@1": 1.0}}))

    monkeypatch.setattr(eval_stage, "run", fake_run)
    path = served_recipe(tmp_path, "http://127.0.0.1:9/v1")
    sections = yaml.safe_load(path.read_text())
    sections["eval"] = {"model": str(tiny_qwen), "backend": "hf", "device": "cpu",
                        "data": "builtin:arithmetic?start=100&n=2",
                        "out": "{run_dir}/eval.json"}  # fmt: skip
    path.write_text(yaml.safe_dump(sections))
    pipeline_run(path, only=["eval"])
    (cfg,) = seen
    from distill.generate import source_messages

    tok = load_tokenizer(str(tiny_qwen))
    longest = max(len(tok(render_prompt(tok, m))["input_ids"]) for _, m in source_messages(cfg))
    assert 0 < cfg.max_tokens <= 512 - longest  # 4096 before
    said = capsys.readouterr().out
    assert "max_position_embeddings" in said and "eval.max_tokens" in said
    assert f"note: eval samples up to {cfg.max_tokens} tokens a problem on CPU" in said
