"""Bug hunt s14: one source of truth per setting; nothing the user owns is destroyed.

- A recipe `train.yaml` kept in the folder it trains into (`distill train --recipe
  out/train.yaml --output-dir out`) was replaced by train's resolved config: the user's
  recipe, its comments and its layout, gone after the first run. The recipe is an input: refused in one line before anything
  is written. The config train saved there itself, given back as --recipe, is train's own."""

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
