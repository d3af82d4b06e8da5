"""Final read (part A) of session 11's train.yaml URL redaction and --resume URL checks.

.venv/bin/python -m pytest tests/test_final_read_a_s11.py -q
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from distill.config import save_config
from distill.errors import DistillError
from distill.train import sft
from distill.train.config import TrainConfig


def _run_dir(tmp_path, **kw):
    """An output folder holding a finished checkpoint whose train.yaml is `cfg`'s."""
    cfg = TrainConfig(
        data="kept.jsonl", model="S", output_dir=str(tmp_path / "out"), max_length=512, **kw
    )
    ckpt = tmp_path / "out" / "checkpoint-2"
    ckpt.mkdir(parents=True)
    (ckpt / "trainer_state.json").write_text(json.dumps({"global_step": 2, "max_steps": 4}))
    save_config(cfg, ckpt / "train.yaml")
    return cfg, ckpt


def test_resume_without_rollout_url_names_the_key_that_changed(tmp_path):
    # --rollout-url does not change what is learned (a resume may switch to a colocated vLLM:
    # it resumes), yet a resume that left it out and changed another key was told only to pass
    # --rollout-url again; passing it, the user then learned of the key that really differs.
    cfg, ckpt = _run_dir(
        tmp_path,
        method="onpolicy",
        teacher_model="T",
        rollout="vllm",
        rollout_url="http://me:SECRET@h:8000/v1",
    )
    bare = dataclasses.replace(cfg, resume=True, rollout_url=None)
    assert sft.check_output_dir(bare) == str(ckpt)  # not run-defining: resumes as before
    with pytest.raises(DistillError) as e:
        sft.check_output_dir(dataclasses.replace(bare, learning_rate=cfg.learning_rate * 2))
    line = str(e.value)
    assert "learning_rate" in line and "belongs to a different run" in line
    assert "--rollout-url" not in line and "SECRET" not in line
