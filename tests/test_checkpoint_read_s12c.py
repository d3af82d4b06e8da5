"""A checkpoint whose trainer_state.json cannot be read now (a network file system's I/O error,
a file of another user's) is not one cut off mid-save: --resume does not delete it (d140cd8)."""

import errno
import json
from pathlib import Path

import pytest

from distill.errors import DistillError
from distill.train import last_complete_checkpoint


def test_an_unreadable_trainer_state_stops_resume_and_keeps_the_checkpoint(tmp_path, monkeypatch):
    for step in (2, 4):
        ckpt = tmp_path / f"checkpoint-{step}"
        ckpt.mkdir()
        (ckpt / "adapter_model.safetensors").write_bytes(b"x")
        state = {"global_step": step, "max_steps": 6}
        (ckpt / "trainer_state.json").write_text(json.dumps(state))
    unreadable = tmp_path / "checkpoint-4" / "trainer_state.json"
    read_text = Path.read_text

    def flaky(self, *a, **kw):
        if self == unreadable:
            raise OSError(errno.EIO, "Input/output error", str(self))
        return read_text(self, *a, **kw)

    monkeypatch.setattr(Path, "read_text", flaky)
    with pytest.raises(DistillError, match=r"checkpoint-4/trainer_state.json.*Input/output"):
        last_complete_checkpoint(tmp_path)
    assert (
        unreadable.is_file() and (tmp_path / "checkpoint-4" / "adapter_model.safetensors").exists()
    )
    monkeypatch.setattr(Path, "read_text", read_text)
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-4")
