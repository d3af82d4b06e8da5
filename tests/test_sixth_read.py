"""Second read of 2dd8e6c, 9703dd0, 542f3b5, 5d045bb, df3df04, ea095b0: what they missed."""

from __future__ import annotations

from distill.teachers.openai import SAME_4XX
from tests.test_teachers_openai import generate, jobs, teacher


class Url:  # teacher() reads server.url only
    def __init__(self, url):
        self.url = url


def test_a_rate_limited_start_fails_its_prompts_and_does_not_stop_the_run(server):
    """429 is a 4xx, but the run's pace (or a burst), not the request: with --max-retries 0
    the first requests of a rate-limited start are each refused with the same 429 text. They
    fail their own prompts (retried by a later generate --resume); the run goes on."""
    server.faults.extend([{"status": 429, "retry_after": 0}] * (SAME_4XX + 2))
    got = generate(teacher(server, max_retries=0), jobs(SAME_4XX + 4))
    assert len(got.failures) == SAME_4XX + 2
    assert len(got.completions) == 2


def test_azure_openai_gets_max_completion_tokens(monkeypatch):
    """Azure OpenAI's reasoning models (o-series) refuse max_tokens just as OpenAI's do; its
    v1 API and every api-version from 2024-09-01 on take max_completion_tokens."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    for url in (
        "https://me.openai.azure.com/openai/v1",
        "https://me.openai.azure.com/openai/deployments/o3?api-version=2024-12-01-preview",
        "https://me.cognitiveservices.azure.com/openai/deployments/o3?api-version=2025-04-01-preview",
        "https://api.openai.com",
        "https://API.openai.com/v1/",
    ):
        body = teacher(Url(url), max_tokens=77).body([], [0])
        assert body.get("max_completion_tokens") == 77 and "max_tokens" not in body, url
    for url in (  # an api-version before max_completion_tokens existed; other servers
        "https://me.openai.azure.com/openai/deployments/gpt4?api-version=2024-02-01",
        "https://api.deepseek.com/v1",
        "https://openrouter.ai/api/v1",
        "http://localhost:8000/v1",
    ):
        body = teacher(Url(url), max_tokens=77).body([], [0])
        assert body.get("max_tokens") == 77 and "max_completion_tokens" not in body, url


def test_a_finished_full_train_saved_in_shards_is_skipped_on_a_rerun(tmp_path, tiny_qwen, capsys):
    """A full fine-tune of a large student saves its weights in shards (model-00001-of-0000N
    .safetensors + model.safetensors.index.json, no model.safetensors): a rerun of the finished
    run skips its train as it does one saved in a single file, rather than resuming it."""
    from distill.pipeline import run
    from tests.test_pipeline_rerun import recipe

    r = recipe(tmp_path, tiny_qwen, lora=False)
    run(r)
    student = tmp_path / "run" / "student"
    weights = student / "model.safetensors"
    weights.rename(student / "model-00001-of-00001.safetensors")
    (student / "model.safetensors.index.json").write_text('{"weight_map": {}}')
    capsys.readouterr()
    run(r)
    assert "== train: done" in capsys.readouterr().out
