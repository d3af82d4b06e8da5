"""Bug hunt s14: one source of truth per setting; nothing the user owns is destroyed.

- A recipe `train.yaml` kept in the folder it trains into (`distill train --recipe
  out/train.yaml --output-dir out`) was replaced by train's resolved config: the user's
  recipe, its comments and its layout, gone after the first run; `distill run --recipe
  runs/x/train.yaml` training into `{run_dir}` too. The recipe is an input: refused in one
  line before anything is written. The config train saved there itself, given back as
  --recipe, is train's own.
- distill run: on-policy train on generate's own prompt source rendered its prompts with its
  own default template (builtin:arithmetic's r1-math instruction) where generate sent another
  (`template: plain`): the student sampled other prompts than the teacher was asked. It takes
  generate's template now when its section names none, as it takes generate's system prompt.
- distill run: an eval section without `format` evaluated a `format: alpaca` student (and its
  baseline) through the chat template (eval's default r1), a prompt it never trained on. eval
  of the recipe's student takes train's format now when its section names none."""

from __future__ import annotations

from pathlib import Path

from tests import inproc
from tests.test_cli import one_line_error

RECIPE = "# my recipe: the student of exp1\ndata: {data}\nmodel: builtin:smollm2\nmax_steps: 1\n"


def kept(folder: Path) -> Path:
    from tests.test_train import kept_file

    return kept_file(folder, n=2)


def test_train_never_writes_its_config_over_the_recipe_it_reads(tmp_path):
    out = tmp_path / "exp1"
    out.mkdir()
    recipe = out / "train.yaml"
    recipe.write_text(RECIPE.format(data=kept(out)))
    before = sorted(p.name for p in out.iterdir())
    res = inproc.distill("train", "--recipe", recipe, "--output-dir", out)
    one_line_error(res, r"--recipe .*train\.yaml.*--output-dir")
    assert recipe.read_text() == RECIPE.format(data=out / "kept.jsonl")
    assert sorted(p.name for p in out.iterdir()) == before  # nothing written


def test_run_never_writes_trains_config_over_its_recipe(tmp_path):
    run = tmp_path / "exp1"
    run.mkdir()
    recipe = run / "train.yaml"  # a sectioned recipe kept in the run dir it trains into
    text = (
        f"run:\n  dir: {run}\ntrain:\n  data: {kept(run)}\n  model: builtin:smollm2\n"
        "  output_dir: '{run_dir}'\n  max_steps: 1\n"
    )
    recipe.write_text(text)
    for extra in ((), ("--dry-run",)):
        res = inproc.distill("run", "--recipe", recipe, *extra)
        one_line_error(res, r"--recipe .*train\.yaml.*--output-dir")
        assert recipe.read_text() == text
        assert not (run / "train_data.json").exists()


def test_the_config_train_saved_may_be_given_back_as_the_recipe(tmp_path):
    from distill.config import save_config
    from distill.paths import check_recipe
    from distill.train.config import TrainConfig

    out = tmp_path / "exp1"
    cfg = TrainConfig(data=str(kept(tmp_path)), model="builtin:smollm2", output_dir=str(out))
    saved = save_config(cfg, out / "train.yaml")
    check_recipe(saved, [("train", cfg)])  # train's own file: written again, nothing lost
    elsewhere = tmp_path / "r.yaml"
    elsewhere.write_text(RECIPE.format(data=cfg.data))
    check_recipe(elsewhere, [("train", cfg)])  # a recipe outside --output-dir


def test_onpolicy_train_on_generates_prompts_renders_them_with_generates_template(
    tmp_path, monkeypatch
):
    import yaml

    import distill.train
    from distill.pipeline import run as pipeline_run
    from distill.train.kd.data import prompt_chats

    given = []
    monkeypatch.setattr(distill.train, "run", lambda cfg: given.append(cfg))
    generate = {
        "data": "builtin:arithmetic?n=2",
        "template": "plain",  # the problem alone, not the set's r1-math instruction
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
        "max_length": 64,
    }
    recipe = tmp_path / "r.yaml"
    run = {"dir": str(tmp_path / "run")}
    recipe.write_text(yaml.safe_dump({"run": run, "generate": generate, "train": train}))
    pipeline_run(recipe, only=["train"])
    sent = [m[-1]["content"] for m, _ in prompt_chats(given[-1])]
    assert len(sent) == 2 and all("step by step" not in t for t in sent), sent
    # a section's own template is kept
    recipe.write_text(
        yaml.safe_dump(
            {"run": run, "generate": generate, "train": {**train, "template": "r1-math"}}
        )
    )
    pipeline_run(recipe, only=["train"])
    assert given[-1].template == "r1-math"


def test_eval_in_a_run_asks_an_alpaca_student_in_the_alpaca_prompt(tmp_path, monkeypatch):
    import json

    import distill.eval
    from distill.pipeline import run as pipeline_run

    given = []

    def fake_eval(cfg):
        given.append(cfg)
        Path(cfg.out).write_text(json.dumps({"student": {"pass@1": 0.5}}))
        return Path(cfg.out)

    monkeypatch.setattr(distill.eval, "run", fake_eval)
    from tests.test_hunt_s14b import eval_recipe

    recipe = eval_recipe(tmp_path, {})
    pipeline_run(recipe, only=["eval"])
    assert given[-1].format == "alpaca"
    # an eval section's own format is kept
    pipeline_run(recipe, only=["eval"], sets=["eval.format=r1", "eval.out={run_dir}/e2.json"])
    assert given[-1].format == "r1"
