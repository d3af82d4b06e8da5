"""Last read of s16's fixes of fixes (464492a, d835d6e/bf6ac44, 7c05e65, b405d5e/d0fda30,
8b857c6, bc97306, ff65d89, cd222ed, 1f2a5e1, 8b9d522).

1. distill run's eval cap (464492a): a served student's prompts counted by its server's POST
   /tokenize were taken as exactly what eval sends (no margin), but under --format alpaca eval
   wraps each problem in the Alpaca prompt (eval.alpaca_template), which the count left out:
   the longest problem + the cap came past the context (each of its requests a 400).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from distill.pipeline import run as pipeline_run
from tests.test_followups_s16 import CONTEXT, VllmLike, long_prompts


@pytest.fixture
def planned(monkeypatch):
    """The eval configs distill run hands the eval stage (which runs nothing here)."""
    import distill.eval as eval_stage

    seen = []

    def fake_run(cfg):
        seen.append(cfg)
        Path(cfg.out).parent.mkdir(parents=True, exist_ok=True)
        Path(cfg.out).write_text(json.dumps({"student": {"pass@1": 1.0}}))

    monkeypatch.setattr(eval_stage, "run", fake_run)
    return seen


# ----------------------------------------------------------------- 1. eval's cap, --format alpaca


def test_an_alpaca_students_cap_leaves_room_for_the_alpaca_prompt_eval_sends(tmp_path, planned):
    from distill.data import load_rows
    from distill.eval import alpaca_template
    from distill.generate import source_messages

    server = VllmLike([{"id": "student", "object": "model", "max_model_len": CONTEXT}])
    try:
        data = long_prompts(tmp_path, [100, 600])
        sections = {
            "run": {"dir": str(tmp_path / "run")},
            "generate": {"teacher": "openai", "model": "teacher", "base_url": server.url,
                         "data": "builtin:arithmetic?n=2", "out": "{run_dir}/traces.jsonl"},
            "eval": {"model": "student", "backend": "openai", "base_url": server.url,
                     "data": str(data), "format": "alpaca", "out": "{run_dir}/eval.json"},
        }  # fmt: skip
        recipe = tmp_path / "r.yaml"
        recipe.write_text(yaml.safe_dump(sections))
        pipeline_run(recipe, only=["eval"])
        (cfg,) = planned
        assert server.asked and cfg.max_tokens < 4096  # counted by /tokenize, capped
        # what eval sends each problem: the Alpaca prompt around it, as eval._generate builds it
        first = next(iter(load_rows(cfg.data, cfg.split, cfg.prompt_field)))
        wrapped = alpaca_template(cfg.data, first, Path(cfg.out), cfg.template, cfg.prompt_field)
        longest = max(server.count(m) for _, m in source_messages(cfg, wrapped))
    finally:
        server.stop()
    assert longest + cfg.max_tokens <= CONTEXT  # every request fits the context


# ------------------------------------------------ 2. eval's cap, more problems than /tokenize asks


def test_a_problem_past_the_ones_tokenize_counted_still_fits(tmp_path, planned):
    """POST /tokenize is asked for the TOKENIZE_ASKS longest problems in bytes; the count was
    taken as the set's longest, but a shorter problem in bytes may hold more tokens (digits,
    one token a byte): capped at what the counted ones leave, its every request was a 400
    (vLLM refuses a prompt + max_tokens past max_model_len), on each rerun too."""
    from distill.generate import source_messages
    from distill.pipeline import TOKENIZE_ASKS

    prose = "the numbers and the answer is " * 50 + "What is 2 + 2?"  # ~1.5 KB, ~300 tokens
    digits = " ".join("7" for _ in range(690)) + " What is 2 + 2?"  # ~1.4 KB, ~700 tokens
    rows = [{"problem": prose + " " * k, "answer": "4"} for k in range(TOKENIZE_ASKS + 5)]
    rows.append({"problem": digits, "answer": "4"})
    data = tmp_path / "mixed.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    server = VllmLike([{"id": "student", "object": "model", "max_model_len": CONTEXT}])
    try:
        sections = {
            "run": {"dir": str(tmp_path / "run")},
            "generate": {"teacher": "openai", "model": "teacher", "base_url": server.url,
                         "data": "builtin:arithmetic?n=2", "out": "{run_dir}/traces.jsonl"},
            "eval": {"model": "student", "backend": "openai", "base_url": server.url,
                     "data": str(data), "out": "{run_dir}/eval.json"},
        }  # fmt: skip
        recipe = tmp_path / "r.yaml"
        recipe.write_text(yaml.safe_dump(sections))
        pipeline_run(recipe, only=["eval"])
        (cfg,) = planned
        longest = max(server.count(m) for _, m in source_messages(cfg))
    finally:
        server.stop()
    assert len(server.asked) <= TOKENIZE_ASKS  # a run's start asks no more than it did
    assert longest + cfg.max_tokens <= CONTEXT  # every request fits the context
