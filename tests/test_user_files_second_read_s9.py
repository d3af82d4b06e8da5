"""Second read of test_user_files_s9.py's changes: guard_train's refusal of a model folder with no
checkpoint, the checkpoint rotation callback, eval's set-aside names.

OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q tests/test_user_files_second_read_s9.py
"""

from __future__ import annotations

import json

import pytest

from tests.test_train import cfg


class Killed(Exception):
    """A SIGKILL before the run's first checkpoint (in-process)."""


def test_a_run_killed_before_its_first_checkpoint_after_overwrite_resumes(
    tmp_path, tiny_qwen, monkeypatch, capsys
):
    """A finished student, trained again with --overwrite (new settings) and killed before its
    first save (save_steps 200, killed at step 50), then `--resume`: the old student's weights
    were still in the folder beside the new run's train.yaml, with no checkpoint, and guard_train
    refused the resume ('holds a model and no checkpoint of a run to resume') that starts the
    run afresh ("no checkpoint to resume; starting fresh"); select_smoke's rerun after a kill
    (resume on the same selection) stopped on it. --overwrite now removes the model it replaces
    when it starts over."""
    from transformers import Trainer

    from distill.train import run

    out = tmp_path / "out"
    run(cfg(tmp_path, tiny_qwen, max_steps=2))  # a finished student

    def kill(*a, **kw):  # noqa: ANN002, ANN003
        raise Killed

    with monkeypatch.context() as m:
        m.setattr(Trainer, "train", kill)
        with pytest.raises(Killed):
            run(cfg(tmp_path, tiny_qwen, max_steps=2, seed=1, overwrite=True))
    assert not any(out.glob("checkpoint-*"))
    # what is left is no model: not the old student under the new run's train.yaml
    assert not (out / "adapter_model.safetensors").exists()
    capsys.readouterr()
    run(cfg(tmp_path, tiny_qwen, max_steps=2, seed=1, resume=True))
    assert "no checkpoint to resume; starting fresh" in capsys.readouterr().out
    assert (out / "adapter_model.safetensors").is_file() and (out / "checkpoint-2").is_dir()


def test_overwrite_removes_only_the_output_dirs_own_shards(tmp_path):
    """--overwrite over a sharded model: its shards go with its index; a shard name in the
    index that points out of --output-dir ('../x') is left where it is."""
    from distill.train.sft import remove_model

    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "x.safetensors").write_bytes(b"mine")
    shards = {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}
    for s in shards.values():
        (out / s).write_bytes(b"w")
    weight_map = {**shards, "c": "../x.safetensors"}
    (out / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    (out / "config.json").write_text("{}")
    (out / "kept.jsonl").write_text("{}\n")  # the user's data beside the model
    remove_model(out)
    assert sorted(p.name for p in out.iterdir()) == ["kept.jsonl"]
    assert (tmp_path / "x.safetensors").read_bytes() == b"mine"


def test_overwrite_without_merge_leaves_no_merged_weights_of_the_run_it_replaced(
    tmp_path, tiny_qwen
):
    """A student trained with --merge, then trained again with --overwrite and no --merge: the
    old student's merged/ stayed beside the new adapter, and `publish --merged` (or an eval of
    OUT/merged) took the old weights for the new run's."""
    from distill.train import run

    out = tmp_path / "out"
    run(cfg(tmp_path, tiny_qwen, max_steps=1, merge=True))
    assert (out / "merged" / "config.json").is_file()
    run(cfg(tmp_path, tiny_qwen, max_steps=1, seed=1, overwrite=True))
    assert not (out / "merged").exists()
    assert (out / "adapter_model.safetensors").is_file()
