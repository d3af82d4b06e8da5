"""A run's record says what each part of it trained in: a run begun in bf16 (precision auto on a
GPU that has it) and resumed where auto is another precision goes on in that one, and its
train.yaml, each later checkpoint's and the model card keep bf16 for the steps it trained and
name the step from which the other was used (train.yaml had the last part's precision for the
whole run). A rerun on the machine of the last part is still the same run."""

import dataclasses
import shutil

import pytest
import yaml

from distill.errors import DistillError
from tests.test_train import cfg as train_cfg


def on_a_bf16_gpu(monkeypatch):
    """This machine as one where auto is bf16 (the steps still train in fp32 on this CPU: only
    what the run resolves and records is faked)."""
    import torch

    from distill.train import sft

    def fake(cfg):
        cfg.precision = "bf16" if cfg.precision == "auto" else cfg.precision
        return False, False, torch.float32

    monkeypatch.setattr(sft, "resolved_precision", lambda p: "bf16" if p == "auto" else p)
    monkeypatch.setattr(sft, "_precision", fake)


def killed_after(out, step):
    """The run as a kill after checkpoint-<step> left it: no later checkpoint, no model."""
    for ckpt in out.glob("checkpoint-*"):
        if int(ckpt.name.split("-")[1]) > step:
            shutil.rmtree(ckpt)
    for p in [*out.glob("model*.safetensors"), *out.glob("adapter_model.safetensors")]:
        p.unlink()


def saved(path):
    return yaml.safe_load(path.read_text())


def test_a_bf16_run_resumed_where_auto_is_fp32_records_each_part(
    tmp_path, tiny_qwen, capsys, monkeypatch
):
    from distill.publish import PublishConfig, build_card
    from distill.train import run, sft

    def cfg(**kw):
        return train_cfg(tmp_path, tiny_qwen, max_steps=3, save_steps=1, save_total_limit=5, **kw)

    with monkeypatch.context() as m:
        on_a_bf16_gpu(m)
        out = run(cfg())
    assert saved(out / "train.yaml")["precision"] == "bf16"
    assert "precision_from_step" not in saved(out / "train.yaml")  # one part: as before
    killed_after(out, 1)

    # here auto is fp32: steps 2 and 3 train in it, and the record says so
    capsys.readouterr()
    run(cfg(resume=True))
    said = capsys.readouterr().out
    assert "checkpoint-1 trained in bf16; auto is fp32 on this machine" in said
    for path in (out / "train.yaml", out / "checkpoint-3" / "train.yaml"):
        record = saved(path)
        assert record["precision"] == "bf16", path  # the steps before: not fp32
        assert record["precision_from_step"] == {2: "fp32"}, path
    assert saved(out / "checkpoint-1" / "train.yaml")["precision"] == "bf16"
    assert "precision_from_step" not in saved(out / "checkpoint-1" / "train.yaml")
    card = str(build_card(out, out, PublishConfig(dir=str(out), local_dir="x")))
    assert "| precision | bf16, fp32 from step 2 |" in card

    # killed again on this machine: the same run (auto, or fp32 given), its record as it was
    killed_after(out, 2)
    with pytest.raises(DistillError, match=r"precision: 'fp32' -> 'bf16'"):
        sft.check_output_dir(dataclasses.replace(cfg(resume=True), precision="bf16"))
    assert sft.check_output_dir(dataclasses.replace(cfg(resume=True), precision="fp32"))
    capsys.readouterr()
    run(cfg(resume=True))
    said = capsys.readouterr().out
    assert f"resuming from {out}/checkpoint-2" in said and "trained in" not in said
    assert saved(out / "train.yaml")["precision"] == "bf16"
    assert saved(out / "train.yaml")["precision_from_step"] == {2: "fp32"}
    capsys.readouterr()
    run(cfg(resume=True))
    assert "nothing to resume" in capsys.readouterr().out

    # back on the bf16 machine: the run last trained in fp32, and auto is bf16 there
    with monkeypatch.context() as m:
        on_a_bf16_gpu(m)
        capsys.readouterr()
        sft.check_output_dir(cfg(resume=True))
        assert "checkpoint-3 trained in fp32; auto is bf16" in capsys.readouterr().out


def test_a_train_yaml_from_before_the_parts_reads_as_one_part():
    from distill.train.config import trained_precisions

    assert trained_precisions({"precision": "bf16", "lora": True}) == [(1, "bf16")]
    assert trained_precisions({"precision": "auto"}) == [(1, "auto")]
    assert trained_precisions({}) == [(1, "auto")]
    record = yaml.safe_load(
        yaml.safe_dump({"precision": "bf16", "precision_from_step": {502: "bf16", 301: "fp16"}})
    )
    assert trained_precisions(record) == [(1, "bf16"), (301, "fp16"), (502, "bf16")]


def test_one_path_rule_for_run_outputs_and_generate_teacher_keys(tmp_path, monkeypatch):
    """distill run's outputs compare however spelled before they exist; generate's teacher keys
    only as an existing path (a model name is not a folder: `./gpt-4o` is not `gpt-4o`)."""
    from distill.config import load_config
    from distill.generate.config import GenerateConfig
    from distill.records import same_file

    monkeypatch.chdir(tmp_path)
    assert same_file("run/kept.jsonl", tmp_path / "run" / ".." / "run" / "kept.jsonl")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "data: builtin:arithmetic\nout: t.jsonl\n"
        "teachers:\n  - model: ./gpt-4o\n    temperature: 0.2\n  - model: ./gpt-4o\n"
    )
    with pytest.raises(DistillError, match=r"--model gpt-4o: .*every teachers entry"):
        load_config(GenerateConfig, "generate", recipe, {"model": "gpt-4o"})
    (tmp_path / "gpt-4o").mkdir()  # now a local folder, spelled two ways: the same teacher
    load_config(GenerateConfig, "generate", recipe, {"model": "gpt-4o"})
