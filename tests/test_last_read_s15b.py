"""Last read of session 15's merged change (6551dac..): what the per-commit reviews could not see.

1. distill run: eval takes generate's max_tokens (254b9be) from generate's top-level key alone;
   a multi-teacher generate whose `teachers:` entries each set their own max_tokens (traces up to
   16384 tokens, the top-level default 4096 used by no teacher) had its student asked with 4096.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from distill.pipeline import run as pipeline_run


def _planned_eval(tmp_path: Path, monkeypatch, gen: dict, ev: dict):
    import distill.eval as eval_stage

    seen = []

    def fake_run(cfg):
        seen.append(cfg)
        Path(cfg.out).parent.mkdir(parents=True, exist_ok=True)
        Path(cfg.out).write_text(json.dumps({"student": {"pass@1": 1.0}}))
        return Path(cfg.out)

    monkeypatch.setattr(eval_stage, "run", fake_run)
    sections = {
        "run": {"dir": str(tmp_path / "run")},
        "generate": {"teacher": "openai", "base_url": "http://127.0.0.1:9/v1",
                     "data": "builtin:arithmetic?n=2", "out": "{run_dir}/traces.jsonl", **gen},
        "eval": {"model": "student", "backend": "openai", "base_url": "http://127.0.0.1:9/v1",
                 "data": "builtin:arithmetic?start=100&n=2", "out": "{run_dir}/eval.json", **ev},
    }  # fmt: skip
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(sections))
    pipeline_run(path, only=["eval"])
    return seen[0]


TWO_LONG = {
    "teachers": [{"model": "r1", "max_tokens": 16384}, {"model": "qwq", "max_tokens": 16384}]
}


def test_eval_takes_the_length_generates_teachers_sample_to(tmp_path, monkeypatch):
    assert _planned_eval(tmp_path, monkeypatch, TWO_LONG, {}).max_tokens == 16384


def test_an_eval_section_below_the_teachers_length_gets_the_note(tmp_path, monkeypatch, capsys):
    assert _planned_eval(tmp_path, monkeypatch, TWO_LONG, {"max_tokens": 4096}).max_tokens == 4096
    assert "note: eval.max_tokens 4096 is below generate.max_tokens (16384)" in (
        capsys.readouterr().out
    )


def test_one_teacher_still_gives_its_own(tmp_path, monkeypatch):
    gen = {"model": "r1", "max_tokens": 8192}
    assert _planned_eval(tmp_path, monkeypatch, gen, {}).max_tokens == 8192
