"""A run's train.yaml holds the precision it trained in (65fdd73): a rerun given auto on another
machine (a GPU's bf16 run on a CPU, where auto is fp32 and bf16 cannot train) is the same run."""

import dataclasses
import shutil

import pytest
import yaml

from distill.errors import DistillError
from tests.test_train import cfg as train_cfg


def trained_on_a_gpu(out):
    """The run's train.yaml files as a bf16 GPU run wrote them."""
    for p in [out / "train.yaml", *out.glob("checkpoint-*/train.yaml")]:
        saved = yaml.safe_load(p.read_text())
        p.write_text(yaml.safe_dump({**saved, "precision": "bf16"}))


def test_a_bf16_run_reran_with_auto_on_a_cpu_is_done_or_resumed_not_another_run(
    tmp_path, tiny_qwen, capsys
):
    from distill.train import run, sft

    out = run(train_cfg(tmp_path, tiny_qwen, max_steps=2, save_steps=1))
    trained_on_a_gpu(out)
    again = train_cfg(tmp_path, tiny_qwen, max_steps=2, save_steps=1, resume=True)
    assert again.precision == "auto"
    capsys.readouterr()
    assert run(again) == out  # finished: nothing to train
    assert "nothing to resume" in capsys.readouterr().out
    # a precision given is compared: fp32 is not what the run trained in
    with pytest.raises(DistillError, match=r"precision: 'bf16' -> 'fp32'"):
        sft.check_output_dir(dataclasses.replace(again, precision="fp32"))
    # killed after checkpoint-1: resumed here in fp32, and said so
    shutil.rmtree(out / "checkpoint-2")
    (out / "model.safetensors").unlink(missing_ok=True)
    for p in out.glob("adapter_model.safetensors"):
        p.unlink()
    capsys.readouterr()
    run(train_cfg(tmp_path, tiny_qwen, max_steps=2, save_steps=1, resume=True))
    said = capsys.readouterr().out
    assert f"resuming from {out}/checkpoint-1" in said
    assert "checkpoint-1 trained in bf16; auto is fp32 on this machine" in said
