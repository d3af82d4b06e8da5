"""Commands built from config dataclasses: a field's flag, aliases, help and default, declared
once on the field, are what the command line takes and shows."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass

import pytest
import typer
from typer.testing import CliRunner

from distill.cli_build import stage_command
from distill.config import result_keys, setting


@dataclass
class ToyConfig:
    data: str = setting("", "Input file.", argument="data")
    n: int = setting(4, "Samples per prompt.")
    lora: bool = setting(True, "LoRA adapter or full weights.")
    resume: bool = setting(False, "Continue.", flags=("--resume",), result=False)
    batch: int = setting(8, "Batch size.", flags=("--batch-size", "--per-device-batch"))
    targets: list[str] = setting(factory=lambda: ["all-linear"], help="Modules.", csv=True)
    decontam: list[str] | None = setting(None, "Benchmarks; repeatable.")
    temperature: float | None = setting(None, "Sampling temperature.")
    secret: str = setting("x", "Recipe only.", cli=False)
    unused: int = setting(0, "A shared key this command hides.")


seen: list = []


def _run(cfg: ToyConfig, quiet: bool = False) -> None:
    seen.append((cfg, quiet))


@pytest.fixture
def app(monkeypatch):
    module = types.ModuleType("toy_cfg")
    module.ToyConfig = ToyConfig
    monkeypatch.setitem(sys.modules, "toy_cfg", module)
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        pass

    extra = {"quiet": (bool, typer.Option(False, "--quiet"))}
    stage_command(
        app, "toy", "toy_cfg:ToyConfig", "toy", _run, "A toy stage.", extra, hide=("unused",)
    )
    seen.clear()
    return app


def invoke(app, *args):
    res = CliRunner().invoke(app, ["toy", *args])
    assert res.exit_code == 0, res.output
    return seen[-1]


def test_options_are_the_fields_with_their_flags_aliases_and_types(app):
    cfg, quiet = invoke(
        app, "in.jsonl", "--n", "3", "--no-lora", "--resume", "--per-device-batch", "2",
        "--targets", "q_proj, v_proj", "--decontam", "a", "--decontam", "b",
        "--temperature", "0.5", "--quiet",
    )  # fmt: skip
    assert cfg == ToyConfig(
        data="in.jsonl", n=3, lora=False, resume=True, batch=2, targets=["q_proj", "v_proj"],
        decontam=["a", "b"], temperature=0.5,
    )  # fmt: skip
    assert quiet is True
    cfg, quiet = invoke(app, "in.jsonl", "--batch-size", "16")
    assert (cfg.batch, cfg.n, cfg.lora, cfg.targets, quiet) == (16, 4, True, ["all-linear"], False)


def test_only_typed_options_override_the_recipe(app, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("n: 7\nsecret: y\nunused: 5\n")  # a flat recipe: the stage's keys
    cfg, _ = invoke(app, "in.jsonl", "--recipe", str(recipe))
    assert (cfg.n, cfg.secret, cfg.unused) == (7, "y", 5)  # recipe > default
    cfg, _ = invoke(app, "in.jsonl", "--recipe", str(recipe), "--n", "2")
    assert cfg.n == 2  # CLI > recipe


def test_help_shows_each_fields_help_and_default_and_hides_recipe_only_keys(app):
    res = CliRunner().invoke(app, ["toy", "--help"], env={"COLUMNS": "200"})
    text = res.output
    assert "Samples per prompt. (default: 4)" in text
    assert "Modules. (default: all-linear)" in text
    assert "--per-device-batch" in text and "--no-lora" in text
    assert "--secret" not in text and "--unused" not in text


def test_result_keys_leave_out_what_never_changes_a_result():
    assert "resume" not in result_keys(ToyConfig) and "n" in result_keys(ToyConfig)


def test_help_shows_a_default_of_zero():
    # eval samples greedily by default; a 0 / 0.0 default was hidden (0 == False), so
    # `distill eval --help` no longer said so (the old help read "0 = greedy (default).")
    from distill.cli import app as distill_app

    res = CliRunner().invoke(distill_app, ["eval", "--help"], env={"COLUMNS": "300"})
    assert "Sampling temperature; 0 = greedy. (default: 0.0)" in res.output
    assert "Sampling seed. (default: 0)" in res.output


def test_a_switch_the_recipe_turns_on_is_turned_off_on_the_command_line(app, tmp_path):
    """A bool with one flag of its own (--resume, --merge, --overwrite, --qlora, --private ...):
    a recipe's `resume: true` could not be undone from the command line (CLI > recipe)."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text("resume: true\n")
    cfg, _ = invoke(app, "in.jsonl", "--recipe", str(recipe))
    assert cfg.resume is True
    cfg, _ = invoke(app, "in.jsonl", "--recipe", str(recipe), "--no-resume")
    assert cfg.resume is False


def test_a_comma_list_flag_given_twice_keeps_both(app):
    """--lora-target-modules, --checks, --criteria ... given more than once: every value, as a
    repeatable flag (before, the last alone: `--lora-target-modules q_proj
    --lora-target-modules v_proj` adapted v_proj only)."""
    cfg, _ = invoke(app, "in.jsonl", "--targets", "q_proj", "--targets", "v_proj, k_proj")
    assert cfg.targets == ["q_proj", "v_proj", "k_proj"]
    cfg, _ = invoke(app, "in.jsonl", "--targets", "q_proj,v_proj")  # one comma list, as before
    assert cfg.targets == ["q_proj", "v_proj"]


def test_distill_train_keeps_every_target_module(monkeypatch):
    import distill.train as train
    from distill.cli import app as distill_app

    got = []
    monkeypatch.setattr(train, "run", lambda cfg, **_: got.append(cfg))
    args = ["train", "--data", "kept.jsonl", "--model", "m", "--output-dir", "out"]
    args += ["--lora-target-modules", "q_proj", "--lora-target-modules", "v_proj"]
    res = CliRunner().invoke(distill_app, args)
    assert res.exit_code == 0, res.output
    assert got[-1].lora_target_modules == ["q_proj", "v_proj"]


def test_run_only_given_twice_runs_both_stages(monkeypatch, tmp_path):
    """`distill run --only eval --only publish` ran publish alone (the last --only won)."""
    import distill.pipeline as pipeline
    from distill.cli import app as distill_app

    got = []
    monkeypatch.setattr(pipeline, "run", lambda *a, **kw: got.append(kw["only"]))
    recipe = tmp_path / "r.yaml"
    recipe.write_text("eval: {}\n")
    args = ["run", "--recipe", str(recipe), "--only", "eval", "--only", "publish,train"]
    res = CliRunner().invoke(distill_app, args)
    assert res.exit_code == 0, res.output
    assert got == [["eval", "publish", "train"]]
    CliRunner().invoke(distill_app, ["run", "--recipe", str(recipe)])
    assert got[-1] is None  # not given: every section
