"""Second read of c9b89e5 / d9669ff (distill run's settings taken from another section).

- eval of the recipe's student takes train's `format: alpaca`; an eval section that sets its own
  system_prompt then asked the Alpaca prompt after a system message, a config EvalConfig
  refuses: `--only eval` ran it so (eval.json: format alpaca with a system prompt), and a whole
  run (eval deferred until train wrote the student) stopped on it after generate and train were
  paid, blaming a --format the user never set. Refused in one line before the first stage.
- a run dir trained by a distill that did not take generate's template (or system prompt) for
  on-policy train: its rerun was refused with "rerun with the same settings" (they are the
  same) and, with max_length left to train (the default), only when train's turn came, naming
  --overwrite (no flag of distill run). Refused before the first stage now, naming where the
  new value comes from and how to go on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from distill.errors import DistillError


def eval_recipe(tmp_path: Path, ev_extra: dict) -> Path:
    """A run dir holding an alpaca-trained student and a recipe whose eval asks it (ev_extra:
    more eval keys); test_hunt_s14's alpaca-format test uses it too."""
    run = tmp_path / "run"
    (run / "student").mkdir(parents=True)
    (run / "student" / "adapter_config.json").write_text("{}")
    train = {
        "data": "{run_dir}/kept.jsonl",
        "model": "builtin:smollm2",
        "output_dir": "{run_dir}/student",
        "format": "alpaca",
    }
    ev = {
        "model": "{run_dir}/student",
        "backend": "openai",
        "base_url": "http://127.0.0.1:9/v1",
        "data": "builtin:arithmetic?n=2",
        "out": "{run_dir}/eval.json",
        **ev_extra,
    }
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"run": {"dir": str(run)}, "train": train, "eval": ev}))
    return recipe


def test_eval_system_prompt_with_the_students_alpaca_format_is_refused_before_any_stage(
    tmp_path, monkeypatch
):
    import distill.eval
    from distill.pipeline import run as pipeline_run

    given = []

    def fake_eval(cfg):
        given.append(cfg)
        Path(cfg.out).write_text(json.dumps({"student": {"pass@1": 0.5}}))
        return Path(cfg.out)

    monkeypatch.setattr(distill.eval, "run", fake_eval)
    recipe = eval_recipe(tmp_path, {"system_prompt": "Be brief."})
    for kw in ({"dry_run": True}, {}):
        with pytest.raises(DistillError, match=r"eval\.system_prompt .*Alpaca.*train\.format"):
            pipeline_run(recipe, only=["eval"], **kw)
    assert given == []
    # the user's way on: eval.format r1 asks the student through its chat template, after it
    pipeline_run(recipe, only=["eval"], sets=["eval.format=r1"])
    assert (given[-1].format, given[-1].system_prompt) == ("r1", "Be brief.")


def _onpolicy_run(tmp_path: Path, max_length: int | None) -> tuple[Path, dict, dict]:
    from distill.config import save_config
    from distill.train.config import TrainConfig

    generate = {
        "data": "builtin:arithmetic?n=2",
        "template": "plain",
        "teacher": "hf",
        "model": "builtin:smollm2",
        "out": "{run_dir}/traces.jsonl",
    }
    train = {
        "data": "builtin:arithmetic?n=2",  # generate's own prompt source
        "model": "builtin:smollm2",
        "output_dir": "{run_dir}/student",
        "method": "onpolicy",
        "teacher_model": "builtin:smollm2",
        **({"max_length": max_length} if max_length else {}),
    }
    run = tmp_path / "run"
    student = run / "student"
    ckpt = student / "checkpoint-1"
    ckpt.mkdir(parents=True)
    # the run as an earlier distill began it: train's own default template, max_length resolved
    began = TrainConfig(**{**train, "output_dir": str(student), "max_length": max_length or 2048})
    for where in (ckpt, student):
        save_config(began, where / "train.yaml")
    (ckpt / "trainer_state.json").write_text(json.dumps({"global_step": 1, "max_steps": 5}))
    return run, generate, train


@pytest.mark.parametrize("max_length", [64, None])
def test_rerun_of_a_run_begun_without_generates_template_says_where_it_comes_from(
    tmp_path, monkeypatch, max_length
):
    import distill.train
    from distill.pipeline import run as pipeline_run

    given = []
    monkeypatch.setattr(distill.train, "run", lambda cfg: given.append(cfg))
    run, generate, train = _onpolicy_run(tmp_path, max_length)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        yaml.safe_dump({"run": {"dir": str(run)}, "generate": generate, "train": train})
    )
    for kw in ({"dry_run": True}, {}):  # before any stage, --dry-run too
        with pytest.raises(DistillError) as e:
            pipeline_run(recipe, only=["train"], **kw)
        line = str(e.value)
        assert "\n" not in line and "template: None -> 'plain'" in line, line
        assert "generate's template" in line and "train.overwrite=true" in line, line
        assert "--overwrite" not in line and "rerun with the same settings" not in line, line
    assert given == []
    # the way on it names: train.template as the run began
    recipe.write_text(
        yaml.safe_dump(
            {"run": {"dir": str(run)}, "generate": generate, "train": {**train, "template": None}}
        )
    )
    pipeline_run(recipe, only=["train"])
    assert given[-1].template is None and given[-1].resume
