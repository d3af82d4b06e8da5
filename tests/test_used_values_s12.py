"""What a run records is what it used: train.yaml's precision is the one trained in (not `auto`),
and an instruct recipe's generate-only teacher keys are refused, not ignored without a word."""

import dataclasses

import pytest
import yaml

from distill.config import load_config
from distill.errors import DistillError
from distill.instruct.config import InstructConfig
from tests.test_train import cfg as train_cfg

# ------------------------------------------------------------ train: the precision used, saved


def test_train_yaml_holds_the_precision_trained_in_and_resume_with_auto_matches(
    tmp_path, tiny_qwen
):
    """precision: auto was written into train.yaml (and the card's table) as `auto`: the card of
    a bf16 run did not say bf16. On this CPU auto trains in fp32, and train.yaml says so; a
    --resume given auto again is the same run, one given another precision is not."""
    from distill.train import run, sft

    c = train_cfg(tmp_path, tiny_qwen, max_steps=1, save_steps=1, precision="auto")
    out = run(c)
    saved = yaml.safe_load((out / "train.yaml").read_text())
    assert saved["precision"] == "fp32"
    assert yaml.safe_load((out / "checkpoint-1" / "train.yaml").read_text())["precision"] == "fp32"
    again = train_cfg(tmp_path, tiny_qwen, max_steps=1, save_steps=1, resume=True)
    assert again.precision == "auto"
    assert sft.check_output_dir(again) == str(out / "checkpoint-1")
    with pytest.raises(DistillError, match=r"precision: 'fp32' -> 'bf16'"):
        sft.check_output_dir(dataclasses.replace(again, precision="bf16"))


def test_a_train_yaml_written_with_auto_still_resumes_as_auto_resolves_here(tmp_path):
    """A run saved before the precision was resolved (train.yaml: auto) resumes with auto, or
    with the precision auto is on this machine (fp32 on CPU)."""
    from distill.config import save_config
    from distill.train import TrainConfig, sft

    out = tmp_path / "o"
    ckpt = out / "checkpoint-2"
    ckpt.mkdir(parents=True)
    (ckpt / "trainer_state.json").write_text("{}")
    c = TrainConfig(data="kept.jsonl", model="S", output_dir=str(out), max_length=128)
    save_config(c, out / "train.yaml")
    assert yaml.safe_load((out / "train.yaml").read_text())["precision"] == "auto"
    for given in ("auto", "fp32"):
        resumed = dataclasses.replace(c, resume=True, precision=given)
        assert sft.check_output_dir(resumed) == str(ckpt)


# ----------------------------------------- instruct: generate's teacher keys it has no use for


@pytest.mark.parametrize(
    "line", ["logprobs: 20", "logprobs_shard: 64", "n_per_request: false"], ids=str
)
def test_an_instruct_recipe_setting_a_generate_only_teacher_key_is_refused(tmp_path, line):
    """instruct's command line hides --logprobs, --logprobs-shard and --n-per-request (it
    stores no log-probs and asks for one reply per request), but a recipe could set them and
    they were ignored without a word: a --logprobs 20 run wrote no log-probs."""
    r = tmp_path / "r.yaml"
    r.write_text(f"instruct:\n  teacher: hf\n  model: m\n  out: i.jsonl\n  {line}\n")
    key = line.split(":")[0]
    with pytest.raises(DistillError) as e:
        load_config(InstructConfig, "instruct", r, {})
    msg = str(e.value)
    assert "\n" not in msg and f"'{key}'" in msg and "instruct" in msg, msg
    # the defaults (or a key left at its default) are fine
    r.write_text("instruct:\n  teacher: hf\n  model: m\n  out: i.jsonl\n  logprobs: null\n")
    assert load_config(InstructConfig, "instruct", r, {}).logprobs is None


def test_distill_run_again_over_a_checkpoint_of_the_same_settings_is_not_another_run(
    tmp_path, tiny_qwen, monkeypatch
):
    """distill run checks a rerun's train section against its checkpoint's train.yaml before any
    stage runs: a recipe's precision auto against the fp32 the run saved is the same run."""
    from distill.config import save_config
    from distill.pipeline import run as run_recipe
    from distill.train import TrainConfig

    monkeypatch.chdir(tmp_path)
    (tmp_path / "kept.jsonl").write_text("")
    ckpt = tmp_path / "o" / "checkpoint-1"
    ckpt.mkdir(parents=True)
    (ckpt / "trainer_state.json").write_text("{}")
    keys = {"data": "kept.jsonl", "model": str(tiny_qwen), "output_dir": "o", "max_length": 128}
    save_config(TrainConfig(**keys, precision="fp32"), ckpt / "train.yaml")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"train": keys}))
    assert run_recipe(recipe, dry_run=True) is not None  # not refused as another run
    save_config(TrainConfig(**keys, lora_r=8, precision="fp32"), ckpt / "train.yaml")
    with pytest.raises(DistillError, match=r"lora_r: 8 -> 16"):
        run_recipe(recipe, dry_run=True)
