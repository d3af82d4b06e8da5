"""A review of one source of truth per setting: recipes, the CLI built from the configs,
precedence, `distill run` (its validation, resume) and its run folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from distill.config import load_config, read_recipe
from distill.errors import DistillError
from distill.pipeline import run as pipeline_run

TRAIN_EVAL = """
run:
  dir: {run_dir}
train:
  data: "{{run_dir}}/kept.jsonl"
  model: builtin:smollm2
  output_dir: "{{run_dir}}/student"
  max_length: 64
eval:
  model: "{{run_dir}}/student"
  baseline: builtin:smollm2
  data: builtin:arithmetic?start=1000&n=4
  out: "{{run_dir}}/eval.json"
"""


def _killed_train(run_dir: Path) -> None:
    """What a train killed before its first save leaves in --output-dir: its run files, no
    model (no config.json, no adapter)."""
    student = run_dir / "student"
    from distill.config import save_config
    from distill.train.config import TrainConfig

    student.mkdir(parents=True)
    # train saves its whole config before it trains (a recipe-sized train.yaml beside loss.jsonl
    # and no checkpoint is no train run's folder: guard_train refuses it)
    cfg = TrainConfig(data="d.jsonl", model="builtin:smollm2", output_dir=str(student))
    save_config(cfg, student / "train.yaml")
    (student / "loss.jsonl").write_text('{"step": 1, "loss": 2.0}\n')


def test_run_after_a_killed_train_is_not_refused_by_evals_model_check(tmp_path, monkeypatch):
    # `distill run` validates every section first; eval's --model is train's --output-dir, which
    # a killed train left without config.json: every rerun (make smoke, make r1-distill's
    # `--only generate,filter`) was refused ("--model ... is not a model folder"), so the run
    # could never resume.
    run_dir = tmp_path / "run"
    recipe = tmp_path / "r.yaml"
    recipe.write_text(TRAIN_EVAL.format(run_dir=run_dir))
    _killed_train(run_dir)
    assert pipeline_run(recipe, dry_run=True)["stages"] == ["train", "eval"]
    assert pipeline_run(recipe, only=["train"], dry_run=True)["stages"] == ["train"]
    # eval alone, with no train before it: the folder is checked as before
    with pytest.raises(DistillError, match=r"--model .*student is not a model folder"):
        pipeline_run(recipe, only=["eval"], dry_run=True)

    # A real run: train finishes the folder, then eval gets its config checked against it.
    import distill.eval
    import distill.train

    seen = []

    def fake_train(cfg):
        Path(cfg.output_dir, "adapter_config.json").write_text("{}")
        seen.append(("train", cfg.output_dir))

    def fake_eval(cfg):
        seen.append(("eval", cfg.model))
        Path(cfg.out).write_text(json.dumps({"student": {"pass@1": 0.5}}))

    monkeypatch.setattr(distill.train, "run", fake_train)
    monkeypatch.setattr(distill.eval, "run", fake_eval)
    res = pipeline_run(recipe)
    assert seen == [("train", f"{run_dir}/student"), ("eval", f"{run_dir}/student")]
    assert res["student_pass@1"] == 0.5

    # train ran and still left no model (a broken stand-in): eval refuses, in one line
    (run_dir / "student" / "adapter_config.json").unlink()
    # (the stand-in's eval.json has no manifest: eval would refuse to replace it, rightly)
    (run_dir / "eval.json").unlink()
    monkeypatch.setattr(distill.train, "run", lambda cfg: None)
    with pytest.raises(DistillError, match=r"\[eval\]: --model .*student is not a model folder"):
        pipeline_run(recipe)


def test_float_in_exponent_notation_is_a_float(tmp_path):
    # PyYAML (YAML 1.1) reads 6e-4 (no dot) as the string '6e-4': the recipe was refused
    # ("expected float, got '6e-4'"), and so was --set train.learning_rate=6e-4.
    r = tmp_path / "r.yaml"
    r.write_text(
        "train:\n  data: k.jsonl\n  model: builtin:smollm2\n  output_dir: o\n"
        "  learning_rate: 6e-4\n  weight_decay: 1E-2\n"
    )
    from distill.train.config import TrainConfig

    cfg = load_config(TrainConfig, "train", r, {})
    assert (cfg.learning_rate, cfg.weight_decay) == (6e-4, 1e-2)
    res = pipeline_run(r, sets=["train.learning_rate=2e-5"], dry_run=True)
    assert res["stages"] == ["train"]
    # an Optional float: select --min-score
    from distill.config import typed_keys
    from distill.select.config import SelectConfig

    assert typed_keys(SelectConfig, {"min_score": "7e0"}, "s.yaml") == {"min_score": 7.0}
    # what is not a number is still refused, by its key
    r.write_text("train:\n  data: k.jsonl\n  model: m\n  output_dir: o\n  learning_rate: fast\n")
    with pytest.raises(DistillError, match=r"key 'learning_rate': expected float, got 'fast'"):
        load_config(TrainConfig, "train", r, {})
    for word in ("nan", "inf", ".inf"):
        r.write_text(f"train:\n  data: k\n  model: m\n  output_dir: o\n  learning_rate: '{word}'\n")
        with pytest.raises(DistillError, match="expected float"):
            load_config(TrainConfig, "train", r, {})


def test_flat_recipe_may_use_a_key_named_like_a_stage(tmp_path):
    # filter's `select` key and publish's `eval` key made a flat recipe look sectioned: every
    # other key was refused ("unknown key 'input' (a sectioned recipe has only ...)"), so the
    # resolved config filter saves beside its outputs (kept.filter.yaml, which has `select`)
    # could not be given back as --recipe to reproduce the run.
    from distill.filter.config import FilterConfig
    from distill.publish import PublishConfig

    r = tmp_path / "f.yaml"
    r.write_text("input: t.jsonl\nout: k.jsonl\nselect: shortest\n")
    cfg = load_config(FilterConfig, "filter", r, {})
    assert (cfg.input, cfg.select) == ("t.jsonl", "shortest")
    saved = tmp_path / "kept.filter.yaml"
    from distill.config import save_config

    save_config(cfg, saved)
    assert load_config(FilterConfig, "filter", saved, {}) == cfg
    p = tmp_path / "p.yaml"
    p.write_text("dir: student\nlocal_dir: pub\neval: e.json\n")
    assert load_config(PublishConfig, "publish", p, {}).eval == "e.json"
    # a sectioned recipe is still read by sections
    s = tmp_path / "s.yaml"
    s.write_text(
        "filter:\n  input: t.jsonl\n  out: k.jsonl\n  select: first\nselect:\n  input: k\n"
    )
    assert read_recipe(s, "filter")["select"] == "first"
    assert read_recipe(s, "select") == {"input": "k"}


def test_set_of_an_unknown_key_names_the_set_not_the_recipe(tmp_path):
    # `--set train.learnin_rate=1e-4` was reported as "r.yaml [train]: unknown key
    # 'learnin_rate'": the user looked for a typo in a file that has none.
    r = tmp_path / "r.yaml"
    r.write_text("train:\n  data: k.jsonl\n  model: builtin:smollm2\n  output_dir: o\n")
    with pytest.raises(DistillError) as e:
        pipeline_run(r, sets=["train.learnin_rate=1e-4"], dry_run=True)
    msg = str(e.value)
    assert msg.startswith("--set train.learnin_rate=1e-4: unknown key 'learnin_rate'"), msg
    assert "did you mean 'learning_rate'" in msg
    with pytest.raises(DistillError, match=r"^--set eval.n=two: key 'n': expected int"):
        pipeline_run(r, sets=["eval.n=two"], dry_run=True)


def test_run_section_is_checked(tmp_path):
    # `run: {dri: runs/x}` was ignored: the whole run went to runs/<recipe name> instead;
    # `run: runs/x` was an AttributeError line.
    r = tmp_path / "r.yaml"
    body = "train:\n  data: '{run_dir}/k.jsonl'\n  model: builtin:smollm2\n  output_dir: o\n"
    r.write_text("run:\n  dri: runs/x\n" + body)
    with pytest.raises(
        DistillError, match=r"r\.yaml: unknown key 'dri' in run: .*did you mean 'dir'"
    ):
        pipeline_run(r, dry_run=True)
    with pytest.raises(DistillError, match=r"r\.yaml: unknown key 'dri' in run"):
        read_recipe(r, "train")
    r.write_text("run: runs/x\n" + body)
    with pytest.raises(DistillError, match=r"r\.yaml: run must be a mapping"):
        pipeline_run(r, dry_run=True)
    r.write_text("run:\n  dir: runs/x\n  name: n\n" + body)
    assert read_recipe(r, "train")["data"] == "runs/x/k.jsonl"
    assert yaml.safe_load(r.read_text())["run"]["name"] == "n"


def test_train_refuses_data_that_is_its_own_rollouts_record(tmp_path):
    # A fresh train removes --output-dir's rollouts.jsonl (the --rollout vllm record), after the
    # data is read: --data OUTPUT_DIR/rollouts.jsonl (an earlier on-policy run's samples) was
    # deleted, as loss.jsonl would have been had guard_train not listed that one.
    from distill.paths import guard_train
    from distill.train.config import TrainConfig

    out = tmp_path / "student"
    out.mkdir()
    (out / "rollouts.jsonl").write_text('{"prompt": "p", "completion": "c"}\n')
    cfg = TrainConfig(
        data=str(out / "rollouts.jsonl"), model="builtin:smollm2", output_dir=str(out)
    )
    with pytest.raises(DistillError, match=r"rollouts\.jsonl.* is the input --data"):
        guard_train(cfg)


def test_set_of_a_stage_output_that_the_next_stage_reads_is_not_half_done(tmp_path):
    # The recipe writes each path twice (train.output_dir and eval.model); `--set
    # train.output_dir={run_dir}/student-s1` (a second student beside the first) trained the
    # new one and then evaluated and published the old one: the numbers printed were the old
    # student's.
    run_dir = tmp_path / "run"
    recipe = tmp_path / "r.yaml"
    recipe.write_text(TRAIN_EVAL.format(run_dir=run_dir))
    with pytest.raises(
        DistillError,
        match=r"--set train\.output_dir=\{run_dir\}/student-s1: eval\.model still reads .*/run/student "
        r"\(the recipe's train\.output_dir\): --set eval\.model=\{run_dir\}/student-s1 too",
    ):
        pipeline_run(recipe, sets=["train.output_dir={run_dir}/student-s1"], dry_run=True)
    both = ["train.output_dir={run_dir}/s1", "eval.model={run_dir}/s1"]
    assert pipeline_run(recipe, sets=both, dry_run=True)["stages"] == ["train", "eval"]
    # the stage that reads may be pointed elsewhere alone (evaluate another model)
    res = pipeline_run(recipe, sets=["eval.model=builtin:smollm2"], dry_run=True)
    assert res["stages"] == ["train", "eval"]
    # --only train: no eval of this run reads it
    res = pipeline_run(recipe, sets=["train.output_dir={run_dir}/s1"], only=["train"], dry_run=True)
    assert res["stages"] == ["train"]


def test_set_value_with_the_run_dir_placeholder_is_a_path(tmp_path):
    # `--set train.output_dir={run_dir}/s1` is a YAML flow mapping followed by text: refused as
    # "not valid YAML"; `--set eval.model={run_dir}` became the mapping {'run_dir': None}.
    from distill.pipeline import parse_sets

    assert parse_sets(
        [
            "train.output_dir={run_dir}/s1",
            "eval.model={run_dir}",
            "filter.decontam=[{run_dir}/a, b]",
        ]
    ) == {
        "train": {"output_dir": "{run_dir}/s1"},
        "eval": {"model": "{run_dir}"},
        "filter": {"decontam": ["{run_dir}/a", "b"]},
    }
    run_dir = tmp_path / "run"
    recipe = tmp_path / "r.yaml"
    recipe.write_text(TRAIN_EVAL.format(run_dir=run_dir))
    res = pipeline_run(recipe, sets=["train.data={run_dir}/other.jsonl"], dry_run=True)
    assert res["stages"] == ["train", "eval"]
