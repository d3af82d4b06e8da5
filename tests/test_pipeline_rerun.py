"""`distill run` twice with the same run dir (make smoke after a crash in eval, or twice): the
train stage goes on with its own checkpoints instead of stopping on 'holds checkpoints of an
earlier run': a finished train is skipped (nothing retrained, each step logged once), a killed one
resumes; a changed train setting or train data rewritten since is refused in one line, nothing
deleted."""

import json
import os
import shutil

import pytest
import yaml

from distill.errors import DistillError
from tests.test_train import kept_file


def recipe(tmp_path, model, **train):
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({
        "run": {"dir": str(tmp_path / "run")},
        "train": {"data": str(kept_file(tmp_path)), "model": str(model),
                  "output_dir": "{run_dir}/student", "max_steps": 2, "save_steps": 1000,
                  "per_device_train_batch_size": 4, "logging_steps": 1, "seed": 0, **train},
    }))  # fmt: skip
    return path


def steps(student):
    return [json.loads(x)["step"] for x in (student / "loss.jsonl").read_text().splitlines()]


def test_a_rerun_of_a_finished_train_skips_it_and_a_change_is_refused(tmp_path, tiny_qwen, capsys):
    from distill.pipeline import run

    r = recipe(tmp_path, tiny_qwen)
    run(r)
    student = tmp_path / "run" / "student"
    first = (student / "adapter_model.safetensors").read_bytes()
    run(r)  # was: "holds checkpoints of an earlier run"
    assert "== train: done" in capsys.readouterr().out
    assert (student / "adapter_model.safetensors").read_bytes() == first
    assert steps(student) == [1, 2]  # (a resume of the last checkpoint logged a step 3 at lr 0)
    with pytest.raises(DistillError, match="belongs to a different run.*learning_rate"):
        run(r, sets=["train.learning_rate=1e-3"])
    data = tmp_path / "kept.jsonl"
    later = (student / "train.yaml").stat().st_mtime + 5
    os.utime(data, (later, later))  # a filter run again that wrote the same traces
    run(r)
    assert "== train: done" in capsys.readouterr().out
    data.write_text("\n".join(data.read_text().splitlines()[:-1]) + "\n")  # one trace fewer
    with pytest.raises(DistillError, match="changed after .* began training on it"):
        run(r)
    assert (student / "adapter_model.safetensors").read_bytes() == first


def test_a_rerun_after_a_kill_resumes_the_train(tmp_path, tiny_qwen, capsys):
    from distill.pipeline import run

    r = recipe(tmp_path, tiny_qwen, max_steps=4, save_steps=2)
    run(r)
    student = tmp_path / "run" / "student"
    # as a kill after step 3 leaves it: checkpoint-2, no final weights, the log up to step 3
    shutil.rmtree(student / "checkpoint-4")
    (student / "adapter_model.safetensors").unlink()
    rows = (student / "loss.jsonl").read_text().splitlines()
    (student / "loss.jsonl").write_text("\n".join(rows[:3]) + "\n")
    run(r)
    assert "== train (resuming" in capsys.readouterr().out
    assert steps(student) == [1, 2, 3, 4]
    assert (student / "adapter_model.safetensors").is_file()
